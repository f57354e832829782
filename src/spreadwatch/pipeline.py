"""Pipeline steps that read and write the on-disk contracts, used by the CLI and the demo."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spreadwatch import fusion
from spreadwatch.fusion import incremental, signals
from spreadwatch.ingest import Store, ingest
from spreadwatch.privacy.kanon import DEFAULT_K
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.progress import track


def ingest_sources(
    store_dir: Path, sources: Mapping[str, Sequence[Path | str]], keyring: KeyRing
) -> dict[str, dict]:
    """Ingest raw files into the store at ``store_dir`` (cells before location events) and write
    ``quality.json``: the row accounting per source over everything the store holds."""
    with Store(store_dir) as store:
        for name in sorted(sources, key=lambda n: n != "cells"):
            ingest(name, sources[name], store, keyring)
        quality = store.quality()
    (Path(store_dir) / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    return quality


def events_glob(store_dir: Path) -> str:
    """The location-event parts of a store, as a Parquet glob the engines read."""
    return str(Path(store_dir) / "location" / "*.parquet")


def events_source(path: Path | str) -> str:
    """Location events to read: a store folder, a folder of Parquet files, a file or a glob."""
    path = Path(path)
    if (path / "manifest.sqlite").exists():
        path = Path(events_glob(path))
    elif path.is_dir():
        path = path / "*.parquet"
    if not (path.exists() or (glob.has_magic(str(path)) and glob.glob(str(path)))):
        raise FileNotFoundError(f"{path}: no such file, or no Parquet file matches")
    return str(path)


FLOW_TABLES = ("od_flows", "presence", "commuting")
SIGNAL_TABLES = ("importations", "household_signals")


INCREMENTAL_TABLES = {
    "od_flows": ["date", "origin", "dest"],
    "presence": ["date", "hour", "region_code"],
}
STATE_FILE = "flows-state.json"


def build_flows(
    events_parquet: Path | str,
    out_dir: Path,
    k: int = DEFAULT_K,
    engine: fusion.Engine = "duckdb",
    spark_remote: str | None = None,
) -> dict[str, Path]:
    """Write ``od_flows``, ``presence`` and ``commuting`` Parquet files from location events,
    and, when ``events_parquet`` is an ingest store holding them, ``importations`` (from roaming)
    and ``household_signals`` (from telemetry and the households registry).

    From a store, outputs are updated incrementally: when ``out_dir`` already holds the flows of
    an earlier state of the same store (same ``k``), ``od_flows`` and ``presence`` are recomputed
    only from the first date of the newly ingested location files on (see
    :mod:`spreadwatch.fusion.incremental`); the other tables are recomputed whole.

    ``engine`` runs the fusion on DuckDB (default) or Spark: local mode, or the Spark Connect
    server ``spark_remote`` (``sc://host:port``), which must be able to read ``events_parquet``
    (a URI such as ``s3a://...`` is passed to it unchecked). Every engine writes the same single
    Parquet file per table, with the schemas of ``fusion.SCHEMAS``.

    Returns the written path of each table by name.
    """
    is_uri = fusion.engines.is_uri(str(events_parquet))
    source = str(events_parquet) if is_uri else events_source(events_parquet)
    store = None if is_uri else _store_of(Path(events_parquet))
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _FlowsPlan.for_store(store, out_dir, k) if store is not None else None
    paths: dict[str, Path] = {}
    with fusion.connected(engine, spark_remote) as con:
        events = fusion.read_events(con, source)

        def table(name: str) -> ir.Table:
            return con.read_parquet(str(store / name / "*.parquet"))  # type: ignore[operator]

        recent = events
        if plan is not None and plan.start is not None:
            recent = incremental.events_since(events, incremental.cutoff_for(plan.start))
        builders: dict[str, Callable[[], ir.Table]] = {
            "od_flows": lambda: fusion.od_flows(recent, k=k),
            "presence": lambda: fusion.presence(recent, k=k),
            "commuting": lambda: fusion.commuting(events, k=k),
        }
        if plan is not None and plan.unchanged:
            del builders["od_flows"], builders["presence"]
            paths |= {name: out_dir / f"{name}.parquet" for name in INCREMENTAL_TABLES}
        if store is not None and _has(store, "roaming"):
            builders["importations"] = lambda: signals.importations(table("roaming"), events, k=k)
        if store is not None and _has(store, "telemetry") and _has(store, "households"):
            builders["household_signals"] = lambda: signals.household_signals(
                table("telemetry"), table("households"), k=k
            )
        schemas = {**fusion.SCHEMAS, **signals.SCHEMAS}
        for name in track(list(builders), "Computing flows, presence, commuting and signals"):
            result = fusion.collect(con, builders[name](), schemas[name])
            paths[name] = out_dir / f"{name}.parquet"
            if plan is not None and plan.start is not None and name in INCREMENTAL_TABLES:
                previous = pq.read_table(paths[name])
                result = incremental.merge_from(
                    previous, result, plan.start, INCREMENTAL_TABLES[name]
                )
            _write_atomically(result, paths[name])
    if plan is not None:
        plan.save()
    return paths


def _first_micros(part: Path) -> int:
    """The earliest event time of a part, in microseconds since the epoch (UTC)."""
    ts = pq.read_table(part, columns=["ts"])["ts"].cast(pa.timestamp("us", "UTC")).cast(pa.int64())
    return pc.min(ts).as_py()


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


@dataclass
class _FlowsPlan:
    """What the flows of a store need: everything, nothing new, or dates from ``start`` on."""

    state_path: Path
    k: int
    files: list[str]
    start: dt.date | None = None
    unchanged: bool = False

    @classmethod
    def for_store(cls, store: Path, out_dir: Path, k: int) -> _FlowsPlan:
        with Store(store) as opened:
            records = opened.records("location")
        files = [r.sha256 for r in records]
        plan = cls(out_dir / STATE_FILE, k, files)
        try:
            state = json.loads(plan.state_path.read_text())
        except (OSError, ValueError):
            return plan
        done = set(state.get("location_files", []))
        outputs = all((out_dir / f"{n}.parquet").exists() for n in INCREMENTAL_TABLES)
        if state.get("k") != k or not outputs or not done <= set(files):
            return plan
        new = [sha for sha in files if sha not in done]
        if not new:
            plan.unchanged = True
            return plan
        parts = [p for sha in new for p in (store / "location").glob(f"{sha[:16]}-*.parquet")]
        if parts:
            micros = min(_first_micros(p) for p in parts)
            local = dt.datetime(1970, 1, 1) + dt.timedelta(
                microseconds=micros, hours=fusion.TIMEZONE_OFFSET_HOURS
            )
            plan.start = local.date()
        else:
            plan.unchanged = True
        return plan

    def save(self) -> None:
        state = {"k": self.k, "location_files": self.files}
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        os.replace(tmp, self.state_path)


def _store_of(path: Path) -> Path | None:
    return path if (path / "manifest.sqlite").exists() else None


def _has(store: Path, source: str) -> bool:
    return any((store / source).glob("*.parquet"))
