"""DuckDB connections configured the same way everywhere in spreadwatch."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import duckdb

#: Environment variable capping DuckDB's memory (e.g. ``1.5GB``); beyond it DuckDB spills to disk.
MEMORY_ENV = "SPREADWATCH_MEMORY_LIMIT"
#: Environment variable naming the folder DuckDB spills to (default: DuckDB's own choice).
SPILL_ENV = "SPREADWATCH_SPILL_DIR"
_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)$", re.IGNORECASE)


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection: session time zone UTC, no DuckDB progress bar (spreadwatch
    draws its own), memory capped by ``$SPREADWATCH_MEMORY_LIMIT`` when set."""
    con = duckdb.connect()
    run(con, "SET TimeZone = 'UTC'")
    run(con, "SET enable_progress_bar = false")
    limit = os.environ.get(MEMORY_ENV, "").strip()
    if limit:
        if not _SIZE.match(limit):
            raise ValueError(f"{MEMORY_ENV}={limit!r}: expected a size like 1.5GB or 800MB")
        run(con, f"SET memory_limit = '{limit}'")
        run(con, "SET preserve_insertion_order = false")
    spill = os.environ.get(SPILL_ENV, "").strip()
    if spill:
        run(con, f"SET temp_directory = '{spill.replace(chr(39), chr(39) * 2)}'")
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another connection to ``con``'s database (for another thread), with the session's
    settings of :func:`connect` (the memory cap and spill directory are the database's)."""
    own = con.cursor()
    run(own, "SET TimeZone = 'UTC'")
    run(own, "SET enable_progress_bar = false")
    return own


def run(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Execute a statement and drain its result, so the connection is free for the next call."""
    con.execute(sql).fetchall()


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def path_list(paths: Iterable[object]) -> str:
    """A SQL list literal of file paths, for ``read_parquet``."""
    return "[" + ", ".join(quote(str(p)) for p in paths) + "]"
