"""Fixtures: a small synthetic world, its store, and a real Mosquitto broker on a free port."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from spreadwatch.alerts import broker as broker_module
from spreadwatch.alerts.fleet import read_provisioning
from spreadwatch.ingest import Store, ingest
from spreadwatch.ingest.provision import provision
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

KEY_HEX = bytes(range(32)).hex()
KEYRING = KeyRing(bytes(range(32)))


@dataclass
class World:
    raw: Path
    store: Path
    folder: Path
    config: broker_module.BrokerConfig
    logins: dict

    @property
    def telemetry_files(self) -> list[Path]:
        return sorted((self.raw / "device_telemetry").glob("*.csv"))


@contextmanager
def reachable_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder the broker's account can reach: started by root, Mosquitto runs
    unprivileged, and root's pytest folders are private (mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def broker_home() -> Iterator[Path]:
    with reachable_folder("spreadwatch-broker-") as folder:
        yield folder


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed (make test installs it)")
    root = tmp_path_factory.mktemp("bridge-world")
    os.environ.setdefault("SPREADWATCH_QUIET", "1")
    generate(SynthConfig(subscribers=3000, days=3, seed=11, messy_fraction=0.0), root / "synth")
    raw = root / "synth" / "raw"
    with Store(root / "store") as store:
        ingest("households", [raw / "households.csv"], store, KEYRING)
        ingest("household_members", [raw / "household_members.csv"], store, KEYRING)
        ingest("cases", [raw / "cases.csv"], store, KEYRING)
    with reachable_folder("spreadwatch-bridge-") as home:
        folder = home / "bridge"
        creds = provision([raw / "households.csv"], KEYRING, folder / "secrets" / "households.csv")
        config = broker_module.init_broker(
            folder, [(c.username, c.password) for c in creds], port=broker_module.free_port()
        )
        logins = read_provisioning(folder / "secrets" / "households.csv")
        yield World(raw, root / "store", folder, config, logins)


@pytest.fixture
def broker(world):
    """The world's broker, started fresh (persistence wiped) for one test."""
    shutil.rmtree(world.folder / "data", ignore_errors=True)
    (world.folder / "data").mkdir()
    running = broker_module.Broker(world.config)
    running.start()
    yield running
    running.stop()
