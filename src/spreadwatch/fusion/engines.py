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
import os
import re
import socket
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

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)
DEFAULT_SPARK_MASTER = "local[2]"
#: Shuffle partitions of local Spark; Spark's default (200) only adds overhead on one machine.
LOCAL_SHUFFLE_PARTITIONS = 4
#: How long to wait for a Spark Connect server to accept a TCP connection before giving up.
CONNECT_TIMEOUT_S = 10.0

_LOG4J = Path(__file__).with_name("log4j2.properties")
_LOCAL_CONF = {
    "spark.app.name": "spreadwatch",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": str(LOCAL_SHUFFLE_PARTITIONS),
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_LOG4J}",
}
_REMOTE = re.compile(
    r"sc://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r":(?P<port>[0-9]{1,5})(?P<params>/(?:;[A-Za-z_]+=[^;/]*)*)?"
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

#: Backends whose Spark session spreadwatch started (and so may stop), by identity: ibis
#: backends compare equal when they share a session.
_OWNED: list[weakref.ref[ibis.BaseBackend]] = []


def check_remote(url: str) -> tuple[str, int]:
    """``(host, port)`` of a Spark Connect URL ``sc://HOST:PORT``, else a ``ValueError``.

    Spark Connect parameters may follow the port (``sc://host:443/;use_ssl=true;token=...``).
    """
    match = _REMOTE.fullmatch(url.strip())
    port = int(match["port"]) if match else 0
    if not match or not 1 <= port <= 65535:
        raise ValueError(
            f"Spark Connect URL {url!r}: expected sc://HOST:PORT with a port in 1-65535, "
            "e.g. sc://127.0.0.1:15002 (parameters may follow: sc://HOST:PORT/;use_ssl=true)"
        )
    return match["host"].strip("[]"), port


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


def spark_session(
    remote: str | None = None, master: str = DEFAULT_SPARK_MASTER
) -> tuple[SparkSession, bool]:
    """A Spark session and whether this call started it.

    Without ``remote``: local Spark (``master``), reusing one already running in this process;
    ``SPARK_LOCAL_IP`` defaults to 127.0.0.1 so that Spark binds to loopback only. With
    ``remote``: a new Spark Connect session on that server (checked to be reachable first).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - the spark extra is installed by make
        raise RuntimeError(
            "the spark engine needs pyspark: install spreadwatch with the 'spark' extra"
        ) from exc
    if remote is not None:
        host, port = check_remote(remote)
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise ConnectionError(
                f"Spark Connect server {remote} is not reachable ({exc.strerror or exc})"
            ) from exc
        session = SparkSession.builder.remote(remote.strip()).create()
        session.conf.set("spark.sql.session.timeZone", "UTC")
        return session, True
    if "SPARK_CONNECT_MODE_ENABLED" in os.environ:
        raise RuntimeError(
            "this process has used Spark Connect, which pyspark makes process-wide: run local "
            "Spark in another process"
        )
    from pyspark import SparkContext

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if SparkContext._active_spark_context is not None:  # Spark already runs in this process
        running = SparkSession.builder.getOrCreate()
        running.conf.set("spark.sql.session.timeZone", "UTC")
        return running, False
    builder = SparkSession.builder.master(master)
    for key, value in _LOCAL_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session, True


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


def is_uri(source: str) -> bool:
    """Whether ``source`` is a URI such as ``s3a://bucket/events`` rather than a local path."""
    return _URI.match(source) is not None


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
