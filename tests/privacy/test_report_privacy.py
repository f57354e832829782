"""The report section on the error of DP OD flows against epsilon."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from spreadwatch.fusion import mobility
from spreadwatch.release import dp
from spreadwatch.report import privacy as report
from spreadwatch.report.html import Report
from tests.privacy.conftest import START


def test_errors_fall_with_epsilon_and_match_the_noise_scale():
    rng = np.random.default_rng(1)
    unbounded = rng.poisson(200, 20_000).astype(np.int64)
    bounded = {2: unbounded // 2, 4: unbounded}
    errors = report.error_table(bounded, unbounded, (0.3, 1.0, 3.0), sample_cells=10_000)
    assert len(errors) == 6 and set(errors["cells"]) == {10_000}
    for _, rows in errors.groupby("max_trips_per_day"):
        assert rows["mae_bounded"].is_monotonic_decreasing
        assert rows["relative_bounded"].is_monotonic_decreasing
    # far from zero nothing is clamped: the MAE is the mean absolute noise
    full = errors[errors["max_trips_per_day"] == 4]
    assert full["relative_large"].is_monotonic_decreasing
    for row in full.itertuples():
        want = dp.Mechanism.calibrate(4, row.epsilon).mean_absolute_noise
        assert row.mae_bounded == pytest.approx(want, rel=0.08)
        assert row.mae_unbounded == row.mae_bounded and row.bounding_bias == 0
    # a bound that removes half the trips: the error against the unbounded counts is the bias
    half = errors[errors["max_trips_per_day"] == 2]
    assert np.allclose(half["bounding_bias"], 0.5, atol=0.01)
    assert (half["relative_unbounded"] > 0.45).all()
    assert (half["mae_bounded"] < full["mae_bounded"].to_numpy()).all()  # but half the noise


def test_counts_by_bound_equal_separate_bounded_counts(small_store):
    con = mobility.connect()
    events = con.read_parquet([str(f) for f in dp.event_files(small_store)])
    keys = dp.KeySpace.korea(START, START + dt.timedelta(days=1))
    bounded, unbounded = report.od_counts_by_bound(events, keys, (1, 3))
    for bound in (1, 3):
        exact = dp.exact_counts(events, keys, "od_flows", bound)
        assert np.array_equal(bounded[bound], exact.bounded)
        assert np.array_equal(unbounded, exact.unbounded)
    assert bounded[1].sum() < unbounded.sum()


def test_section_shows_errors_falling_with_epsilon(small_store, tmp_path):
    keys = dp.KeySpace.korea(START, START + dt.timedelta(days=1))
    section = report.dp_error_section(
        *report.dp_errors(small_store, keys, bounds=(1, 4), sample_cells=5_000)
    )
    assert section.title == report.TITLE
    assert "5,000 of 104,424 cells" in section.intro
    assert "not charged to any ledger" in section.intro
    html = "".join(section.parts)
    assert "Mean absolute error per OD cell" in html and "<table>" in html
    path = Report("privacy", sections=[section]).write(tmp_path / "r.html")
    assert report.TITLE in path.read_text(encoding="utf-8")
