"""The broker as configured by bridge init: no anonymous clients, households fenced in."""

from __future__ import annotations

import time

import pytest

from spreadwatch.alerts import topics
from tests.alerts.clients import Collector, wait_for
from tests.limits import TIMEOUT


def _two_homes(world):
    (a, b) = list(world.logins.values())[:2]
    return a, b


def test_unauthenticated_and_wrong_password_clients_are_refused(world, broker):
    anonymous = Collector(world.config.host, world.config.port, None, None)
    wrong = Collector(world.config.host, world.config.port, world.config.username, "nope")
    try:
        assert anonymous.connack is not None and anonymous.connack.is_failure
        assert wrong.connack is not None and wrong.connack.is_failure
    finally:
        anonymous.close()
        wrong.close()


def test_a_household_reaches_only_its_own_topics(world, broker):
    a, b = _two_homes(world)
    bridge = Collector(world.config.host, world.config.port, world.config.username,
                       world.config.password)  # fmt: skip
    home_a = Collector(world.config.host, world.config.port, a.username, a.password)
    try:
        assert bridge.accepted and home_a.accepted
        bridge.subscribe(topics.home("+", topics.TELEMETRY))
        home_a.publish(topics.home(a.username, topics.TELEMETRY), b"mine")
        home_a.publish(topics.home(b.username, topics.TELEMETRY), b"forged")  # silently dropped
        home_a.publish(topics.home(a.username, topics.ALERTS), b"fake alert")  # read-only
        wait_for(lambda: len(bridge.messages) >= 1, what="the household's own message")
        time.sleep(0.5)
        assert [m.payload for m in bridge.messages] == [b"mine"]
        # another household's alerts are never delivered (Mosquitto checks reads on delivery)
        home_b = Collector(world.config.host, world.config.port, b.username, b.password)
        home_a.subscribe(topics.home(b.username, topics.ALERTS))
        home_b.subscribe(topics.home(b.username, topics.ALERTS))
        bridge.publish(topics.home(b.username, topics.ALERTS), b"for b only")
        wait_for(lambda: len(home_b.messages) == 1, what="b's alert")
        time.sleep(0.5)
        assert home_a.messages == []
        home_b.close()
    finally:
        bridge.close()
        home_a.close()


def test_a_second_broker_on_the_same_port_is_refused_not_announced(world, broker):
    from spreadwatch.alerts.broker import Broker, BrokerError

    with pytest.raises(BrokerError, match="is in use: is another broker"):
        Broker(world.config).start()


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGKILL"])
def test_a_stopped_or_killed_bridge_broker_stops_mosquitto_too(world, signum):
    """The command stops its mosquitto on SIGTERM, and mosquitto follows a SIGKILL of its
    parent (the parent-death signal, set after root's switch to the broker's account): the
    port is free again, no orphan keeps it."""
    import signal
    import subprocess
    import sys
    import time

    from spreadwatch.alerts.broker import port_is_free

    command = [sys.executable, "-m", "spreadwatch", "bridge", "broker", str(world.folder)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while port_is_free(world.config.host, world.config.port):
            assert time.monotonic() < deadline and process.poll() is None, "broker never listened"
            time.sleep(0.1)
        process.send_signal(getattr(signal, signum))
        process.wait(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while not port_is_free(world.config.host, world.config.port):
            assert time.monotonic() < deadline, "mosquitto outlived bridge broker"
            time.sleep(0.1)
    finally:
        process.kill()


def test_an_oversized_message_is_refused_and_the_broker_serves_on(world, broker):
    from spreadwatch.alerts.broker import MAX_PACKET_BYTES

    a, _ = _two_homes(world)
    bridge = Collector(world.config.host, world.config.port, world.config.username,
                       world.config.password)  # fmt: skip
    home = Collector(world.config.host, world.config.port, a.username, a.password)
    try:
        bridge.subscribe(topics.home("+", topics.TELEMETRY))
        home.publish(topics.home(a.username, topics.TELEMETRY), b"x" * (MAX_PACKET_BYTES + 1))
        time.sleep(1.0)
        assert bridge.messages == []  # never delivered
        again = Collector(world.config.host, world.config.port, a.username, a.password)
        again.publish(topics.home(a.username, topics.TELEMETRY), b"small")
        wait_for(lambda: len(bridge.messages) == 1, what="a normal message after it")
        assert bridge.messages[0].payload == b"small"
        again.close()
    finally:
        bridge.close()
        home.close()


def test_the_broker_never_runs_as_root(world, broker):
    """Started by root, Mosquitto runs as an unprivileged account that owns only its files."""
    import os
    import pwd

    from spreadwatch.alerts.broker import broker_user

    status = open(f"/proc/{broker.process.pid}/status").read()  # noqa: SIM115
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[2])
    if os.geteuid() == 0:
        assert uid != 0 and pwd.getpwuid(uid).pw_name == broker_user()
        assert (world.folder / "secrets").stat().st_uid == 0  # the bridge's secrets stay root's
    else:
        assert uid == os.geteuid()


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
                    reason="only root's broker drops to another account")  # fmt: skip
def test_a_folder_the_broker_cannot_reach_is_refused_at_init(tmp_path):
    from spreadwatch.alerts.broker import BrokerError, init_broker

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(BrokerError, match=r"runs as user \w+ \(never as root\), who cannot reach"):
        init_broker(private / "bridge", [], port=1884)
