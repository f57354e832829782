"""The release's bounding on Spark: the same bounded and unbounded counts as on DuckDB (only
these aggregates come back to the driver), and a release through the command line."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow.parquet as pq
import pytest

from spreadwatch.release import dp
from tests.privacy.test_dp_bounding import KEYS, random_events, to_table
from tests.privacy.test_release_cli import DATES, invoke


@pytest.mark.parametrize(("trips", "hours"), [(1, 3), (4, 24)])
def test_bounded_counts_are_the_same_on_spark(spark, tmp_path, trips, hours):
    events = tmp_path / "events.parquet"
    pq.write_table(to_table(random_events(7, subscribers=80)).to_pyarrow(), events)
    bounds = dp.Bounds(trips, hours)
    on = {
        engine: dp.exact_counts_on(engine, None, events, KEYS, dp.TABLES, bounds)
        for engine in ("duckdb", "spark")
    }
    for name in dp.TABLES:
        duck, spark_counts = on["duckdb"][name], on["spark"][name]
        assert np.array_equal(duck.bounded, spark_counts.bounded), name
        assert np.array_equal(duck.unbounded, spark_counts.unbounded), name
        assert duck.unbounded.sum() > 100, name
    # the bounds bind on this data: bounding really ran on Spark
    assert on["spark"]["od_flows"].bounded.sum() < on["spark"]["od_flows"].unbounded.sum()


def test_release_on_spark_charges_the_ledger_like_duckdb(spark, store, tmp_path):
    text = invoke(
        "release", str(store), "--epsilon", "1", "--out", str(tmp_path / "spark"), *DATES,
        "--tables", "od_flows", "--engine", "spark",
    )  # fmt: skip
    assert "data set store: spent 1 of 5" in text
    released = pq.read_table(tmp_path / "spark" / "od_flows.parquet")
    assert released.num_rows == 2 * 229 * 228
    text = invoke("budget", "show", str(store))
    assert "spent 1" in text


def test_engine_options_are_checked(store, tmp_path):
    args = ["release", str(store), "--epsilon", "1", "--out", str(tmp_path / "x"), *DATES]
    assert "--engine flink: expected one of duckdb, spark" in invoke(
        *args, "--engine", "flink", code=2
    )
    assert "--spark-remote: Spark Connect URL 'http://x'" in invoke(
        *args, "--spark-remote", "http://x", code=2
    )
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_release_counts_through_spark_connect_equal_duckdb(connect_server, store, monkeypatch):
    # pyspark marks the whole process as Spark Connect when a remote session starts; undo that
    # afterwards so that local Spark keeps working in this test process.
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "")
    monkeypatch.delenv("SPARK_CONNECT_MODE_ENABLED")
    keys = dp.KeySpace.korea(*(dt.date.fromisoformat(d) for d in DATES[1::2]))
    bounds = dp.Bounds(2, 6)
    remote = dp.exact_counts_on("spark", connect_server, store, keys, dp.TABLES, bounds)
    local = dp.exact_counts_on("duckdb", None, store, keys, dp.TABLES, bounds)
    for name in dp.TABLES:
        assert np.array_equal(remote[name].bounded, local[name].bounded), name
        assert np.array_equal(remote[name].unbounded, local[name].unbounded), name
        assert local[name].bounded.sum() > 100, name
