"""The home bridge on a real Mosquitto broker, loopback, 2 cores.

``mqtt_msgs_per_s``: device messages (300 homes' own connections, both platforms' JSON) queued at
the broker for the bridge's persistent session, then drained by the bridge: decoded, validated,
pseudonymised, written to Parquet, committed and acknowledged; messages per second of the drain.
``mqtt_lost_on_broker_restart``: homes publishing at 1,500 messages a second while the broker is
restarted mid-stream (SIGTERM, start again on the same port); messages that never reached the
store (goal 0).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from itertools import islice
from pathlib import Path

from spreadwatch.alerts import broker as broker_module
from spreadwatch.alerts.bridge import Bridge
from spreadwatch.alerts.fleet import Fleet, encode, read_provisioning, read_rows
from spreadwatch.ingest.platforms import decode
from spreadwatch.ingest.provision import provision
from spreadwatch.ingest.store import Store
from spreadwatch.ingest.stream import message_key
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

MESSAGES = int(os.environ.get("SPREADWATCH_BENCH_MQTT_MESSAGES", "60000"))
RESTART_MESSAGES = 6000
KEYRING = KeyRing(bytes(range(32)))


def _drain(bridge: Bridge, expected: int, timeout: float = 600.0) -> float:
    start = time.perf_counter()
    bridge.connect()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bridge.step()
        if bridge.stats.telemetry >= expected and not len(bridge.stream):
            break
    seconds = time.perf_counter() - start
    bridge.connection.disconnect()
    return seconds


def _session(config, store: Store) -> None:
    """Create the bridge's persistent session so the broker queues for it."""
    bridge = Bridge(config, store, KEYRING)
    bridge.connect()
    while not bridge.ready:
        bridge.step()
    bridge.connection.disconnect()


def run() -> dict[str, float]:
    os.environ.setdefault("SPREADWATCH_QUIET", "1")
    with tempfile.TemporaryDirectory(prefix="spreadwatch-bench-mqtt-") as tmp:
        root = Path(tmp)
        root.chmod(0o711)  # started by root, the broker runs unprivileged and must reach it
        generate(SynthConfig(subscribers=20_000, days=28, seed=3, messy_fraction=0.0), root / "s")
        raw = root / "s" / "raw"
        secrets = root / "bridge" / "secrets" / "households.csv"
        creds = provision([raw / "households.csv"], KEYRING, secrets)
        config = broker_module.init_broker(
            root / "bridge", [(c.username, c.password) for c in creds], broker_module.free_port()
        )
        logins = read_provisioning(secrets)
        files = sorted((raw / "device_telemetry").glob("*.csv"))
        homes = {k for k in islice(dict.fromkeys((r["platform"], r["household_id"])
                                                  for r in read_rows(files)), 300)}  # fmt: skip
        rows = [r for r in read_rows(files) if (r["platform"], r["household_id"]) in homes]
        backlog, stream = rows[:MESSAGES], rows[MESSAGES : MESSAGES + RESTART_MESSAGES]
        with broker_module.running(config) as broker, Store(root / "store") as store:
            _session(config, store)
            fleet = Fleet(config.host, config.port, logins, 300)
            fleet.publish(backlog)
            drained = _drain(Bridge(config, store, KEYRING), len(backlog))
            lost = _lost_on_restart(config, broker, store, fleet, stream)
            fleet.close()
    return {
        "mqtt_msgs_per_s": round(len(backlog) / drained),
        "mqtt_bench_messages": len(backlog),
        "mqtt_lost_on_broker_restart": lost,
    }


def _lost_on_restart(config, broker, store: Store, fleet: Fleet, rows: list[dict]) -> int:
    keys = {message_key(decode(encode(r))) for r in rows}
    bridge = Bridge(config, store, KEYRING, batch_messages=500, flush_seconds=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop.is_set,))
    thread.start()
    publisher = threading.Thread(target=fleet.publish, args=(rows,), kwargs={"rate": 1500.0})
    publisher.start()
    time.sleep(len(rows) / 1500.0 / 2)
    broker.restart()
    publisher.join(120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not keys <= bridge.stream.committed:
        time.sleep(0.1)
    stop.set()
    thread.join(30)
    return len(keys - bridge.stream.committed)
