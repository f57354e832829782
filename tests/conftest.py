"""Fixtures every test folder may use: one local Spark per test process, and a Spark Connect
server on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"


@pytest.fixture(scope="session")
def spark():
    """The ibis backend of a local Spark (``local[2]``), started once per test process."""
    pytest.importorskip("pyspark")
    from spreadwatch.fusion import engines

    con = engines.connect("spark")
    yield con
    engines.stop(con)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory) -> Iterator[str]:
    """A Spark Connect server (pyspark's bundled Spark, local[2]) on a free loopback port."""
    pyspark = pytest.importorskip("pyspark")
    spark_home = Path(os.environ.get("SPARK_HOME") or Path(pyspark.__file__).parent)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("spark-connect") / "server.log"
    command = [
        str(spark_home / "bin" / "spark-submit"),
        "--class",
        CONNECT_SERVER,
        "--master",
        "local[2]",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "spark-internal",
    ]
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,  # its Python workers import spreadwatch
    }
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"Spark Connect server exited:\n{log_path.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Spark Connect server not up:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its own process group: only what we started
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
