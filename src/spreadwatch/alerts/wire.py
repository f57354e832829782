"""A lean MQTT 5 client for the bridge's one connection: the packets it needs, nothing more.

The bridge receives tens of thousands of QoS 1 messages a second. A general client builds a
message object and parses its properties for every packet; this one reads the socket in large
blocks, cuts complete packets out of the buffer with a few slices, keeps a publish's
properties as bytes until someone asks for them (voice requests do, telemetry never), and
writes acknowledgements in one ``send`` per step.

Supported: CONNECT (clean start, session expiry, receive maximum, user name and password, TLS),
SUBSCRIBE, PUBLISH in and out at QoS 0 and 1 (outgoing QoS 1 messages are kept until their
PUBACK and sent again after a reconnect; no more in flight than the broker's Receive Maximum),
PUBACK, PINGREQ/PINGRESP, DISCONNECT. Not supported,
because the bridge asks for none of them: QoS 2, topic aliases, authentication exchanges, wills.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
#: Property identifiers used here (MQTT 5.0, section 2.2.2.2).
CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA = 0x03, 0x08, 0x09
SESSION_EXPIRY, RECEIVE_MAXIMUM = 0x11, 0x21
_READ_BLOCK = 1 << 20
_PINGREQ = bytes([PINGREQ << 4, 0])


class MqttError(ConnectionError):
    """The connection failed or the broker broke the protocol; reconnect to go on."""


class Refused(MqttError):
    """The broker refused the connection or a subscription (``reason`` is its code)."""

    def __init__(self, what: str, reason: int) -> None:
        super().__init__(f"broker refused the {what}: reason code 0x{reason:02x}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A PUBLISH from the broker; ``packet_id`` is 0 at QoS 0."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    raw_properties: bytes = b""

    def properties(self) -> PublishProperties:
        return PublishProperties.decode(self.raw_properties)


@dataclass(frozen=True, slots=True)
class PublishProperties:
    """The publish properties of MQTT 5 request/response."""

    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None

    def encode(self) -> bytes:
        out = bytearray()
        if self.content_type is not None:
            out += bytes([CONTENT_TYPE]) + _string(self.content_type)
        if self.response_topic is not None:
            out += bytes([RESPONSE_TOPIC]) + _string(self.response_topic)
        if self.correlation_data is not None:
            out += bytes([CORRELATION_DATA]) + _binary(self.correlation_data)
        return bytes(out)

    @classmethod
    def decode(cls, raw: bytes) -> PublishProperties:
        found = _properties(raw, 0, len(raw), _PUBLISH_PROPERTY_SIZES, "publish")
        content, response = found.get(CONTENT_TYPE), found.get(RESPONSE_TOPIC)
        return cls(
            content_type=content.decode() if isinstance(content, bytes) else None,
            response_topic=response.decode() if isinstance(response, bytes) else None,
            correlation_data=found.get(CORRELATION_DATA),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    reason_codes: tuple[int, ...]


@dataclass
class Connection:
    """One MQTT 5 connection to ``host:port`` (TLS when ``tls_ca`` names a CA file)."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    keepalive: int = 30
    session_present: bool = False
    _sock: socket.socket | None = None
    _in: bytearray = field(default_factory=bytearray)
    _out: bytearray = field(default_factory=bytearray)
    _next_id: int = 0
    #: outgoing QoS 1 publishes not yet acknowledged: packet id -> packet (sent again on
    #: reconnect, with the DUP flag when the broker kept the session)
    _unacked: dict[int, bytearray] = field(default_factory=dict)
    #: of those, the ones sent on this connection (at most ``send_quota``)
    _in_flight: set[int] = field(default_factory=set)
    _waiting: deque[int] = field(default_factory=deque)
    #: QoS 1 messages the broker takes unacknowledged at a time (its Receive Maximum)
    send_quota: int = 65_535
    _last_sent: float = 0.0
    _last_received: float = 0.0
    #: packet ids of outgoing QoS 1 messages the broker acknowledged (the caller empties it)
    acknowledged: list[int] = field(default_factory=list)
    #: packets that arrived with the CONNACK, handed out by the first :meth:`read`
    _early: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # --- connection -----------------------------------------------------------------------------

    def open(
        self,
        clean_start: bool = False,
        session_expiry: int = 0,
        receive_maximum: int = 65_535,
        timeout: float = 10.0,
    ) -> bool:
        """Connect and wait for the CONNACK; returns whether the broker kept a session.
        Unacknowledged outgoing messages are sent again."""
        self.close()
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_ca is not None:
            context = ssl.create_default_context(cafile=str(self.tls_ca))
            raw = context.wrap_socket(raw, server_hostname=self.host)
        self._sock = raw
        self._last_received = time.monotonic()
        self._in.clear()
        self._out.clear()
        self._early = []
        props = bytearray()
        if session_expiry:
            props += bytes([SESSION_EXPIRY]) + session_expiry.to_bytes(4, "big")
        props += bytes([RECEIVE_MAXIMUM]) + receive_maximum.to_bytes(2, "big")
        flags = 0x02 if clean_start else 0x00
        payload = _string(self.client_id)
        if self.username is not None:
            flags |= 0x80
            payload += _string(self.username)
        if self.password is not None:
            flags |= 0x40
            payload += _binary(self.password.encode())
        variable = _string("MQTT") + bytes([5, flags]) + self.keepalive.to_bytes(2, "big")
        self._send_now(
            _packet(CONNECT << 4, variable + _varint_bytes(len(props)) + props + payload)
        )
        deadline = time.monotonic() + timeout
        while True:
            packets = self._packets(max(0.0, deadline - time.monotonic()))
            if packets:
                (kind, body), self._early = packets[0], packets[1:]  # redeliveries may follow
                if kind >> 4 != CONNACK:
                    self.close()
                    raise MqttError(f"expected CONNACK, got packet type {kind >> 4}")
                if body[1] >= 0x80:
                    self.close()
                    raise Refused("connection", body[1])
                self.session_present = bool(body[0] & 0x01)
                self.send_quota = _connack_properties(body).get(RECEIVE_MAXIMUM, 65_535)
                self._resend(self.session_present)
                return self.session_present
            if time.monotonic() >= deadline:
                self.close()
                raise MqttError(f"no CONNACK from {self.host}:{self.port} in {timeout:g} s")

    def close(self) -> None:
        """Drop the socket (no DISCONNECT: see :meth:`disconnect`)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def disconnect(self, timeout: float = 2.0) -> None:
        """Send what is buffered and a normal DISCONNECT, then wait (up to ``timeout`` s) for
        the broker to close its side: closing a socket with unread data resets it, and the
        broker could lose the acknowledgements just sent."""
        sock = self._sock
        if sock is not None:
            try:
                self._out += bytes([DISCONNECT << 4, 0])
                self.flush()
                sock.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    ready, _, _ = select.select([sock], [], [], deadline - time.monotonic())
                    if not ready or not sock.recv(_READ_BLOCK):
                        break
            except (MqttError, OSError):
                pass
        self.close()

    # --- out ------------------------------------------------------------------------------------

    def subscribe(self, filters: list[tuple[str, int]]) -> int:
        """Ask for ``(topic filter, qos)`` subscriptions; the SUBACK arrives from :meth:`read`."""
        packet_id = self._packet_id()
        body = packet_id.to_bytes(2, "big") + b"\x00"
        for topic, qos in filters:
            body += _string(topic) + bytes([qos])
        self._out += _packet(SUBSCRIBE << 4 | 0x02, body)
        return packet_id

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> int:
        """Queue a PUBLISH (sent at the next :meth:`flush`); returns its packet id (0 at QoS 0)."""
        if qos not in (0, 1):
            raise ValueError(f"qos must be 0 or 1, got {qos}")
        props = properties.encode() if properties is not None else b""
        packet_id = self._packet_id() if qos else 0
        body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
        packet = _packet(
            PUBLISH << 4 | qos << 1 | int(retain),
            body + _varint_bytes(len(props)) + props + payload,
        )
        if qos:
            self._unacked[packet_id] = packet
            if len(self._in_flight) >= self.send_quota:
                self._waiting.append(packet_id)  # sent when an earlier one is acknowledged
                return packet_id
            self._in_flight.add(packet_id)
        self._out += packet
        return packet_id

    def ack(self, packet_id: int) -> None:
        """Queue the PUBACK of a received QoS 1 message."""
        self._out += b"\x40\x02" + packet_id.to_bytes(2, "big")

    def flush(self) -> None:
        """Send everything queued (and a PINGREQ when the connection was idle too long). A
        broker silent for one and a half keep-alive intervals (no PINGRESP either) is gone:
        the connection is closed, so that a half-open one does not hang the caller."""
        if self._sock is None:
            raise MqttError("not connected")
        now = time.monotonic()
        if now - self._last_received > 1.5 * self.keepalive:
            self.close()
            raise MqttError(f"no word from the broker in {1.5 * self.keepalive:g} s")
        if not self._out and now - self._last_sent > self.keepalive / 2:
            self._out += _PINGREQ
        if self._out:
            data, self._out = self._out, bytearray()
            self._send_now(data)

    @property
    def unacked(self) -> int:
        """Outgoing QoS 1 messages the broker has not acknowledged yet."""
        return len(self._unacked)

    # --- in -------------------------------------------------------------------------------------

    def read(self, timeout: float) -> list[Message | SubAck]:
        """What arrived within ``timeout`` seconds (at least one block when data is waiting):
        messages and subscription results. PUBACKs and PINGRESPs are handled here."""
        out: list[Message | SubAck] = []
        packets, self._early = self._early + self._packets(0.0 if self._early else timeout), []
        for kind, body in packets:
            ptype = kind >> 4
            if ptype == PUBLISH:
                out.append(_publish(kind, body))
            elif ptype == PUBACK:
                packet_id = int.from_bytes(body[:2], "big")
                if self._unacked.pop(packet_id, None) is not None:
                    self.acknowledged.append(packet_id)
                    self._in_flight.discard(packet_id)
                    self._release()
            elif ptype == SUBACK:
                size, start = _varint(body, 2)  # the properties, then one code a filter
                codes = tuple(body[start + size :])
                out.append(SubAck(int.from_bytes(body[:2], "big"), codes))
            elif ptype == DISCONNECT:
                reason = body[0] if body else 0
                self.close()
                raise MqttError(f"the broker disconnected (reason code 0x{reason:02x})")
            elif ptype != PINGRESP:
                raise MqttError(f"unexpected packet type {ptype}")
        return out

    # --- internals ------------------------------------------------------------------------------

    def _packets(self, timeout: float) -> list[tuple[int, bytes]]:
        """Complete packets ``(first byte, body)`` from the socket within ``timeout``."""
        sock = self._sock
        if sock is None:
            raise MqttError("not connected")
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        if not pending:
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                return []
        try:
            data = sock.recv(_READ_BLOCK)
        except (ssl.SSLWantReadError, BlockingIOError):
            return []
        except OSError as exc:
            self.close()
            raise MqttError(f"connection lost: {exc}") from None
        if not data:
            self.close()
            raise MqttError("the broker closed the connection")
        self._last_received = time.monotonic()
        buf = self._in
        buf += data
        packets = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length, multiplier, i, complete = 0, 1, pos + 1, False
            while i < end and i < pos + 5:  # the remaining length: at most 4 bytes
                byte = buf[i]
                i += 1
                length += (byte & 0x7F) * multiplier
                if byte < 0x80:
                    complete = True
                    break
                multiplier <<= 7
            if not complete:
                if i >= pos + 5:
                    self.close()
                    raise MqttError("malformed packet length from the broker")
                break
            if i + length > end:
                break
            packets.append((buf[pos], bytes(buf[i : i + length])))
            pos = i + length
        del buf[:pos]
        return packets

    def _send_now(self, data: bytes | bytearray) -> None:
        if self._sock is None:
            raise MqttError("not connected")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise MqttError(f"connection lost: {exc}") from None
        self._last_sent = time.monotonic()

    def _packet_id(self) -> int:
        for _ in range(65_535):
            self._next_id = self._next_id % 65_535 + 1
            if self._next_id not in self._unacked:
                return self._next_id
        raise MqttError("65,535 messages in flight: no packet id left")

    def _release(self) -> None:
        """Queue waiting QoS 1 messages, oldest first, while the broker's quota allows."""
        while self._waiting and len(self._in_flight) < self.send_quota:
            packet_id = self._waiting.popleft()
            if packet_id in self._unacked and packet_id not in self._in_flight:
                self._in_flight.add(packet_id)
                self._out += self._unacked[packet_id]

    def _resend(self, session_present: bool) -> None:
        """After a CONNACK: every unacknowledged message again, within the broker's quota."""
        self._in_flight.clear()
        if session_present:
            for packet in self._unacked.values():
                packet[0] |= 0x08  # DUP: the broker may have it already
        self._waiting = deque(self._unacked)
        self._release()
        if self._out:
            self.flush()


