"""Risk levels: points, weights, tiers and explanations by hand; the command end to end."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.risk.levels import FACTORS, household_signal, incidence_per_100k, risk_levels


def _levels(**factors) -> pd.DataFrame:
    frame = pd.DataFrame({"date": [dt.date(2020, 3, 1)], "region_code": ["A"], **factors})
    return risk_levels(frame).to_pandas().iloc[0]


def test_points_follow_the_documented_thresholds():
    incidence = next(f for f in FACTORS if f.name == "incidence")
    np.testing.assert_array_equal(
        incidence.points(np.array([0.5, 1.0, 4.9, 5.0, 19.9, 20.0, 99])), [0, 1, 1, 2, 2, 3, 3]
    )


def test_score_is_the_weighted_mean_of_known_factors():
    row = _levels(incidence=[6.0], rt=[1.2])  # 2 and 2 points
    assert row["score"] == pytest.approx(2.0) and row["level"] == 3
    row = _levels(incidence=[2.0], rt=[0.5], growth=[1.6])  # 1, 0, 3 points
    expected = (0.35 * 1 + 0.25 * 0 + 0.15 * 3) / (0.35 + 0.25 + 0.15)
    assert row["score"] == pytest.approx(expected) and row["level"] == 2
    assert row["growth_contribution"] == pytest.approx(0.15 * 3 / 0.75)
    assert np.isnan(row["importation_contribution"])
    assert row["explanation"].startswith("level 2 (moderate)")
    assert row["explanation"].index("forecast growth") < row["explanation"].index("incidence")


def test_high_incidence_alone_means_at_least_level_three():
    row = _levels(incidence=[25.0], rt=[0.5], growth=[0.5], household=[0.0])
    assert row["score"] < 1.5 and row["level"] == 3


def test_incidence_and_fever_signal_by_hand():
    days = pd.date_range("2020-03-01", periods=10)
    cases = pd.DataFrame({"date": days, "region_code": "A", "confirmed": np.arange(10) * 10})
    per = incidence_per_100k(cases, {"A": 200_000}).set_index("date")["incidence"]
    assert per.index.min() == days[6]
    assert per[days[6]] == pytest.approx(np.mean(np.arange(7) * 10) / 200_000 * 1e5)
    lasting = [0, 1] * 10 + [6]
    signals = pd.DataFrame(
        {
            "date": pd.date_range("2020-03-01", periods=21),
            "region_code": "A",
            "persistent_fever": lasting,
            "measured": 1000,
        }
    )
    z = household_signal(signals).set_index("date")["household"]
    mean = 0.5  # the same weekday 1 and 2 weeks before (0 and 1), as the 18 days before the guard
    assert np.mean(lasting[6:14:7]) == np.mean(lasting[:18]) == mean
    assert z.iloc[-1] == pytest.approx(stats.norm.isf(stats.poisson.sf(5, mean)))


def test_risk_command_writes_levels_and_report(tmp_path):
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-03-01", periods=30)
    growing = np.rint(5 * np.exp(0.1 * np.arange(30)))
    rows = [(d, "A", int(g)) for d, g in zip(days, growing, strict=True)]
    rows += [(d, "B", int(rng.poisson(0.2))) for d in days]
    pd.DataFrame(rows, columns=["date", "region_code", "confirmed"]).assign(
        date=lambda f: f["date"].dt.strftime("%Y-%m-%d")
    ).to_csv(tmp_path / "cases.csv", index=False)
    (tmp_path / "population.csv").write_text("code,population\nA,300000\nB,900000\n")
    result = CliRunner().invoke(
        app,
        [
            "risk",
            "--cases",
            str(tmp_path / "cases.csv"),
            "--population",
            str(tmp_path / "population.csv"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    levels = pq.read_table(tmp_path / "out" / "risk_levels.parquet").to_pandas()
    last = levels[levels["date"] == levels["date"].max()].set_index("region_code")
    assert last.loc["A", "level"] == 4 and last.loc["B", "level"] == 1
    assert "Rt" in last.loc["A", "explanation"]
    assert (tmp_path / "out" / "risk.html").exists()
