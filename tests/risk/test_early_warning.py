"""The early-warning detector on series with known changes, and weekday seasonality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spreadwatch.risk.early_warning import Detector, case_scores, household_scores


def _series(values: np.ndarray, start: str = "2020-01-06") -> pd.DataFrame:
    return pd.DataFrame(values, index=pd.date_range(start, periods=len(values)), columns=["A"])


def test_a_step_alarms_on_its_second_day_and_not_before():
    rng = np.random.default_rng(0)
    values = 10 + rng.normal(0, 1, 60)
    values[45:] += 8  # a jump of 8 standard deviations from day 45
    detector = Detector()
    score = detector.scores(_series(values), floor=0.1)
    assert score["A"].iloc[:14].isna().sum() >= detector.min_baseline  # the baseline fills first
    first = detector.first_alarm(score)["A"]
    assert first == pd.Timestamp("2020-01-06") + pd.Timedelta(days=46)


def test_weekday_seasonality_is_not_an_anomaly():
    rng = np.random.default_rng(1)
    days = pd.date_range("2020-01-06", periods=84)
    weekly = np.where(days.day_of_week >= 5, 1.6, 1.0)  # weekends at home
    values = weekly + rng.normal(0, 0.03, len(days))
    detector = Detector()
    score = detector.scores(_series(values), floor=0.02)
    assert not detector.alarms(score)["A"].iloc[35:].any()
    assert score["A"].iloc[35:].abs().max() < 3  # weekends are expected once seen


def test_household_and_case_scores_read_the_pipeline_tables():
    days = pd.date_range("2020-02-01", periods=40)
    fever = np.full(40, 0.01)
    fever[30:] = 0.2
    signals = pd.DataFrame(
        {
            "date": days,
            "region_code": "11010",
            "households": 50,
            "stay_home_index": 1.0,
            "fever_rate": fever,
            "suppressed": False,
        }
    )
    score = household_scores(signals)
    detector = Detector()
    assert detector.first_alarm(score)["11010"] == days[31]
    cases = pd.DataFrame({"date": days, "region_code": "11010", "confirmed": [1] * 30 + [30] * 10})
    assert detector.first_alarm(case_scores(cases))["11010"] == days[31]
    few = cases.assign(confirmed=[0] * 30 + [1] * 10)  # below min_cases: never an alarm
    assert pd.isna(detector.first_alarm(case_scores(few))["11010"])


def test_a_guard_of_a_week_keeps_the_rise_out_of_the_baseline():
    days = pd.date_range("2020-02-03", periods=49)
    counts = np.full(49, 2.0)
    counts[-8:] = 40.0  # a rise in the last eight days: day -8 is just before the guard
    wide = pd.DataFrame({"A": counts}, index=days)
    detector = Detector(guard=7)
    expected, _ = detector.expected(wide)
    # the same weekday 14, 21, 28 and 35 days back (the one 7 days back is in the guard)
    assert expected["A"].iloc[-1] == 2.0
    assert expected["A"].iloc[-2] == 2.0
    assert expected["A"].iloc[-1 - 7] == 2.0
    # the first day whose baseline reaches into the rise: 14 days after it began
    later = pd.DataFrame({"A": np.r_[np.full(34, 2.0), np.full(15, 40.0)]}, index=days)
    assert detector.expected(later)[0]["A"].iloc[-1] == pytest.approx((40 + 3 * 2) / 4)


def test_count_score_is_the_poisson_tail_and_follows_exposure():
    from scipy import stats

    days = pd.date_range("2020-02-03", periods=40)
    counts = np.full(40, 2.0)
    counts[-1] = 9
    detector = Detector()
    wide = pd.DataFrame({"A": counts}, index=days)
    z = detector.count_scores(wide)["A"]
    assert z.iloc[-1] == pytest.approx(stats.norm.isf(stats.poisson.sf(8, 2.0)))
    assert z.iloc[-2] == 0.0  # at the expectation
    # twice the households measured, twice the count: no anomaly
    doubled = pd.DataFrame({"A": np.r_[np.full(30, 2.0), np.full(10, 4.0)]}, index=days)
    exposure = pd.DataFrame({"A": np.r_[np.full(30, 500.0), np.full(10, 1000.0)]}, index=days)
    assert detector.count_scores(doubled, exposure)["A"].max() == 0.0
    assert detector.count_scores(doubled)["A"].max() > 1.0  # without it, it looks like a rise


def test_household_score_from_lasting_fevers():
    days = pd.date_range("2020-02-01", periods=40)
    lasting = np.zeros(40)
    lasting[30:] = 4  # four households with a lasting fever a day, where none had
    signals = pd.DataFrame(
        {
            "date": days,
            "region_code": "11010",
            "households": 5000,
            "measured": 1600,
            "persistent_fever": lasting,
            "fever_rate": 0.01,
            "suppressed": False,
        }
    )
    assert Detector().first_alarm(household_scores(signals))["11010"] == days[31]


def test_early_warning_command_writes_scores_and_alarms(tmp_path):
    from typer.testing import CliRunner

    from spreadwatch.cli import app

    days = pd.date_range("2020-02-01", periods=40)
    lasting = np.r_[np.zeros(30), np.full(10, 5.0)]
    pd.DataFrame(
        {
            "date": days.strftime("%Y-%m-%d"),
            "region_code": "11010",
            "households": 4000,
            "stay_home_index": 1.0,
            "fever_rate": 0.01,
            "measured": 1500,
            "fever_households": 15,
            "persistent_fever": lasting,
            "suppressed": False,
        }
    ).to_csv(tmp_path / "signals.csv", index=False)
    confirmed = np.r_[np.zeros(35, dtype=int), np.full(5, 9)]
    pd.DataFrame(
        {"region_code": "11010", "date": days.strftime("%Y-%m-%d"), "confirmed": confirmed}
    ).to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "alarms.parquet"
    args = ["early-warning", str(tmp_path / "signals.csv"), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--cases", str(tmp_path / "cases.csv")])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out).set_index("date")
    first_home = table.index[table["household_alarm"].fillna(False).astype(bool)].min()
    first_case = table.index[table["case_alarm"].fillna(False).astype(bool)].min()
    assert (first_home, first_case) == (days[31].date(), days[36].date())
    bad = tmp_path / "bad.csv"
    bad.write_text("date,region_code\n2020-02-01,11010\n")
    result = CliRunner().invoke(app, ["early-warning", str(bad), "--out", str(out)])
    assert result.exit_code == 2 and "missing column 'fever_rate'" in result.output


@pytest.mark.parametrize("min_baseline", [7, 21])
def test_no_score_before_min_baseline_days_are_known(min_baseline):
    counts = _series(np.full(40, 3.0))
    detector = Detector(min_baseline=min_baseline)
    for score in (detector.count_scores(counts), detector.scores(counts, floor=0.1)):
        known = score["A"].notna().to_numpy()
        # day t's baseline ends guard + 1 days before it: min_baseline days are known from
        # day guard + min_baseline on (the weekday means as well as the trailing one)
        first = detector.guard + min_baseline
        assert not known[:first].any() and known[first:].all()
