"""The bridge's lean MQTT 5 client: framing by hand, and against a real Mosquitto broker."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from spreadwatch.alerts import broker as broker_module
from spreadwatch.alerts import topics
from spreadwatch.alerts.wire import (
    Connection,
    Message,
    MqttError,
    PublishProperties,
    Refused,
    SubAck,
)
from tests.alerts.clients import Collector, wait_for


def _collect(connection: Connection, count: int, timeout: float = 10.0) -> list:
    items: list = []
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        items += connection.read(0.1)
        connection.flush()
    return items


def _publish_packet(topic: bytes, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH built by hand (empty properties), its remaining length as MQTT codes it."""
    body = len(topic).to_bytes(2, "big") + topic + packet_id.to_bytes(2, "big") + b"\x00" + payload
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (128 if length else 0))
        if not length:
            break
    return bytes([0x32]) + bytes(encoded) + body


def test_packets_split_anywhere_are_put_back_together():
    ours, broker_end = socket.socketpair()
    connection = Connection("local", 0, "test")
    connection._sock = ours
    sizes = [0, 5, 127, 128, 16_383, 16_384, 200_000]  # one to three bytes of length
    stream = b"".join(
        _publish_packet(b"sw/home/h/telemetry", bytes([n % 251]) * n, i + 1)
        for i, n in enumerate(sizes)
    )
    received: list[Message] = []
    cuts = [1, 2, 3, 40, 41, 200, 16_500, 33_000, 33_001, len(stream)]  # inside lengths too
    start = 0
    for cut in cuts:
        broker_end.sendall(stream[start:cut])
        start = cut
        received += connection.read(1.0)
    while len(received) < len(sizes):
        received += connection.read(1.0)
    assert [len(m.payload) for m in received] == sizes
    assert [m.packet_id for m in received] == list(range(1, len(sizes) + 1))
    assert all(m.payload == bytes([len(m.payload) % 251]) * len(m.payload) for m in received)
    assert {m.topic for m in received} == {"sw/home/h/telemetry"} and {m.qos for m in received} == {
        1
    }
    ours.close()
    broker_end.close()


def test_properties_round_trip():
    props = PublishProperties("application/json", "sw/reply", b"\x00\x01id")
    assert PublishProperties.decode(props.encode()) == props
    assert PublishProperties.decode(b"") == PublishProperties()


def _bridge_connection(world, client_id: str = "wire-test") -> Connection:
    config = world.config
    return Connection(config.host, config.port, client_id, config.username, config.password)


def test_publish_subscribe_ack_and_properties_on_a_real_broker(world, broker):
    home = next(iter(world.logins.values()))
    connection = _bridge_connection(world)
    assert connection.open(clean_start=True) is False
    sub = connection.subscribe([(topics.home("+", topics.VOICE_REQUEST), 1)])
    connection.flush()
    (suback,) = _collect(connection, 1)
    assert suback == SubAck(sub, (1,))
    speaker = Collector(world.config.host, world.config.port, home.username, home.password)
    try:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes

        request = mqtt.Properties(PacketTypes.PUBLISH)
        request.CorrelationData = b"question-7"
        request.ResponseTopic = topics.home(home.username, topics.VOICE_RESPONSE)
        speaker.publish(topics.home(home.username, topics.VOICE_REQUEST), b"hello", 1, request)
        (message,) = _collect(connection, 1)
        assert (message.topic, message.payload, message.qos) == (
            topics.home(home.username, topics.VOICE_REQUEST),
            b"hello",
            1,
        )
        got = message.properties()
        assert got.correlation_data == b"question-7"
        assert got.response_topic == topics.home(home.username, topics.VOICE_RESPONSE)
        connection.ack(message.packet_id)
        speaker.subscribe(topics.home(home.username, topics.VOICE_RESPONSE))
        connection.publish(
            topics.home(home.username, topics.VOICE_RESPONSE),
            b"answer",
            properties=PublishProperties(correlation_data=b"question-7"),
        )
        assert connection.unacked == 1
        connection.flush()
        wait_for(lambda: speaker.messages, what="the answer at the speaker")
        deadline = time.monotonic() + 10
        while connection.unacked and time.monotonic() < deadline:
            assert connection.read(0.1) == []  # the PUBACK is handled inside
        assert connection.unacked == 0
        (answer,) = speaker.messages
        assert answer.payload == b"answer" and answer.properties.CorrelationData == b"question-7"
    finally:
        speaker.close()
        connection.disconnect()


