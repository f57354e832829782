"""Pipeline steps that read and write the on-disk contracts, used by the CLI and the demo."""

from __future__ import annotations

import glob
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import ibis.expr.types as ir
import pyarrow.parquet as pq

from spreadwatch import fusion
from spreadwatch.fusion import signals
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
    paths: dict[str, Path] = {}
    with fusion.connected(engine, spark_remote) as con:
        events = fusion.read_events(con, source)

        def table(name: str) -> ir.Table:
            return con.read_parquet(str(store / name / "*.parquet"))  # type: ignore[operator]

        builders: dict[str, Callable[[], ir.Table]] = {
            "od_flows": lambda: fusion.od_flows(events, k=k),
            "presence": lambda: fusion.presence(events, k=k),
            "commuting": lambda: fusion.commuting(events, k=k),
        }
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
            pq.write_table(result, paths[name])
    return paths


def _store_of(path: Path) -> Path | None:
    return path if (path / "manifest.sqlite").exists() else None


def _has(store: Path, source: str) -> bool:
    return any((store / source).glob("*.parquet"))
