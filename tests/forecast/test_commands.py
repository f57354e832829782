"""The forecast and backtest commands on real regional weekly data, and their input checks."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.forecast.history import from_series, population_of
from spreadwatch.forecast.hub import HUB_SCHEMA, frame_of
from spreadwatch.infer import CasesError, read_cases

DATA = Path(__file__).parent / "data"
KOREA = Path(__file__).parents[2] / "examples" / "korea-covid19-2020.csv"
MEASLES = [
    "--cases",
    str(DATA / "measles_cases.csv"),
    "--population",
    str(DATA / "measles_population.csv"),
    "--adjacency",
    str(DATA / "measles_adjacency.csv"),
    "--date-is",
    "start",
]


def test_weekly_dates_that_start_their_week_end_six_days_later(tmp_path):
    series = read_cases(DATA / "measles_cases.csv")
    as_ends = from_series(series, "week")
    as_starts = from_series(series, "week", date_is="start")
    assert as_ends.ends[0] == dt.date(2001, 1, 1)  # the file's first Monday
    assert as_starts.ends[0] == dt.date(2001, 1, 7)  # the Sunday that ends that week
    np.testing.assert_array_equal(as_ends.counts, as_starts.counts)


def test_population_as_residents_or_fractions(tmp_path):
    regions = ("A", "B")
    path = tmp_path / "population.csv"
    path.write_text("region,population\nA,300\nB,100\n")
    residents, shares = population_of(path, regions)
    np.testing.assert_allclose(residents, [300, 100])
    np.testing.assert_allclose(shares, [0.75, 0.25])
    path.write_text("location,fraction\nA,0.75\nB,0.25\n")
    residents, shares = population_of(path, regions)
    assert residents is None
    np.testing.assert_allclose(shares, [0.75, 0.25])
    for text, message in [
        ("region,fraction\nA,0.5\nB,0.2\n", "sum to 0.7, not 1"),
        ("region,population\nA,300\nB,-1\n", "row 2, column population: expected a finite"),
        ("region,population\nA,inf\nB,1\n", "row 1, column population: expected a finite"),
        ("region,population\nA,300\nB,1\nA,5\n", "row 3, column region: region 'A' again"),
        ("region,population\nA,300\n", "no population for region 'B'"),
        ("name,people\nA,3\n", "expected a region column"),
    ]:
        path.write_text(text)
        with pytest.raises(CasesError, match=re.escape(message)):
            population_of(path, regions)


def test_forecast_on_measles_names_its_default_and_stays_below_population(tmp_path):
    out = tmp_path / "forecast.parquet"
    result = CliRunner().invoke(
        app, ["forecast", *MEASLES, "--out", str(out), "--horizons", "4", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.remove_metadata() == HUB_SCHEMA
    frame = frame_of(table)
    default = frame.attrs["default_model"]
    assert default in set(frame["model"]) and f"default model: {default}" in result.output
    assert "lowest WIS over the latest 8 origins" in result.output
    assert str(frame["origin_date"].iloc[0]) == "2002-12-29"  # the last week's Sunday
    population = pd.read_csv(DATA / "measles_population.csv", dtype={"region_code": str})
    cap = dict(zip(population["region_code"], population["population"], strict=True))
    cap["total"] = population["population"].sum()
    assert (frame["value"] <= frame["location"].map(cap)).all()


def test_backtest_writes_its_forecasts_and_scores_regions_and_aggregates_apart(tmp_path):
    out = tmp_path / "bt"
    models = "baseline,endemic-epidemic,ensemble"
    arguments = ["backtest", *MEASLES, "--out", str(out), "--horizons", "2", "--first", "96"]
    result = CliRunner().invoke(app, [*arguments, "--models", models])
    assert result.exit_code == 0, result.output
    forecasts = pq.read_table(out / "forecasts.parquet")
    assert forecasts.schema.remove_metadata() == HUB_SCHEMA
    assert pd.Series(forecasts["origin_date"].to_pylist()).nunique() == 104 - 96
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["level"]) == {"region", "aggregate"}
    base = summary[summary["model"] == "baseline"]
    assert (base["relative_wis"] == 1).all()
    assert "lowest WIS over the regions:" in result.output
    page = (out / "backtest.html").read_text()
    assert "total: forecasts (median, 90% interval)" in page  # the fan shows the total
    assert not re.search(r">\s*(nan|inf|-inf)\s*<", page)  # no undefined number is shown
    cards = re.findall(r"WIS ([0-9.,]+)", page)
    assert cards and all(float(c.replace(",", "")) > 0 for c in cards)  # no "WIS 0.0"


def test_regions_without_coupling_or_population_are_warned_about(tmp_path):
    path = tmp_path / "cases.csv"
    days = pd.date_range("2021-03-01", periods=30)
    path.write_text(
        "region,date,count\n"
        + "\n".join(
            f"{r},{d:%Y-%m-%d},{(i * 7 + k) % 5}"
            for i, d in enumerate(days)
            for k, r in enumerate("XYZ")
        )
    )
    result = CliRunner().invoke(
        app,
        ["forecast", "--cases", str(path), "--out", str(tmp_path / "f.csv"), "--unit", "day"],
    )
    assert result.exit_code == 0, result.output
    assert "forecast without coupling" in result.output
    assert "no population known" in result.output


def test_a_neighbour_file_without_a_header_keeps_its_first_pair(tmp_path):
    from spreadwatch.forecast.history import adjacency_orders

    path = tmp_path / "pairs.csv"
    path.write_text("A,B\nB,C\n")
    orders = adjacency_orders(path, ("A", "B", "C"))
    np.testing.assert_array_equal(orders, [[0, 1, 2], [1, 0, 1], [2, 1, 0]])


def test_date_is_on_daily_counts_is_refused(tmp_path):
    result = CliRunner().invoke(
        app,
        ["forecast", "--cases", str(KOREA), "--out", str(tmp_path / "f.csv"), "--date-is", "start"],
    )
    assert result.exit_code == 2 and "applies to weekly dates only" in result.output


def test_growth_over_lags_is_the_root_of_the_renewal_equation():
    from spreadwatch.forecast.terms import lagged_growth

    # r = 1.5 (r^0 / 2 + r^-1 / 2): r^2 - 0.75 r - 0.75 = 0
    assert lagged_growth(1.5, (0.5, 0.5)) == pytest.approx((0.75 + np.sqrt(3.5625)) / 2)
    assert lagged_growth(1.0, (0.2, 0.3, 0.5)) == pytest.approx(1.0)
    assert lagged_growth(0.8, (1.0,)) == 0.8


def test_daily_series_shorter_than_the_lags_are_forecast(tmp_path):
    path = tmp_path / "short.csv"
    days = pd.date_range("2021-03-01", periods=4)
    path.write_text(
        "region,date,count\n" + "\n".join(f"A,{d:%Y-%m-%d},{i + 2}" for i, d in enumerate(days))
    )
    out = tmp_path / "f.csv"
    arguments = ["forecast", "--cases", str(path), "--out", str(out), "--unit", "day"]
    result = CliRunner().invoke(app, [*arguments, "--models", "endemic-epidemic"])
    assert result.exit_code == 0, result.output
    assert "endemic-epidemic" in set(pd.read_csv(out)["model"])


def test_flows_all_suppressed_give_no_measured_coupling(tmp_path):
    """A small sample releases no flow: no mobility weights (not an IndexError)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spreadwatch.forecast.history import mobility_weights

    path = tmp_path / "od.parquet"
    pq.write_table(
        pa.table({"date": pa.array([dt.date(2020, 2, 1)] * 2), "origin": ["11010", "11020"],
                  "dest": ["11020", "11010"], "trips": [0, 0], "suppressed": [True, True]}),
        path,
    )  # fmt: skip
    assert mobility_weights(path, ("11010", "11020")) is None
