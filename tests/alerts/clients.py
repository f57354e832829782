"""Small MQTT clients for the tests: connect, collect messages, wait for conditions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from tests.limits import TIMEOUT


class Collector:
    """A connected MQTT 5 client that keeps every message it receives."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 client_id: str = "", clean_start: bool = True) -> None:  # fmt: skip
        self.messages: list[mqtt.MQTTMessage] = []
        self.connack: mqtt.ReasonCode | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.suback: list = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(host, port, clean_start=clean_start)
        self.client.loop_start()
        self._connected.wait(5)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code
        self._connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.suback = reason_codes
        self._subscribed.set()

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str, qos: int = 1) -> list:
        self._subscribed.clear()
        self.client.subscribe(topic, qos)
        self._subscribed.wait(5)
        return self.suback

    def publish(self, topic: str, payload: bytes, qos: int = 1, properties=None):
        info = self.client.publish(topic, payload, qos=qos, properties=properties)
        info.wait_for_publish(5)
        return info

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
