"""Command-line commands that live in their own modules (registered in ``spreadwatch.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
