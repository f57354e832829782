"""The bridge: device telemetry from the broker into the store; alerts and voice answers out.

One MQTT 5 connection (:mod:`spreadwatch.alerts.wire`) with a persistent session (fixed
client id, clean start off) subscribes at QoS 1 to every household's telemetry and voice
requests. Telemetry is acknowledged to the broker only after its batch is committed to the
store (manual acknowledgements), so a bridge killed at any point loses nothing: the broker
redelivers what was not acknowledged, and the store's message keys turn redeliveries into
no-ops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from spreadwatch.alerts import topics
from spreadwatch.alerts.broker import BrokerConfig
from spreadwatch.alerts.outbox import Outbox
from spreadwatch.alerts.wire import Connection, Message, MqttError, PublishProperties, SubAck
from spreadwatch.ingest.store import Store
from spreadwatch.ingest.stream import BatchReport, TelemetryStream
from spreadwatch.privacy.pseudonym import KeyRing

log = logging.getLogger(__name__)
CLIENT_ID = "spreadwatch-bridge"
#: Session kept by the broker while the bridge is away (seconds): queued telemetry waits.
SESSION_EXPIRY_S = 7 * 86_400
#: Seconds between attempts to reach a broker that went away.
RETRY_S = 0.5

VoiceHandler = Callable[[str, bytes, PublishProperties], tuple[str, bytes] | None]
"""``(household, request payload, request properties) -> (response topic, payload)`` or None."""


@dataclass
class BridgeStats:
    """What the bridge did since it started."""

    telemetry: int = 0
    batches: int = 0
    voice_requests: int = 0
    other: int = 0
    connects: int = 0


def registry(store: Store) -> frozenset[str] | None:
    """The households with consent on record in ``store`` (its ``households``, where only
    consenting households are kept), or ``None`` when it holds no registry to check against."""
    households = store.read("households")
    if households is None:
        return None
    return frozenset(households["household_pseudo"].to_pylist())


class Bridge:
    """Telemetry in (batched, acknowledged after commit) and messages out over one connection
    (:mod:`spreadwatch.alerts.wire`)."""

    def __init__(
        self,
        config: BrokerConfig,
        store: Store,
        keyring: KeyRing,
        batch_messages: int = 5000,
        flush_seconds: float = 1.0,
        client_id: str = CLIENT_ID,
        voice: VoiceHandler | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.config = config
        #: QoS 1 messages out, kept on disk until acknowledged (see :mod:`.outbox`)
        self.outbox = outbox
        self._in_outbox: dict[int, int] = {}  # packet id -> outbox id
        self.stream: TelemetryStream[int] = TelemetryStream(
            store, keyring, source=f"mqtt:{config.host}:{config.port}", registry=registry(store)
        )
        self.batch_messages = batch_messages
        self.flush_seconds = flush_seconds
        self.voice = voice
        self.stats = BridgeStats()
        self._first_pending: float | None = None
        self.connection = Connection(
            config.host,
            config.port,
            client_id,
            username=config.username,
            password=config.password,
            tls_ca=config.tls_ca,
        )
        #: true once the broker confirmed the subscriptions of the current connection
        self.ready = False
        self._subscription: int | None = None
        self._retry_at = 0.0

    # --- connection -----------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the persistent session and subscribe (raises :class:`MqttError` on failure)."""
        self.ready = False
        session_present = self.connection.open(
            clean_start=False, session_expiry=SESSION_EXPIRY_S, receive_maximum=65_535
        )
        self.stats.connects += 1
        if not session_present and len(self.stream):
            # the broker lost our session: its packet ids of pending messages mean nothing now
            self.stream.forget_tokens()
        self._resend_outbox()
        self._subscription = self.connection.subscribe(
            [
                (topics.home("+", topics.TELEMETRY), 1),
                (topics.home("+", topics.VOICE_REQUEST), 1),
            ]
        )
        self.connection.flush()

    def _resend_outbox(self) -> None:
        """Publish what the outbox holds that this connection does not carry already (a bridge
        started again: its predecessor's unacknowledged messages)."""
        if self.outbox is None:
            return
        carried = set(self._in_outbox.values())
        for outbox_id, topic, payload, retain in self.outbox.pending():
            if outbox_id not in carried:
                packet_id = self.connection.publish(topic, payload, 1, retain)
                self._in_outbox[packet_id] = outbox_id

    def _settle_outbox(self) -> None:
        """Drop the acknowledged messages from the outbox."""
        acknowledged, self.connection.acknowledged = self.connection.acknowledged, []
        ids = [self._in_outbox.pop(p) for p in acknowledged if p in self._in_outbox]
        if self.outbox is not None:
            self.outbox.done(ids)

    def _on_suback(self, suback: SubAck) -> None:
        if suback.packet_id != self._subscription:
            return
        failed = [code for code in suback.reason_codes if code >= 0x80]
        if failed:
            log.error("broker refused the bridge's subscriptions: %s", failed)
        self.ready = not failed

    def _on_message(self, msg: Message) -> None:
        household = topics.household_of(msg.topic, topics.TELEMETRY)
        if household is not None:
            self.stats.telemetry += 1
            if self._first_pending is None:
                self._first_pending = time.monotonic()
            self.stream.add(household, msg.payload, msg.packet_id)  # 0 at QoS 0: no PUBACK
            return
        household = topics.household_of(msg.topic, topics.VOICE_REQUEST)
        if household is not None and self.voice is not None:
            self.stats.voice_requests += 1
            request = msg.properties()
            answer = self.voice(household, msg.payload, request)
            if answer is not None:
                reply = PublishProperties(
                    content_type="application/json", correlation_data=request.correlation_data
                )
                self.publish(*answer, properties=reply)
        else:
            self.stats.other += 1
        if msg.qos:
            self.connection.ack(msg.packet_id)

    # --- running --------------------------------------------------------------------------------

    def step(self, timeout: float = 0.05) -> None:
        """Handle network traffic for at most about ``timeout`` seconds, then flush when due;
        reconnects (with the same session) when the broker went away."""
        try:
            if not self.connection.connected:
                self._reconnect(timeout)
                return
            deadline = time.monotonic() + timeout
            wait = timeout
            while len(self.stream) < self.batch_messages:
                received = self.connection.read(wait)
                for item in received:
                    if isinstance(item, Message):
                        self._on_message(item)
                    else:
                        self._on_suback(item)
                if not received or time.monotonic() >= deadline:
                    break
                wait = 0.0
            self._settle_outbox()
            self.flush_if_due()
            self.connection.flush()
        except MqttError as exc:
            self.ready = False
            self.connection.close()
            log.warning("broker %s:%s: %s; reconnecting", self.config.host, self.config.port, exc)

    def _reconnect(self, pause: float) -> None:
        if time.monotonic() < self._retry_at:
            time.sleep(pause)
            return
        try:
            self.connect()
        except (OSError, MqttError) as exc:
            log.warning("broker %s:%s unreachable (%s); retrying", self.config.host,
                        self.config.port, exc)  # fmt: skip
            self.connection.close()
            self._retry_at = time.monotonic() + RETRY_S

    def flush_if_due(self) -> BatchReport | None:
        pending = len(self.stream)
        if not pending or self._first_pending is None:
            return None
        waited = time.monotonic() - self._first_pending
        if pending >= self.batch_messages or waited >= self.flush_seconds:
            return self.flush()
        return None

    def flush(self) -> BatchReport:
        """Commit the pending batch to the store, then acknowledge its messages (sent with the
        next step's output)."""
        report = self.stream.flush()
        self._first_pending = None
        if self.connection.connected:
            for packet_id in dict.fromkeys(report.tokens):
                if packet_id:  # QoS 0 messages (id 0) are not acknowledged
                    self.connection.ack(packet_id)
        self.stats.batches += 1
        return report

    def run(self, should_stop: Callable[[], bool] = lambda: False, tick: Callable | None = None):
        """Connect and serve until ``should_stop()``; ``tick()`` runs between steps (alerts)."""
        self._reconnect(0.0)
        try:
            while not should_stop():
                self.step()
                if tick is not None:
                    tick()
        finally:
            self.flush()
            self.drain_outgoing(1.0)
            self.connection.disconnect()

    def drain_outgoing(self, timeout: float) -> None:
        """Send what is queued and wait up to ``timeout`` s for the broker's acknowledgements."""
        deadline = time.monotonic() + timeout
        try:
            self.connection.flush()
            while self.connection.unacked and time.monotonic() < deadline:
                for item in self.connection.read(0.05):
                    if isinstance(item, Message) and item.qos:
                        continue  # not acknowledged: the broker sends it again next session
        except MqttError:
            pass
        self._settle_outbox()

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> int:
        """Queue a message for the broker (sent with the current step's output); QoS 1 messages
        are kept until acknowledged (in the outbox, when the bridge has one) and sent again after
        a reconnect or restart."""
        if qos and self.outbox is not None and properties is None:
            outbox_id = self.outbox.add(topic, payload, retain)
            packet_id = self.connection.publish(topic, payload, qos, retain)
            self._in_outbox[packet_id] = outbox_id
            return packet_id
        return self.connection.publish(topic, payload, qos, retain, properties)
