"""At scale and on a real Spark Connect server: the same flows as DuckDB's (slow tests)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch import fusion
from spreadwatch.cli import app
from spreadwatch.fusion.flows import FLOW_TABLES, build_flows
from tests.fusion.events import make_events

pytestmark = pytest.mark.slow


def write_parts(events: pa.Table, folder: Path, parts: int = 4) -> Path:
    """The events as ``parts`` Parquet files in ``folder``, like an ingest store's parts."""
    folder.mkdir(parents=True)
    size = -(-events.num_rows // parts)
    for index in range(parts):
        pq.write_table(events.slice(index * size, size), folder / f"part-{index}.parquet")
    return folder


def assert_same_files(first: dict[str, Path], second: dict[str, Path]) -> None:
    for name in FLOW_TABLES:
        a, b = pq.read_table(first[name]), pq.read_table(second[name])
        assert a.schema == b.schema == fusion.SCHEMAS[name], name
        assert a.num_rows > 100, name
        assert a.equals(b), name


def test_a_million_events_give_identical_flows_on_duckdb_and_spark(spark, tmp_path):
    events = make_events(21_000, 7, seed=2020, regions=60)
    assert events.num_rows >= 1_000_000
    folder = write_parts(events, tmp_path / "events")
    # k = 2 keeps nearly every count visible, so the comparison covers the counts themselves.
    on_duckdb = build_flows(folder, tmp_path / "duckdb", k=2)
    on_spark = build_flows(folder, tmp_path / "spark", k=2, engine="spark")
    assert_same_files(on_duckdb, on_spark)
    rows = {name: pq.read_metadata(path).num_rows for name, path in on_spark.items()}
    assert rows["od_flows"] > 20_000 and rows["commuting"] > 20_000, rows
    suppressed = pq.read_table(on_spark["commuting"])["suppressed"].to_pylist()
    assert any(suppressed) and not all(suppressed)


def test_flows_through_spark_connect_equal_duckdb(connect_server, tmp_path, monkeypatch):
    # pyspark marks the whole process as Spark Connect when a remote session starts; undo that
    # afterwards so that local Spark keeps working in this test process.
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "")
    monkeypatch.delenv("SPARK_CONNECT_MODE_ENABLED")
    folder = write_parts(make_events(3_000, 5, seed=77), tmp_path / "events")
    result = CliRunner().invoke(
        app,
        ["flows", str(folder), "--out", str(tmp_path / "spark"), "--spark-remote", connect_server],
    )
    assert result.exit_code == 0, result.output
    on_spark = {name: tmp_path / "spark" / f"{name}.parquet" for name in FLOW_TABLES}
    on_duckdb = build_flows(folder, tmp_path / "duckdb")
    assert_same_files(on_duckdb, on_spark)
