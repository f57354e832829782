"""The engines the fusion expressions run on: DuckDB (default) or Apache Spark.

Spark runs in local mode (``local[2]``) unless a Spark Connect URL (``sc://host:port``) names a
cluster. Both engines get the session time zone UTC; the expressions in
:mod:`spreadwatch.fusion.mobility` derive Korean dates and hours with integer arithmetic on
epoch seconds, so their results do not depend on it, but reading and casting timestamps does.

Typical use::

    with connected("spark", spark_remote="sc://spark-connect.internal:15002") as con:
        events = read_events(con, "store/location/*.parquet")
        table = collect(con, od_flows(events), SCHEMAS["od_flows"])
"""

from __future__ import annotations

import glob
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import duck
from spreadwatch.spark_sessions import is_uri, spark_session

if TYPE_CHECKING:
    pass

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)
#: Backends whose Spark session spreadwatch started (and so may stop), by identity: ibis
#: backends compare equal when they share a session.
_OWNED: list[weakref.ref[ibis.BaseBackend]] = []


def connect(engine: Engine = "duckdb", spark_remote: str | None = None) -> ibis.BaseBackend:
    """An ibis backend of ``engine``: in-memory DuckDB, or Spark (local mode, or the Spark
    Connect server at ``spark_remote``). Release it with :func:`stop`."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "duckdb":
        if spark_remote is not None:
            raise ValueError("a Spark Connect URL needs the spark engine, not duckdb")
        return ibis.duckdb.from_connection(duck.connect())
    session, owned = spark_session(spark_remote)
    try:
        con = ibis.pyspark.connect(session)  # also pins the session time zone to UTC
    except BaseException:
        if owned:
            session.stop()
        raise
    if owned:
        _OWNED.append(weakref.ref(con))
    return con


def stop(con: ibis.BaseBackend) -> None:
    """Release ``con``: close a DuckDB connection; stop a Spark session this module started (a
    Spark Connect session is closed on the server, which keeps running)."""
    if con.name == "duckdb":
        con.disconnect()
    elif any(ref() is con for ref in _OWNED):
        _OWNED[:] = [ref for ref in _OWNED if ref() is not None and ref() is not con]
        con.disconnect()  # SparkSession.stop()


@contextmanager
def connected(engine: Engine = "duckdb", spark_remote: str | None = None) -> Iterator:
    """:func:`connect` for a ``with`` block, released by :func:`stop` at its end."""
    con = connect(engine, spark_remote)
    try:
        yield con
    finally:
        stop(con)


def read_events(con: ibis.BaseBackend, source: str | Path) -> ir.Table:
    """Events Parquet (a file, folder or glob; timestamps ``timestamp[us, UTC]``) as a table.

    Spark cannot read nanosecond Parquet timestamps; a local file holding them is refused here
    with a clear message rather than deep inside a Spark job.
    """
    source = str(source)
    if con.name == "pyspark":
        _check_spark_timestamps(source)
    return con.read_parquet(source)


def _check_spark_timestamps(source: str) -> None:
    if is_uri(source):
        return  # on the cluster's storage: Spark reports problems itself
    path = Path(source)
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))[:1]
    else:
        files = sorted(glob.glob(source))[:1] if glob.has_magic(source) else [path]
    for file in files:
        if not Path(file).is_file():
            continue
        for field in pq.read_schema(file):
            if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
                raise ValueError(
                    f"{file}: column {field.name} is {field.type}; Spark reads only ms or us "
                    "Parquet timestamps (the events contract is timestamp[us, UTC])"
                )


def collect(con: ibis.BaseBackend, expr: ir.Table, schema: pa.Schema | None = None) -> pa.Table:
    """Run ``expr`` on ``con`` into an Arrow table, cast to ``schema`` (column order and types)
    when given, so that every engine delivers the same types and nullability."""
    table = con.to_pyarrow(expr)
    if schema is None:
        return table
    return table.select(schema.names).cast(schema)
