"""Spark sessions for every stage that runs on Spark (ingest, fusion, release): local Spark
(``local[2]``, bound to loopback) or a cluster's Spark Connect server (``sc://host:port``).

The session time zone is UTC; Python workers run this process's interpreter, so functions
shipped to executors import the same packages (a cluster installs spreadwatch on its nodes).
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers import what we import
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


def is_uri(source: str) -> bool:
    """Whether ``source`` is a URI such as ``s3a://bucket/events`` rather than a local path."""
    return _URI.match(source) is not None


@contextmanager
def running(remote: str | None = None) -> Iterator[SparkSession]:
    """:func:`spark_session` for a ``with`` block: stopped at its end when this call started
    it (a local Spark already running, or a Connect server, keeps running)."""
    session, owned = spark_session(remote)
    try:
        yield session
    finally:
        if owned:
            session.stop()
