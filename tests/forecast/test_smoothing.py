"""The local-level model against brute force and against data simulated from it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from spreadwatch.forecast.history import History
from spreadwatch.forecast.smoothing import WARM_UP, LocalLevel, levels, weekday_factors


def history_of(counts: np.ndarray, unit: str = "week") -> History:
    step = 7 if unit == "week" else 1
    start = dt.date(2021, 1, 4)  # a Monday
    ends = tuple(start + dt.timedelta(days=step * t) for t in range(counts.shape[0]))
    regions = tuple(f"r{i:03d}" for i in range(counts.shape[1]))
    return History(regions, counts.astype(float), ends, unit)


def simulate(alpha: float, size: float, periods: int, regions: int, seed: int) -> np.ndarray:
    """Counts from the model itself, each region starting at its own level."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(5, 40, regions)
    out = np.empty((periods, regions))
    for t in range(periods):
        out[t] = rng.negative_binomial(size, size / (size + level))
        level = alpha * out[t] + (1 - alpha) * level
    return out


def test_levels_are_the_exponentially_weighted_means_written_out():
    rng = np.random.default_rng(1)
    counts = rng.poisson(6.0, (30, 3)).astype(float)
    alpha = 0.3
    got = levels(counts, alpha, np.ones(30))
    start = counts[:WARM_UP].mean(axis=0)
    for t in range(WARM_UP, 31):
        past = counts[WARM_UP:t][::-1]  # newest first
        weights = alpha * (1 - alpha) ** np.arange(len(past))
        expected = weights @ past + (1 - alpha) ** len(past) * start
        np.testing.assert_allclose(got[t], expected, rtol=1e-12)


def test_fit_recovers_the_smoothing_weight_and_dispersion_of_simulated_data():
    counts = simulate(alpha=0.4, size=6.0, periods=60, regions=300, seed=2)
    fit = LocalLevel().fit(history_of(counts))
    assert fit.alpha == pytest.approx(0.4, abs=0.1)
    assert fit.size == pytest.approx(6.0, rel=0.25)


def test_one_step_paths_follow_the_negative_binomial_of_the_level():
    counts = simulate(alpha=0.5, size=4.0, periods=40, regions=50, seed=3)
    history = history_of(counts)
    model = LocalLevel()
    fit = model.fit(history)
    level = levels(counts, fit.alpha, np.ones(40))[-1]
    paths = model.sample(history, 3, 40_000, np.random.default_rng(4))
    first = paths[:, 0]
    np.testing.assert_allclose(first.mean(axis=0), level, rtol=0.05, atol=0.05)
    variance = level + level**2 / fit.size
    np.testing.assert_allclose(first.var(axis=0), variance, rtol=0.1, atol=0.1)
    assert np.all(paths == np.round(paths)) and paths.min() >= 0
    # each draw carries its own level forward: later horizons spread wider, centred alike
    spread = paths.std(axis=0).mean(axis=1)
    assert spread[0] < spread[1] < spread[2]
    np.testing.assert_allclose(paths[:, 2].mean(axis=0), level, rtol=0.1, atol=0.1)


def test_daily_weekday_factors_are_recovered_and_shape_the_forecast():
    pattern = np.array([1.3, 1.2, 1.1, 1.0, 0.9, 0.6, 0.9])
    pattern = pattern / pattern.mean()
    rng = np.random.default_rng(5)
    days = 70
    counts = rng.poisson(np.outer(pattern[np.arange(days) % 7], np.full(20, 30.0)))
    history = history_of(counts, "day")
    np.testing.assert_allclose(weekday_factors(history), pattern, rtol=0.05)
    paths = LocalLevel().sample(history, 7, 4000, np.random.default_rng(6))
    by_day = paths.mean(axis=(0, 2))  # forecast days 70..76 are weekdays 0..6
    np.testing.assert_allclose(by_day / by_day.mean(), pattern, rtol=0.08)
    assert weekday_factors(history.upto(20)) is None


def test_too_short_a_history_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="more than 3 periods"):
        LocalLevel().fit(history_of(np.ones((3, 2))))
