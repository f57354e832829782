"""The folder the API serves: the outputs of the pipeline, in the demo's layout.

::

    WORKSPACE/flows/       od_flows, presence, importations, household_signals (k-anonymous)
    WORKSPACE/release/     od_flows, presence of `spreadwatch release` (differentially private)
    WORKSPACE/model/       run.toml (the baseline of scenario runs), rt.csv
    WORKSPACE/forecast/    forecasts.parquet (hubverse table)
    WORKSPACE/risk/        risk_levels.parquet, importation_risk.parquet
    WORKSPACE/ingest/      the ingest store: reported cases, and location events for tracing
    WORKSPACE/air/         field, exposure, daily, forecast of `spreadwatch air assess`
    WORKSPACE/bridge/      alert_log.jsonl of `spreadwatch bridge run`
    WORKSPACE/jobs/        scenario runs started through the API

Every table is optional: an endpoint whose table is missing answers 404 naming the file to
produce. Tables are read on first use and re-read when their file changes, so the server
shows a pipeline's new outputs without a restart.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from spreadwatch.forecast.hub import frame_of


class NotInWorkspace(LookupError):
    """A table the workspace does not hold (names the file and how to produce it)."""


@dataclass(frozen=True)
class Dataset:
    """One table of the workspace: where it lives, who may read it, what writes it."""

    name: str
    path: str
    permission: str
    produced_by: str


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("od_flows", "flows/od_flows.parquet", "read_public", "spreadwatch flows"),
        Dataset("presence", "flows/presence.parquet", "read_public", "spreadwatch flows"),
        Dataset("dp_od_flows", "release/od_flows.parquet", "read_public", "spreadwatch release"),
        Dataset("dp_presence", "release/presence.parquet", "read_public", "spreadwatch release"),
        Dataset("importations", "flows/importations.parquet", "read_analyst", "spreadwatch flows"),
        Dataset(
            "household_signals",
            "flows/household_signals.parquet",
            "read_analyst",
            "spreadwatch flows",
        ),
        Dataset("rt", "model/rt.csv", "read_public", "spreadwatch rt"),
        Dataset("forecasts", "forecast/forecasts.parquet", "read_public", "spreadwatch forecast"),
        Dataset("risk_levels", "risk/risk_levels.parquet", "read_public", "spreadwatch risk"),
        Dataset(
            "importation_risk",
            "risk/importation_risk.parquet",
            "read_analyst",
            "spreadwatch importation-risk",
        ),
        Dataset("cases", "ingest/cases", "read_public", "spreadwatch ingest cases"),
        Dataset("alerts", "bridge/alert_log.jsonl", "read_analyst", "spreadwatch bridge run"),
        *(
            Dataset(f"air_{name}", f"air/{name}.parquet", "read_public", "spreadwatch air assess")
            for name in ("field", "exposure", "daily", "forecast")
        ),
    )
}
#: The baseline run config of scenario runs.
RUN_CONFIG = "model/run.toml"
STORE = "ingest"
JOBS = "jobs"


def _stamp(path: Path) -> tuple[int, int] | None:
    """What changes when a file (or a store's manifest, or a folder's listing) changes."""
    if path.is_dir():
        manifest = path.parent / "manifest.sqlite"
        watched = [p for p in (manifest, manifest.with_name(manifest.name + "-wal")) if p.exists()]
        watched = watched or sorted(path.glob("*.parquet"))
        stats = [p.stat() for p in watched]
        return (sum(s.st_mtime_ns for s in stats), sum(s.st_size for s in stats)) if stats else None
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"region_code": str, "location": str})
    if path.suffix == ".jsonl":
        return pd.DataFrame(_json_lines(path))
    if path.is_dir():
        from spreadwatch.ingest import Store

        with Store(path.parent) as store:
            table = store.read(path.name)
        if table is None:
            raise NotInWorkspace(f"{path}: nothing ingested yet")
        return table.to_pandas()
    return frame_of(pq.read_table(path))


class CorruptTable(ValueError):
    """A workspace file that cannot be read as its table (names the file and line)."""


def _json_lines(path: Path) -> list[dict]:
    """The records of a JSON-lines file; a last line still being written is not one yet."""
    text = path.read_text()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # unfinished: its writer is appending
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise CorruptTable(f"{path.name}:{number}: not a JSON record") from None
    return rows


class Workspace:
    """The tables of one workspace folder, each read once per version of its file (with
    ``freeze``, a server process's choice, moved out of the garbage collector's walks)."""

    def __init__(self, root: Path, alerts: Path | None = None, freeze: bool = False) -> None:
        self.root = Path(root)
        self.freeze = freeze
        self._paths = {name: self.root / d.path for name, d in DATASETS.items()}
        if alerts is not None:
            self._paths["alerts"] = Path(alerts)
        self._locks_lock = threading.Lock()
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._cache: dict[tuple[str, str], tuple[object, Any]] = {}

    @property
    def run_config(self) -> Path:
        return self.root / RUN_CONFIG

    @property
    def store(self) -> Path:
        return self.root / STORE

    @property
    def jobs(self) -> Path:
        return self.root / JOBS

    def path(self, name: str) -> Path:
        return self._paths[name]

    def has(self, name: str) -> bool:
        return self.stamp(name) is not None

    def stamp(self, name: str) -> tuple[int, int] | None:
        """What changes when the table's file changes (``None``: no such file)."""
        return _stamp(self._paths[name])

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name`` as a data frame (``NotInWorkspace`` if missing)."""
        return self.derived(name, "", lambda frame: frame)

    def _lock_of(self, name: str, key: str) -> threading.RLock:
        with self._locks_lock:
            return self._locks.setdefault((name, key), threading.RLock())

    def derived(self, name: str, key: str, build: Callable[[pd.DataFrame], Any]) -> Any:
        """``build(table)``, memoised until the table's file changes (``key`` names the view)."""
        path = self._paths[name]
        stamp = _stamp(path)
        if stamp is None:
            shown = path.relative_to(self.root) if path.is_relative_to(self.root) else path
            raise NotInWorkspace(
                f"{name}: the workspace has no {shown} (written by `{DATASETS[name].produced_by}`)"
            )
        cached = self._cache.get((name, key))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with self._lock_of(name, key):  # one build of a view at a time; other views go on
            cached = self._cache.get((name, key))
            if cached is not None and cached[0] == stamp:
                return cached[1]
            frame = self.table(name) if key else _read(path)
            value = build(frame)
            self._cache[(name, key)] = (stamp, value)
            if self.freeze:
                # the tables hold millions of Python objects (strings) that live as long as
                # the server: keep the collector from walking them on every full collection
                gc.freeze()
            return value