def test_a_persistent_session_keeps_what_arrived_while_away(world, broker):
    home = next(iter(world.logins.values()))
    telemetry = topics.home(home.username, topics.TELEMETRY)
    connection = _bridge_connection(world, "wire-session")
    connection.open(clean_start=True, session_expiry=600)
    connection.subscribe([(topics.home("+", topics.TELEMETRY), 1)])
    connection.flush()
    assert isinstance(_collect(connection, 1)[0], SubAck)
    connection.disconnect()
    device = Collector(world.config.host, world.config.port, home.username, home.password)
    try:
        for n in range(50):  # each waits for the broker's PUBACK: queued for the session
            assert device.publish(telemetry, f"reading {n}".encode()).is_published()
    finally:
        device.close()
    assert connection.open(clean_start=False, session_expiry=600) is True
    got = _collect(connection, 50)  # the first may arrive with the CONNACK itself
    assert [m.payload for m in got] == [f"reading {n}".encode() for n in range(50)]
    for m in got:
        connection.ack(m.packet_id)
    connection.disconnect()
    assert connection.open(clean_start=False, session_expiry=600) is True
    assert _collect(connection, 1, timeout=1.0) == []  # acknowledged: nothing comes again
    connection.disconnect()


def test_a_wrong_password_is_refused(world, broker):
    config = world.config
    connection = Connection(config.host, config.port, "intruder", config.username, "wrong")
    with pytest.raises(Refused) as refused:
        connection.open()
    assert refused.value.reason in (0x86, 0x87)  # bad user name or password / not authorized
    assert not connection.connected


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.skipif(
    shutil.which("mosquitto_passwd") is None,
    reason="mosquitto is not installed (make test installs it)",
)
def test_tls(tmp_path, broker_home):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = broker_module.free_port()
    config = broker_module.init_broker(broker_home / "b", [], port, tls_cert=cert, tls_key=key)
    with broker_module.running(config):
        connection = Connection(config.host, port, "tls-test", config.username, config.password,
                                tls_ca=config.tls_ca)  # fmt: skip
        connection.open(clean_start=True)
        connection.subscribe([(topics.status("#"), 1)])
        connection.publish(topics.status("11010"), b"level 2", retain=False)
        connection.flush()
        got = _collect(connection, 2)
        assert isinstance(got[0], SubAck)
        assert [m.payload for m in got[1:] if isinstance(m, Message)] == [b"level 2"]
        connection.disconnect()


def test_a_silent_broker_is_given_up_after_one_and_a_half_keepalives():
    """A half-open connection (the broker's host gone without a reset) must not hang the
    bridge: after a CONNACK the fake broker below says nothing, not even PINGRESP."""
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def broker() -> None:
        peer, _ = server.accept()
        peer.recv(1024)  # CONNECT
        peer.sendall(b"\x20\x03\x00\x00\x00")  # CONNACK: no session, success, no properties
        time.sleep(6)
        peer.close()

    thread = threading.Thread(target=broker, daemon=True)
    thread.start()
    connection = Connection("127.0.0.1", port, "half-open", keepalive=1)
    connection.open()
    started = time.monotonic()
    with pytest.raises(MqttError, match="no word from the broker"):
        while time.monotonic() - started < 5:
            connection.read(0.1)
            connection.flush()
    assert 1.4 < time.monotonic() - started < 3 and not connection.connected
    server.close()


def test_qos0_telemetry_is_stored_without_an_acknowledgement(world, broker, tmp_path):
    """A QoS 0 message has no packet id to acknowledge; a PUBACK for id 0 would make the
    broker drop the bridge's connection."""
    from itertools import islice

    from spreadwatch.alerts.bridge import Bridge
    from spreadwatch.alerts.fleet import encode, read_rows
    from spreadwatch.ingest import Store
    from tests.alerts.conftest import KEYRING

    row = next(islice(read_rows(world.telemetry_files), 1))
    home = world.logins[(row["platform"], row["household_id"])]
    with Store(tmp_path / "store") as store:
        bridge = Bridge(world.config, store, KEYRING, batch_messages=1, flush_seconds=0.0)
        bridge.connect()
        while not bridge.ready:
            bridge.step()
        device = Collector(world.config.host, world.config.port, home.username, home.password)
        try:
            device.publish(topics.home(home.username, topics.TELEMETRY), encode(row), qos=0)
            deadline = time.monotonic() + 10
            while not bridge.stream.totals.get("kept") and time.monotonic() < deadline:
                bridge.step()
            for _ in range(10):  # the batch's acknowledgements go out with these steps
                bridge.step()
        finally:
            device.close()
        assert bridge.stream.totals["kept"] == 1
        assert bridge.connection.connected and bridge.stats.connects == 1
        bridge.connection.disconnect()


