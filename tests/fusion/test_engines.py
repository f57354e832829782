"""The fusion gives identical tables on DuckDB and on Spark, equal to the brute-force reference."""

from __future__ import annotations

import socket

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch import fusion, spark_sessions
from spreadwatch.cli import app
from spreadwatch.fusion import engines
from spreadwatch.fusion.flows import FLOW_TABLES, build_flows
from tests.fusion.events import as_tuples
from tests.ingest import reference

K = 3
KEYS = {
    "od_flows": ["date", "origin", "dest"],
    "presence": ["date", "hour", "region_code"],
    "commuting": ["date", "home_region", "day_region"],
}


SPARK_TYPES = {
    pa.date32(): "date",
    pa.int8(): "tinyint",
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.bool_(): "boolean",
}


def sort(table: pa.Table, name: str) -> pa.Table:
    return table.sort_by([(key, "ascending") for key in KEYS[name]])


def suppressed_reference(events: set[tuple], name: str, k: int) -> dict[tuple, tuple[int, bool]]:
    counts = {
        "od_flows": reference.reference_od,
        "presence": lambda e: reference.reference_presence(e, fusion.DEFAULT_MAX_GAP_HOURS),
        "commuting": reference.reference_commuting,
    }[name](events)
    return {key: (0 if n < k else n, n < k) for key, n in counts.items()}


def as_dict(table: pa.Table, name: str) -> dict[tuple, tuple[int, bool]]:
    count = table.column_names[-2]
    rows = table.to_pylist()
    return {tuple(r[c] for c in KEYS[name]): (r[count], r["suppressed"]) for r in rows}


def test_build_flows_writes_identical_files_on_duckdb_and_spark(spark, small_events, tmp_path):
    duck_paths = build_flows(small_events, tmp_path / "duckdb", k=K)
    spark_paths = build_flows(small_events, tmp_path / "spark", k=K, engine="spark")
    events = as_tuples(pq.read_table(small_events))
    for name in FLOW_TABLES:
        on_duckdb, on_spark = pq.read_table(duck_paths[name]), pq.read_table(spark_paths[name])
        assert on_duckdb.schema == on_spark.schema == fusion.SCHEMAS[name], name
        assert on_duckdb.num_rows > 20, name
        assert sort(on_duckdb, name).equals(sort(on_spark, name)), name
        assert on_duckdb.equals(on_spark), f"{name}: same rows in the same order"
        assert as_dict(on_spark, name) == suppressed_reference(events, name, K), name
        assert not all(on_spark["suppressed"].to_pylist()), name
    assert any(pq.read_table(spark_paths["od_flows"])["suppressed"].to_pylist())
    # build_flows reused the running session and left it running
    assert spark._session.sparkContext._jsc is not None


def test_engines_compute_the_contract_types_themselves(spark, small_events, tmp_path):
    """Not only after the cast in ``collect``: DuckDB's ``DATE + INTERVAL`` is a TIMESTAMP, which
    its own Parquet writer used to put in the files."""
    duck = fusion.connect()
    for name in FLOW_TABLES:
        builder = getattr(fusion, name)
        expected = [field.type for field in fusion.SCHEMAS[name]]
        path = tmp_path / f"{name}.parquet"
        duck.to_parquet(builder(duck.read_parquet(small_events), k=K), path)
        assert pq.read_schema(path).types == expected, name
        frame = spark._session.sql(spark.compile(builder(spark.read_parquet(small_events), k=K)))
        spark_types = [field.dataType.simpleString() for field in frame.schema]
        assert spark_types == [SPARK_TYPES[t] for t in expected], name


def test_spark_refuses_nanosecond_timestamps_clearly(spark, small_events, tmp_path):
    table = pq.read_table(small_events)
    path = tmp_path / "ns.parquet"
    ts = table.schema.get_field_index("ts")
    pq.write_table(table.set_column(ts, "ts", table["ts"].cast(pa.timestamp("ns", "UTC"))), path)
    with pytest.raises(ValueError, match=r"ns.*Spark reads only ms or us"):
        engines.read_events(spark, path)
    assert engines.read_events(fusion.connect(), path).count().execute() == table.num_rows


@pytest.mark.parametrize(
    "url",
    [
        "sc://127.0.0.1:15002",
        "sc://spark-connect.internal:443/;use_ssl=true;token=abc",
        "sc://[::1]:15002",
    ],
)
def test_spark_connect_urls_accepted(url):
    host, port = spark_sessions.check_remote(url)
    assert host and 1 <= port <= 65535


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:15002", "sc://127.0.0.1", "sc://:15002", "http://h:1", "sc://h:0", "sc://h:99999"],
)
def test_bad_spark_connect_urls_are_clear_errors(url):
    with pytest.raises(ValueError, match=r"expected sc://HOST:PORT"):
        spark_sessions.check_remote(url)


def test_engine_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown engine"):
        engines.connect("polars")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs the spark engine"):
        engines.connect("duckdb", spark_remote="sc://127.0.0.1:15002")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "polars"], "--engine polars: expected one of duckdb, spark"),
        (["--spark-remote", "sc://127.0.0.1"], "expected sc://HOST:PORT"),
        (["--engine", "duckdb", "--spark-remote", "sc://h:1"], "use it with --engine spark"),
        (["--spark-remote", "sc://127.0.0.1:{port}"], "is not reachable"),
    ],
)
def test_flows_engine_options_fail_clearly(small_events, tmp_path, args, message):
    args = [a.format(port=_closed_port()) for a in args]
    result = CliRunner().invoke(app, ["flows", str(small_events), "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not list(tmp_path.glob("*.parquet"))
