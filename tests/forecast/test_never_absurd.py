"""Forecasts an epidemiologist would believe: bounded by population, aggregates that are sums of
their regions, simpler models when a fit runs away, on short sparse series like the demo's."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from spreadwatch import regions as korea
from spreadwatch.forecast import QUANTILE_LEVELS
from spreadwatch.forecast.history import History, adjacency_orders, population_of
from spreadwatch.forecast.paths import paths_from_quantiles
from spreadwatch.forecast.run import MODEL_NAMES, forecast_table, pairwise_relative_wis

MODELS = list(MODEL_NAMES)


def korea_history(counts: np.ndarray, start: dt.date = dt.date(2020, 2, 1)) -> History:
    codes = tuple(korea.load("sigungu").regions["code"])
    residents, shares = population_of(None, codes)
    ends = tuple(start + dt.timedelta(days=d) for d in range(counts.shape[0]))
    return History(
        codes, counts, ends, "day", adjacency_orders(None, codes), None, residents, shares
    )


def sparse_outbreak(days: int = 14, seed: int = 3) -> np.ndarray:
    """A handful of cases a day in three neighbouring districts of Daegu (growing from 0 to
    about 7 a day), nothing elsewhere: the demo's first two weeks."""
    codes = list(korea.load("sigungu").regions["code"])
    rng = np.random.default_rng(seed)
    counts = np.zeros((days, len(codes)))
    expected = 0.3 * 1.2 ** np.arange(days)
    for code, share in (("22040", 0.6), ("22030", 0.25), ("22050", 0.15)):  # Daegu's gu
        counts[:, codes.index(code)] = rng.poisson(expected * share)
    return counts


def wide(table: pd.DataFrame, model: str, location: str) -> pd.DataFrame:
    rows = table[
        (table["model"] == model)
        & (table["location"] == location)
        & (table["output_type"] == "quantile")
    ]
    return rows.pivot_table(index="horizon", columns="output_type_id", values="value")


def test_short_sparse_series_get_plausible_forecasts_and_a_note():
    counts = sparse_outbreak()
    history = korea_history(counts)
    notes: list[str] = []
    table = forecast_table(history, 14, MODELS, skipped={}, notes=notes).to_pandas()
    peak = counts.sum(axis=1).max()
    population = dict(zip(history.regions, history.population, strict=True))
    quantiles = table[table["output_type"] == "quantile"]
    regional = quantiles[quantiles["location"].isin(population)]
    assert (regional["value"] <= regional["location"].map(population)).all()
    for model in set(table["model"]):
        total = wide(table, model, "total")
        # at most a few times the highest day so far: never thousands from a handful of cases
        assert total[0.95].max() <= 15 * peak, model
        assert total[0.5].max() <= 4 * peak, model
    assert any(note.startswith("endemic-epidemic:") and "using" in note for note in notes)


def test_a_series_without_any_case_forecasts_zero():
    history = korea_history(np.zeros((20, 229)))
    table = forecast_table(history, 7, ["baseline", "endemic-epidemic"], skipped={}).to_pandas()
    assert table["value"].max() < 1


@pytest.mark.parametrize("days", [20, 40])
def test_aggregates_are_the_sums_of_their_regions(days):
    rng = np.random.default_rng(1)
    base = rng.gamma(0.5, 20, size=229)  # some districts with hundreds a day, most with few
    counts = rng.poisson(base * np.exp(0.02 * np.arange(days))[:, None]).astype(float)
    history = korea_history(counts)
    assert {"total", "11", "22"} <= set(history.aggregates)  # the total, Seoul, Daegu
    table = forecast_table(history, 3, MODELS, skipped={}).to_pandas()
    means = table[table["output_type"] == "mean"].pivot_table(
        index=["model", "horizon"], columns="location", values="value"
    )
    regional = means[list(history.regions)]
    np.testing.assert_allclose(means["total"], regional.sum(axis=1), rtol=1e-9)
    seoul = [c for c in history.regions if c.startswith("11")]
    np.testing.assert_allclose(means["11"], regional[seoul].sum(axis=1), rtol=1e-9)
    for model in set(table["model"]):
        # the total's median sits near the sum of the regions' means (a median of the sum of
        # skewed counts is above the sum of their medians), not on a series of its own
        total = wide(table, model, "total")[0.5]
        assert ((total / regional.loc[model].sum(axis=1)).between(0.8, 1.25)).all(), model


def test_paths_from_quantiles_keep_the_margins_and_the_correlation():
    from scipy import stats

    rng = np.random.default_rng(0)
    means = np.array([5.0, 50.0, 500.0])
    quantiles = stats.norm.ppf(QUANTILE_LEVELS)[:, None, None] * means / 5 + means
    paths = paths_from_quantiles(quantiles, QUANTILE_LEVELS, 40_000, rng, correlation=0.6)
    inner = (QUANTILE_LEVELS >= 0.05) & (QUANTILE_LEVELS <= 0.95)
    drawn = np.quantile(paths[:, 0], QUANTILE_LEVELS[inner], axis=0)
    np.testing.assert_allclose(drawn, quantiles[inner, 0], rtol=0.02)
    scores = (paths[:, 0] - means) / (means / 5)
    correlation = np.corrcoef(scores.T)[np.triu_indices(3, 1)]
    np.testing.assert_allclose(correlation, 0.6, atol=0.03)


def test_pairwise_relative_wis_by_hand():
    """Two origins, one location: A scores 1 and 2, B 2 and 4, the baseline 4 and 4; C made
    only the first forecast (scored 2)."""
    rows = [
        ("A", 1, 1.0),
        ("A", 2, 2.0),
        ("B", 1, 2.0),
        ("B", 2, 4.0),
        ("baseline", 1, 4.0),
        ("baseline", 2, 4.0),
        ("C", 1, 2.0),
    ]
    scores = pd.DataFrame(rows, columns=["model", "origin", "wis"]).assign(
        horizon=1, location="X", level="region"
    )
    skill = pairwise_relative_wis(scores, [])

    def theta(ratios):
        return np.prod(ratios) ** (1 / len(ratios))

    a = theta([1, 1.5 / 3, 1.5 / 4, 1 / 2])
    b = theta([3 / 1.5, 1, 3 / 4, 2 / 2])
    base = theta([4 / 1.5, 4 / 3, 1, 4 / 2])
    c = theta([2 / 1, 2 / 2, 2 / 4, 1])
    assert skill["A"] == pytest.approx(a / base)
    assert skill["B"] == pytest.approx(b / base)
    assert skill["C"] == pytest.approx(c / base)
    assert skill["baseline"] == pytest.approx(1.0)


@pytest.mark.slow
def test_measured_mobility_beats_borders_where_the_truth_spreads_by_it():
    """Synthetic Korea: an epidemic seeded in Daegu spreads along the synthetic truth's travel;
    the model coupled by the measured flows forecasts it better than the one coupled by
    borders (the benchmark's figure)."""
    from benchmarks.bench_forecast import mobility_gain

    assert mobility_gain(15.0) < 0.97