#: Sizes of the properties each packet may carry (MQTT 5.0, 3.3.2.3 and 3.2.2.3): bytes; -1 a
#: string or binary (two-byte length), -2 a string pair, 0 a variable byte integer.
_PUBLISH_PROPERTY_SIZES = {
    0x01: 1,
    0x02: 4,
    0x03: -1,
    0x08: -1,
    0x09: -1,
    0x0B: 0,
    0x23: 2,
    0x26: -2,
}
_CONNACK_PROPERTY_SIZES = {
    0x11: 4, 0x21: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x12: -1, 0x22: 2, 0x1F: -1, 0x26: -2,
    0x28: 1, 0x29: 1, 0x2A: 1, 0x13: 2, 0x1A: -1, 0x1C: -1, 0x15: -1, 0x16: -1,
}  # fmt: skip


def _properties(
    data: bytes, i: int, end: int, sizes: dict[int, int], packet: str
) -> dict[int, int | bytes]:
    """The properties in ``data[i:end]`` of a packet that may carry those of ``sizes``: integers
    as ints, strings and binaries as bytes (a user property, a string pair, is skipped)."""
    found: dict[int, int | bytes] = {}
    while i < end:
        ident = data[i]
        width = sizes.get(ident)
        if width is None:
            raise MqttError(f"unexpected {packet} property 0x{ident:02x}")
        i += 1
        if width > 0:
            found[ident] = int.from_bytes(data[i : i + width], "big")
            i += width
        elif width == 0:
            found[ident], i = _varint(data, i)
        elif width == -1:
            size = int.from_bytes(data[i : i + 2], "big")
            found[ident] = bytes(data[i + 2 : i + 2 + size])
            i += 2 + size
        else:
            for _ in range(2):
                i += 2 + int.from_bytes(data[i : i + 2], "big")
    return found


