"""The bridge against a real broker: exactly once through a SIGKILL and a broker restart."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from itertools import islice
from pathlib import Path

import pytest

from spreadwatch.alerts.fleet import Fleet, encode, read_rows
from spreadwatch.ingest import Store
from spreadwatch.ingest.platforms import decode
from spreadwatch.ingest.stream import message_key
from tests.alerts.clients import wait_for
from tests.alerts.conftest import KEY_HEX, KEYRING
from tests.alerts.truth import file_ingested, telemetry_table
from tests.limits import TIMEOUT


class BridgeProcess:
    """``spreadwatch bridge run`` in a child process (with more ``options``)."""

    def __init__(self, world, store: Path, *options: str) -> None:
        env = {**os.environ, "SPREADWATCH_PSEUDONYM_KEY": KEY_HEX, "PYTHONUNBUFFERED": "1",
               "SPREADWATCH_QUIET": "1", "COLUMNS": "200"}  # fmt: skip
        command = [sys.executable, "-m", "spreadwatch", "bridge", "run", str(world.folder),
                   "--store", str(store), "--batch-messages", "100",
                   "--flush-seconds", "0.1", *options]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for_line("bridge ready")

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for_line(self, text: str, timeout: float = TIMEOUT) -> None:
        try:
            while text not in self.lines.get(timeout=timeout):
                pass
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"bridge never said {text!r}: {''.join(self.output)}") from None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(TIMEOUT)
        return "".join(self.output)


def _committed(store_path: Path) -> set[str]:
    """The committed message keys (without the digest of the content committed under them)."""
    with Store(store_path) as store:
        return {key.partition("#")[0] for key in store.message_keys()}


def _publish_in_background(world, rows, rate: float) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def work() -> None:
        fleet = Fleet(world.config.host, world.config.port, world.logins, 300)
        try:
            result["report"] = fleet.publish(rows, rate=rate)
        finally:
            fleet.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread, result


@pytest.fixture
def store_copy(world, tmp_path) -> Path:
    shutil.copytree(world.store, tmp_path / "store")
    return tmp_path / "store"


def test_a_bridge_killed_mid_stream_resumes_without_loss_or_duplicates(
    world, broker, store_copy, tmp_path
):
    rows = list(islice(read_rows(world.telemetry_files), 2000))
    keys = {message_key(decode(encode(r))) for r in rows}
    bridge = BridgeProcess(world, store_copy)
    thread, result = _publish_in_background(world, rows, rate=800)
    wait_for(lambda: len(_committed(store_copy)) >= 300, what="some batches committed")
    bridge.kill()
    assert len(_committed(store_copy)) < len(keys)  # killed mid-stream indeed
    bridge = BridgeProcess(world, store_copy)
    thread.join(TIMEOUT)
    assert result["report"].acknowledged == len(rows)
    wait_for(lambda: _committed(store_copy) == keys, what="every message committed")
    bridge.stop()
    raw_ids = {r["device_id"] for r in rows} | {r["household_id"] for r in rows}
    for path in (p for p in store_copy.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert not any(i.encode() in data for i in raw_ids), f"a raw ID in {path}"
    with Store(store_copy) as store:
        assert telemetry_table(store).equals(file_ingested(rows, tmp_path / "by-file", KEYRING))
        (quality,) = [q for s, q in store.quality().items() if s == "telemetry"]
        assert quality["rows_in"] - quality["duplicates_removed"] == len(keys)


def test_a_broker_restart_mid_stream_loses_no_message(world, broker, store_copy, tmp_path):
    rows = list(islice(read_rows(world.telemetry_files), 1500))
    keys = {message_key(decode(encode(r))) for r in rows}
    bridge = BridgeProcess(world, store_copy)
    thread, result = _publish_in_background(world, rows, rate=600)
    wait_for(lambda: len(_committed(store_copy)) >= 200, what="some batches committed")
    broker.restart()
    thread.join(90)
    assert result["report"].acknowledged == len(rows)
    wait_for(lambda: _committed(store_copy) == keys, what="every message committed")
    bridge.stop()
    with Store(store_copy) as store:
        assert telemetry_table(store).equals(file_ingested(rows, tmp_path / "by-file", KEYRING))
