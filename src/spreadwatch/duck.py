"""DuckDB connections configured the same way everywhere in spreadwatch."""

from __future__ import annotations

import duckdb


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection: session time zone UTC, no DuckDB progress bar (spreadwatch
    draws its own)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def run(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Execute a statement and drain its result, so the connection is free for the next call."""
    con.execute(sql).fetchall()