def _connack_properties(body: bytes) -> dict[int, int | bytes]:
    """The properties of a CONNACK body."""
    if len(body) <= 2:
        return {}
    size, i = _varint(body, 2)
    return _properties(body, i, i + size, _CONNACK_PROPERTY_SIZES, "CONNACK")


def _publish(kind: int, body: bytes) -> Message:
    size = (body[0] << 8) | body[1]
    topic = body[2 : 2 + size].decode()
    i = 2 + size
    qos = (kind >> 1) & 0x03
    packet_id = 0
    if qos:
        packet_id = (body[i] << 8) | body[i + 1]
        i += 2
    length = body[i]
    if length < 0x80:
        i += 1
    else:
        length, i = _varint(body, i)
    return Message(topic, body[i + length :], qos, packet_id, body[i : i + length])


def _varint(data: bytes | bytearray, i: int) -> tuple[int, int]:
    """A variable byte integer at ``i``: ``(value, index after it)``."""
    value, multiplier = 0, 1
    while True:
        byte = data[i]
        i += 1
        value += (byte & 0x7F) * multiplier
        if byte < 0x80:
            return value, i
        multiplier <<= 7


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _packet(first: int, body: bytes) -> bytearray:
    return bytearray([first]) + _varint_bytes(len(body)) + body


def _string(text: str) -> bytes:
    return _binary(text.encode())


def _binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("an MQTT string or binary field holds at most 65,535 bytes")
    return len(data).to_bytes(2, "big") + data
