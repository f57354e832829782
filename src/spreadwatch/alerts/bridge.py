"""The bridge: device telemetry from the broker into the store; alerts and voice answers out.

One MQTT 5 connection with a persistent session (fixed client id, clean start off) subscribes at
QoS 1 to every household's telemetry and voice requests. Telemetry is acknowledged to the broker
only after its batch is committed to the store (manual acknowledgements), so a bridge killed at
any point loses nothing: the broker redelivers what was not acknowledged, and the store's
message keys turn redeliveries into no-ops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes

from spreadwatch.alerts import topics
from spreadwatch.alerts.broker import BrokerConfig
from spreadwatch.ingest.store import Store
from spreadwatch.ingest.stream import BatchReport, TelemetryStream
from spreadwatch.privacy.pseudonym import KeyRing

log = logging.getLogger(__name__)
CLIENT_ID = "spreadwatch-bridge"
#: Session kept by the broker while the bridge is away (seconds): queued telemetry waits.
SESSION_EXPIRY_S = 7 * 86_400

VoiceHandler = Callable[[str, bytes, Any], tuple[str, bytes] | None]
"""``(household, request payload, request properties) -> (response topic, payload)`` or None."""


@dataclass
class BridgeStats:
    """What the bridge did since it started."""

    telemetry: int = 0
    batches: int = 0
    voice_requests: int = 0
    other: int = 0
    connects: int = 0


class Bridge:
    """Telemetry in (batched, acknowledged after commit) and messages out over one connection."""

    def __init__(
        self,
        config: BrokerConfig,
        store: Store,
        keyring: KeyRing,
        batch_messages: int = 5000,
        flush_seconds: float = 1.0,
        client_id: str = CLIENT_ID,
        voice: VoiceHandler | None = None,
    ) -> None:
        self.config = config
        self.stream: TelemetryStream[int] = TelemetryStream(
            store, keyring, source=f"mqtt:{config.host}:{config.port}"
        )
        self.batch_messages = batch_messages
        self.flush_seconds = flush_seconds
        self.voice = voice
        self.stats = BridgeStats()
        self._first_pending: float | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.username_pw_set(config.username, config.password)
        if config.tls_ca is not None:
            self.client.tls_set(ca_certs=str(config.tls_ca))
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.05, 2.0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        #: true once the broker confirmed the subscriptions of the current connection
        self.ready = False
        self._retry_at = 0.0

    # --- connection -----------------------------------------------------------------------------

    def connect(self) -> None:
        props = mqtt.Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = 65_535
        self.client.connect(self.config.host, self.config.port, clean_start=False, properties=props)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the bridge: %s", reason_code)
            return
        self.stats.connects += 1
        if not flags.session_present and len(self.stream):
            # the broker lost our session: its packet ids of pending messages mean nothing now
            self.stream.forget_tokens()
        client.subscribe(
            [
                (topics.home("+", topics.TELEMETRY), mqtt.SubscribeOptions(qos=1)),
                (topics.home("+", topics.VOICE_REQUEST), mqtt.SubscribeOptions(qos=1)),
            ]
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            log.error("broker refused the bridge's subscriptions: %s", failed)
        self.ready = not failed

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        household = topics.household_of(msg.topic, topics.TELEMETRY)
        if household is not None:
            self.stats.telemetry += 1
            if self._first_pending is None:
                self._first_pending = time.monotonic()
            self.stream.add(household, msg.payload, msg.mid)
            return
        household = topics.household_of(msg.topic, topics.VOICE_REQUEST)
        if household is not None and self.voice is not None:
            self.stats.voice_requests += 1
            answer = self.voice(household, msg.payload, msg.properties)
            if answer is not None:
                self.publish(*answer, properties=_reply_properties(msg.properties))
        else:
            self.stats.other += 1
        client.ack(msg.mid, msg.qos)

    # --- running --------------------------------------------------------------------------------

    def step(self, timeout: float = 0.05) -> None:
        """Handle network traffic for at most about ``timeout`` seconds, then flush when due;
        reconnects (with the same session) when the broker went away."""
        if self.client.loop(timeout) != mqtt.MQTT_ERR_SUCCESS:
            self.ready = False
            self._reconnect(timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.stream) < self.batch_messages:
            if self.client.loop(0.0) != mqtt.MQTT_ERR_SUCCESS:
                break
        self.flush_if_due()

    def _reconnect(self, pause: float) -> None:
        if time.monotonic() < self._retry_at:
            time.sleep(pause)
            return
        try:
            self.client.reconnect()
        except OSError as exc:
            log.warning("broker %s:%s unreachable (%s); retrying", self.config.host,
                        self.config.port, exc)  # fmt: skip
            self._retry_at = time.monotonic() + 0.5

    def flush_if_due(self) -> BatchReport | None:
        pending = len(self.stream)
        if not pending or self._first_pending is None:
            return None
        waited = time.monotonic() - self._first_pending
        if pending >= self.batch_messages or waited >= self.flush_seconds:
            return self.flush()
        return None

    def flush(self) -> BatchReport:
        """Commit the pending batch to the store, then acknowledge its messages."""
        report = self.stream.flush()
        self._first_pending = None
        for mid in dict.fromkeys(report.tokens):
            self.client.ack(mid, 1)
        self.stats.batches += 1
        return report

    def run(self, should_stop: Callable[[], bool] = lambda: False, tick: Callable | None = None):
        """Connect and serve until ``should_stop()``; ``tick()`` runs between steps (alerts)."""
        self.connect()
        try:
            while not should_stop():
                self.step()
                if tick is not None:
                    tick()
        finally:
            self.flush()
            self.client.loop(0.1)
            self.client.disconnect()

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: mqtt.Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)


def _reply_properties(request: mqtt.Properties | None) -> mqtt.Properties:
    props = mqtt.Properties(PacketTypes.PUBLISH)
    data = getattr(request, "CorrelationData", None) if request is not None else None
    if data is not None:
        props.CorrelationData = data
    props.ContentType = "application/json"
    return props
