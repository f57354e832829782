"""Command-line commands that live in their own modules (registered in ``spreadwatch.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from spreadwatch import durable
from spreadwatch.progress import console, say

if TYPE_CHECKING:
    import pyarrow as pa


def fail(message: str) -> typer.Exit:
    """Print an error in red and return the exit (code 2) to raise."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def write_table(table: pa.Table, out: Path) -> None:
    """A table to ``out`` as Parquet, or CSV when the name ends in ``.csv``; written under a
    temporary name and renamed, so a reader (the bridge watching levels or notices) never sees
    half a file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with durable.written(out) as tmp:
        if out.suffix == ".csv":
            pacsv.write_csv(table, tmp)
        else:
            pq.write_table(table, tmp)


def print_accounting(quality: dict) -> None:
    """Rows in = kept + quarantined + duplicates, and the quarantine by reason."""
    say(
        f"rows in {quality['rows_in']:,} = kept {quality['rows_kept']:,} + quarantined "
        f"{quality['rows_quarantined']:,} + duplicates {quality['duplicates_removed']:,}"
    )
    for reason, count in sorted(quality["quarantined_by_reason"].items()):
        say(f"  quarantined {count:>8,}  {reason}")


EngineOption = Annotated[
    str | None,
    typer.Option(
        metavar="duckdb|spark",
        help="Engine: duckdb (default, this machine), or spark (local mode, or the cluster of "
        "--spark-remote). Both give the same results.",
    ),
]
SparkRemoteOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="Spark Connect server of a cluster, sc://HOST:PORT (implies --engine spark).",
    ),
]


def chosen_engine(engine: str | None, spark_remote: str | None) -> str:
    """The engine ``--engine`` and ``--spark-remote`` ask for (spark when only a remote is
    given), checked: a wrong name or a malformed URL is an error naming the option."""
    from spreadwatch.fusion.engines import ENGINES
    from spreadwatch.spark_sessions import check_remote

    chosen = (engine or ("spark" if spark_remote else "duckdb")).lower()
    if chosen not in ENGINES:
        raise fail(f"--engine {chosen}: expected one of {', '.join(ENGINES)}")
    if spark_remote is not None:
        if chosen != "spark":
            raise fail("--spark-remote runs on Spark: use it with --engine spark (or alone)")
        try:
            check_remote(spark_remote)
        except ValueError as exc:
            raise fail(f"--spark-remote: {exc}") from exc
    return chosen
