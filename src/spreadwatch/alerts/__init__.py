"""The home bridge over MQTT: a Mosquitto broker, device telemetry in, alerts and voice out."""
