"""``spreadwatch ingest`` and ``spreadwatch flows``: raw files into a store, and the store's
fusion tables."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from spreadwatch.commands import (
    EngineOption,
    SparkRemoteOption,
    chosen_engine,
    fail,
    print_accounting,
)
from spreadwatch.progress import console, say


class SourceName(StrEnum):
    cells = "cells"
    location = "location"
    roaming = "roaming"
    telemetry = "telemetry"
    households = "households"
    household_members = "household_members"
    cases = "cases"
    air_stations = "air_stations"
    air_readings = "air_readings"


class Rotation(StrEnum):
    none = "none"
    month = "month"
    week = "week"


def ingest(
    source: Annotated[SourceName, typer.Argument(help="Which raw contract the files hold.")],
    paths: Annotated[
        list[str], typer.Argument(help="CSV or Parquet files, folders of them, or globs.")
    ],
    out: Annotated[Path, typer.Option(help="The store folder (created if missing).")] = Path(
        "out/store"
    ),
    cells: Annotated[
        Path | None,
        typer.Option(help="With location: ingest this cells file first (same as `ingest cells`)."),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(help="Pseudonym key file (default ~/.config/spreadwatch/pseudonym.key)."),
    ] = None,
    rotate: Annotated[
        Rotation, typer.Option(help="Change pseudonyms every calendar month or ISO week (UTC).")
    ] = Rotation.none,
    engine: EngineOption = None,
    spark_remote: SparkRemoteOption = None,
) -> None:
    """Validate raw files into a store of pseudonymised Parquet tables, with a quarantine.

    Every row is kept, quarantined with its file, row, column and reason, or removed as an exact
    duplicate. Files already in the store (same content) are skipped; an interrupted run resumes.
    Location events need the cells first; their daily flows are counted as they are kept (for
    `spreadwatch flows`). Writes OUT/quality.json.

    With --engine spark (or --spark-remote) location events, roaming events and households'
    members are checked and pseudonymised on Spark, file by file on the executors, with the same
    rules into the same store (the other sources, small, here); the delivery and the store must
    be on storage every node reads.
    """
    from spreadwatch.fusion import running
    from spreadwatch.ingest import RawFileError
    from spreadwatch.ingest.batch import ingest_sources
    from spreadwatch.ingest.store import StoreBusy
    from spreadwatch.privacy.pseudonym import KeyRing, load_key

    engine = chosen_engine(engine, spark_remote)
    sources: dict[str, list[Path | str]] = {source.value: list(paths)}
    if cells is not None:
        if source is not SourceName.location:
            raise fail("--cells: only used with the location source")
        sources["cells"] = [cells]
    try:
        keyring = KeyRing(load_key(key_file), rotate.value)
        reports: dict = {}
        with _spark(engine, spark_remote) as session:
            quality = ingest_sources(
                out,
                sources,
                keyring,
                reports,
                keep_going=True,
                follow=running.follow,
                spark=session,
            )
    except (RawFileError, FileNotFoundError, ValueError, StoreBusy, ConnectionError) as exc:
        raise fail(str(exc)) from exc
    failed = []
    for name in sources:
        report = reports[name]
        say(
            f"[bold]{name}[/]: {len(report.ingested)} files ingested now, "
            f"{len(report.skipped)} already in the store (skipped)"
            + (f", {len(report.failed)} unreadable" if report.failed else "")
            + "; the store holds:"
        )
        print_accounting(quality[name])
        failed += report.failed
    say(f"wrote [bold]{out}[/]")
    if failed:
        for path, reason in failed:
            console.print(
                f"[bold red]error:[/] {reason}"
                if str(path) in reason
                else f"[bold red]error:[/] {path}: {reason}"
            )
        console.print(f"{len(failed)} file(s) not ingested; every other file was")
        raise typer.Exit(1)


def _spark(engine: str, remote: str | None) -> AbstractContextManager[Any]:
    """The Spark session an ingest runs on (``None`` on DuckDB)."""
    if engine != "spark":
        return nullcontext()
    from spreadwatch.spark_sessions import running

    return running(remote)


def flows(
    events: Annotated[
        str,
        typer.Argument(
            help="Location events: an ingest store, Parquet files' folder, file or glob (or, "
            "with --spark-remote, a URI the cluster reads, e.g. s3a://bucket/events/)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/flows"),
    k: Annotated[int, typer.Option(min=1, help="k-anonymity threshold.")] = 15,
    engine: EngineOption = None,
    spark_remote: SparkRemoteOption = None,
) -> None:
    """Daily origin-destination flows, hourly presence and home-to-day-region commuting (KST days);
    from an ingest store with roaming and telemetry also importations and household signals.
    Cells below the k-anonymity threshold are suppressed. From a store on DuckDB, the daily
    tables are those its ingest counted, when it counted every location file."""
    import duckdb

    from spreadwatch.fusion.flows import build_flows

    engine = chosen_engine(engine, spark_remote)
    try:
        written = build_flows(events, out, k=k, engine=engine, spark_remote=spark_remote)
    except duckdb.OutOfMemoryException as exc:
        raise fail(
            f"DuckDB ran out of memory ({str(exc).splitlines()[0]}); raise "
            "SPREADWATCH_MEMORY_LIMIT or run on Spark (--engine spark)"
        ) from exc
    except (FileNotFoundError, ConnectionError, ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    for path in written.values():
        say(f"wrote [bold]{path}[/]")


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {"ingest": ingest, "flows": flows}
