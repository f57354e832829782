"""Fixtures: one small demo workspace (built once, shared by the test workers), private
copies of its writable parts per test, an in-process client and a real uvicorn server."""

from __future__ import annotations

import fcntl
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from spreadwatch.access import TokenRegistry
from spreadwatch.api.launch import launch, stop
from spreadwatch.demo import DemoSettings, run_demo

KEY = bytes(range(32))
#: Small enough to build in seconds; k = 3 so that some flows and signals are released.
SETTINGS = DemoSettings(
    seed=3,
    subscribers=10_000,
    days=21,
    measure_day=12,
    projection_days=14,
    forecast_days=7,
    k=3,
    particles=40,
    scenario_particles=20,
)
READ_ONLY = ("flows", "model", "forecast", "risk", "ingest", "synth", "air")


def _build(root: Path) -> Path:
    """The shared demo workspace under ``root`` (built by the first worker to get the lock)."""
    folder = root / "api-workspace"
    done = folder / ".built"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "api-workspace.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            os.environ.setdefault("SPREADWATCH_QUIET", "1")
            run_demo(folder, SETTINGS, KEY)
            from spreadwatch.tracing import build_index

            build_index(folder / "ingest")
            done.touch()
    return folder


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()  # this run's (a worker's own under xdist)
    return _build((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared")


@dataclass
class Site:
    """A workspace of its own (read-only parts linked to the shared one) with tokens."""

    root: Path
    access: Path
    tokens: dict[str, str]

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}


def make_site(built: Path, root: Path) -> Site:
    root.mkdir(parents=True, exist_ok=True)
    for name in READ_ONLY:
        (root / name).symlink_to(built / name, target_is_directory=True)
    access = root / "access"
    registry = TokenRegistry(access)
    tokens = {role: registry.grant(f"{role}-user", role) for role in ("public", "analyst")}
    tokens |= {role: registry.grant(f"{role}-user", role) for role in ("tracer", "admin")}
    return Site(root, access, tokens)


@pytest.fixture
def site(built, tmp_path) -> Site:
    return make_site(built, tmp_path / "ws")


@pytest.fixture
def client(site):
    from fastapi.testclient import TestClient

    from spreadwatch.api import create_app

    with TestClient(create_app(site.root, site.access)) as test_client:
        yield test_client


@dataclass
class Server:
    url: str
    site: Site
    process: subprocess.Popen


def start_server(site: Site, *extra: str) -> Server:
    """``spreadwatch serve`` on a free loopback port, as a user would start it."""
    process, url = launch(site.root, "--access", str(site.access), *extra)
    return Server(url, site, process)


def stop_server(server: Server) -> None:
    stop(server.process)


@pytest.fixture
def server(site):
    running = start_server(site)
    yield running
    stop_server(running)