def test_a_message_published_while_the_broker_is_down_is_sent_after_a_restart(
    world, broker, tmp_path
):
    """Published (an alert is then recorded as announced) but never acknowledged: the outbox
    keeps it, and the next bridge sends it (here a region's retained status)."""
    from spreadwatch.alerts.bridge import Bridge
    from spreadwatch.alerts.outbox import Outbox
    from spreadwatch.ingest import Store
    from tests.alerts.conftest import KEYRING

    status = topics.status("22010")
    broker.stop()
    with Store(tmp_path / "store") as store:
        outbox = Outbox(tmp_path / "outbox.sqlite")
        first = Bridge(world.config, store, KEYRING, outbox=outbox)
        first.publish(status, b'{"level": 3}', retain=True)
        first.step()  # the broker is down: nothing goes out
        assert len(outbox) == 1 and not first.connection.connected
        outbox.close()  # the bridge stops (or is killed) here
        broker.start()
        outbox = Outbox(tmp_path / "outbox.sqlite")
        second = Bridge(world.config, store, KEYRING, outbox=outbox)
        second.connect()
        deadline = time.monotonic() + 10
        while len(outbox) and time.monotonic() < deadline:
            second.step()
        assert len(outbox) == 0  # acknowledged by the broker
        second.connection.disconnect()
        outbox.close()
    home = next(iter(world.logins.values()))
    listener = Collector(world.config.host, world.config.port, home.username, home.password)
    try:
        listener.subscribe(status)
        wait_for(lambda: listener.messages, what="the status kept in the outbox")
        assert [m.payload for m in listener.messages] == [b'{"level": 3}']
    finally:
        listener.close()


def _publish_ids(data: bytes) -> list[int]:
    """Packet ids of the QoS 1 PUBLISH packets in ``data`` (a broker's view of the client)."""
    ids, i = [], 0
    while i < len(data):
        first, length, shift, i = data[i], 0, 0, i + 1
        while True:
            byte = data[i]
            i += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if first >> 4 == 3:
            size = int.from_bytes(data[i : i + 2], "big")
            ids.append(int.from_bytes(data[i + 2 + size : i + 4 + size], "big"))
        i += length
    return ids


def test_no_more_messages_in_flight_than_the_broker_takes():
    """A broker's Receive Maximum (here 2, in its CONNACK) caps the unacknowledged QoS 1
    messages a client may send; the rest wait for PUBACKs, oldest first."""
    server = socket.create_server(("127.0.0.1", 0))
    connection = Connection("127.0.0.1", server.getsockname()[1], "quota")
    import threading

    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]))
    thread.start()
    time.sleep(0.05)
    connack = bytes([0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x02])  # receive maximum 2

    def broker_side() -> None:
        thread.join(5)
        accepted[0].recv(1024)  # CONNECT
        accepted[0].sendall(connack)

    talker = threading.Thread(target=broker_side)
    talker.start()
    connection.open()
    talker.join(5)
    peer = accepted[0]
    assert connection.send_quota == 2
    ids = [connection.publish(f"sw/status/{n}", b"x") for n in range(5)]
    connection.flush()
    time.sleep(0.2)
    assert _publish_ids(peer.recv(65536)) == ids[:2]
    peer.sendall(b"\x40\x02" + ids[0].to_bytes(2, "big"))  # PUBACK of the first
    assert connection.read(1.0) == []
    connection.flush()
    time.sleep(0.2)
    assert _publish_ids(peer.recv(65536)) == [ids[2]]
    assert connection.unacked == 4 and connection.acknowledged == [ids[0]]
    connection.close()
    peer.close()
    server.close()
