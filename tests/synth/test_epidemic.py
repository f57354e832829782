"""The true epidemic (chain-binomial SEIR) and the reported cases against independent truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from spreadwatch.synth import EpidemicConfig, ReportingConfig, SynthConfig, telemetry
from spreadwatch.synth import epidemic as epi
from tests.synth.conftest import Run, make_run

# Long enough for thousands of infections; few subscribers keep it cheap.
LONG = SynthConfig(seed=5, subscribers=200, days=60)
# Everyone reported exactly 4 days after infection.
SHIFT = SynthConfig(
    seed=6,
    subscribers=50,
    days=30,
    reporting=ReportingConfig(fraction=1.0, delay_mean_days=4.0, delay_sd_days=0.05),
)


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> Run:
    return make_run(tmp_path_factory, LONG, "long")


def _wide(run: Run, column: str) -> pd.DataFrame:
    """``(dates, regions)`` table of one truth/epidemic column."""
    table = run.truth("epidemic")
    table["date"] = pd.to_datetime(table["date"])
    return table.pivot(index="date", columns="region_code", values=column)


def _cases(run: Run) -> pd.DataFrame:
    cases = pd.read_csv(
        run.root / "raw" / "cases.csv", dtype={"region_code": str}, parse_dates=["date"]
    )
    return cases.pivot(index="date", columns="region_code", values="confirmed")


def _delay_pmf(reporting: ReportingConfig) -> np.ndarray:
    """Gamma delay of the given mean and sd, rounded to whole days, truncated, renormalised."""
    mean, sd = reporting.delay_mean_days, reporting.delay_sd_days
    gamma = stats.gamma(a=(mean / sd) ** 2, scale=sd**2 / mean)
    pmf = [gamma.cdf(0.5)] + [
        gamma.cdf(k + 0.5) - gamma.cdf(k - 0.5) for k in range(1, reporting.max_delay_days + 1)
    ]
    return np.array(pmf) / sum(pmf)


def test_compartments_conserve_the_population(long_run, sigungu):
    population = sigungu.set_index("code")["population"]
    total = sum(_wide(long_run, c) for c in ("S", "E", "I", "R"))
    assert (total == population.loc[total.columns].to_numpy()[None, :]).all().all()
    for c in ("S", "E", "I", "R"):
        assert (_wide(long_run, c) >= 0).all().all()
    assert (_wide(long_run, "S").diff().iloc[1:] <= 0).all().all()
    assert (_wide(long_run, "R").diff().iloc[1:] >= 0).all().all()


def test_new_infections_are_the_fall_in_susceptibles(long_run, sigungu):
    population = sigungu.set_index("code")["population"]
    S, new = _wide(long_run, "S"), _wide(long_run, "new_infections")
    first = population.loc[S.columns].to_numpy() - S.iloc[0].to_numpy()
    assert (new.iloc[0].to_numpy() == first).all()
    assert (new.iloc[1:].to_numpy() == -S.diff().iloc[1:].to_numpy()).all()
    assert long_run.manifest.totals["true_infections"] == new.to_numpy().sum()
    assert new.to_numpy().sum() > 5000  # it did take off


def test_the_seed_region_is_infected_first(long_run):
    new = _wide(long_run, "new_infections")
    seed = LONG.epidemic.seed_region
    assert new.iloc[0][seed] == LONG.epidemic.seed_infections
    assert new.iloc[0].drop(seed).sum() == 0
    first_day = (new.cumsum() > 0).idxmax()
    reached = new.sum() > 0
    assert first_day[seed] == new.index[0]
    assert (first_day[reached].drop(seed) > new.index[0]).all()
    assert reached.sum() > 10  # and it spread along the commuting flows


def test_cases_never_precede_infections(long_run):
    new, cases = _wide(long_run, "new_infections"), _cases(long_run)
    assert list(cases.index) == list(new.index)
    assert (cases.cumsum() <= new.cumsum()).all().all()
    assert cases.to_numpy().sum() <= new.to_numpy().sum()
    assert long_run.manifest.totals["confirmed_cases"] == cases.to_numpy().sum()
    first_case = cases.sum(axis=1).gt(0).idxmax()
    first_infection = new.sum(axis=1).gt(0).idxmax()
    assert first_case > first_infection


def test_reported_cases_follow_the_delay_and_fraction(long_run):
    """National daily cases vs the expected convolution ``fraction * sum_k new[d - k] pmf[k]``;
    a delay off by one day (or a wrong fraction) fails the chi-square by far."""
    new = _wide(long_run, "new_infections").sum(axis=1).to_numpy()
    cases = _cases(long_run).sum(axis=1).to_numpy()
    pmf = _delay_pmf(LONG.reporting)
    f = LONG.reporting.fraction
    expected = np.array(
        [
            f * sum(new[d - k] * pmf[k] for k in range(len(pmf)) if d - k >= 0)
            for d in range(len(new))
        ]
    )
    # total: binomial-like around the expectation
    assert abs(cases.sum() - expected.sum()) < 4 * math.sqrt(expected.sum())
    keep = expected > 10
    assert keep.sum() > 20
    chi2 = (((cases - expected) ** 2) / expected)[keep].sum()
    assert stats.chi2.sf(chi2, keep.sum()) > 1e-3
    # the same statistic with the delay shifted by a day is far off
    for shift in (-1, 1):
        shifted = np.roll(expected, shift)
        chi2_shifted = (((cases - shifted) ** 2) / shifted)[keep][2:-2].sum()
        assert stats.chi2.sf(chi2_shifted, keep.sum() - 4) < 1e-6
    # infections old enough to be fully reported: the reported share is the fraction
    old = slice(0, len(new) - len(pmf))
    early = (new[old] * f).sum()
    assert cases.sum() >= 0.9 * early


def test_a_fixed_delay_reports_every_infection_exactly_that_late(tmp_path_factory):
    run = make_run(tmp_path_factory, SHIFT, "shift")
    new, cases = _wide(run, "new_infections"), _cases(run)
    assert (cases.iloc[:4] == 0).all().all()
    assert (cases.iloc[4:].to_numpy() == new.iloc[:-4].to_numpy()).all()


def test_delay_pmf_is_a_discretised_gamma():
    for reporting in (ReportingConfig(), ReportingConfig(delay_mean_days=9, max_delay_days=5)):
        pmf = epi.delay_pmf(reporting)
        np.testing.assert_allclose(pmf, _delay_pmf(reporting), atol=1e-12)
        assert pmf.size == reporting.max_delay_days + 1
    assert epi.delay_pmf(ReportingConfig())[:16] @ np.arange(16) == pytest.approx(5.0, abs=0.2)


def test_force_of_infection_by_brute_force():
    rng = np.random.default_rng(3)
    n = 6
    mixing = rng.dirichlet(np.ones(n), size=n)
    population = rng.integers(1000, 5000, n).astype(float)
    infectious = rng.integers(0, 50, n).astype(float)
    beta = 0.4
    got = epi.force_of_infection(mixing, beta, infectious, population)
    for i in range(n):
        h = 0.0
        for j in range(n):
            present = sum(mixing[k, j] * population[k] for k in range(n))
            sick = sum(mixing[k, j] * infectious[k] for k in range(n))
            h += mixing[i, j] * beta * sick / present
        assert got[i] == pytest.approx(h, rel=1e-12)


def test_early_growth_matches_r0():
    """One big well-mixed region: infections per infectious person-day are ``beta``, and
    ``beta * mean infectious days`` is ``r0``."""
    config = EpidemicConfig(r0=2.0, seed_infections=2000, seed_region="11010")
    population = np.array([10**9])
    days = 25
    run = epi.simulate(config, population, [np.ones((1, 1))] * days, 0, np.random.default_rng(1))
    infectious_days = run.I[:-1, 0].sum()
    caused = run.new_infections[1:, 0].sum()
    beta = epi.transmission_rate(config)
    assert caused / infectious_days == pytest.approx(beta, rel=0.02)
    # the daily chances to leave E and I are 1 / the configured mean days (so beta * days = r0)
    recovered = np.diff(run.R[:, 0])
    assert recovered.sum() / run.I[:-1, 0].sum() == pytest.approx(
        1 / config.infectious_days, rel=0.02
    )
    onsets = np.diff(run.I[:, 0]) + recovered
    assert onsets.sum() / run.E[:-1, 0].sum() == pytest.approx(1 / config.latent_days, rel=0.02)
    nothing = epi.simulate(
        config.model_copy(update={"r0": 0.0}),
        population,
        [np.ones((1, 1))] * 5,
        0,
        np.random.default_rng(1),
    )
    assert nothing.new_infections[1:].sum() == 0


def test_households_fall_ill_with_their_regions_incidence():
    """A household of ``size`` people in region ``r`` is infected on day ``d`` with probability
    ``1 - (1 - new[d, r] / N_r) ** size`` (first success only)."""
    n = 30_000
    region = np.repeat(np.arange(3), n)
    size = np.tile(np.arange(1, 4), n)
    homes = telemetry.Households(
        platforms=("p",),
        platform=np.zeros(3 * n, dtype=np.int64),
        household_id=pa.nulls(3 * n, pa.string()),
        carrier=np.full(3 * n, "A", dtype=object),
        subscriber_id=pa.nulls(3 * n, pa.string()),
        region=region,
        size=size,
        consent=np.ones(3 * n, dtype=bool),
        commuter=np.zeros(3 * n, dtype=bool),
        has_device=np.ones((len(telemetry.KINDS), 3 * n), dtype=bool),
        device_id=pa.nulls(len(telemetry.KINDS) * 3 * n, pa.string()),
        infected_day=np.full(3 * n, -1),
    )
    population = np.array([1000, 1000, 1000])
    new = np.array([[0, 100, 0], [0, 100, 500]])
    ill = telemetry.infect(homes, new, population, np.random.default_rng(0)).infected_day
    assert (ill[region == 0] == -1).all()
    assert (ill[region == 2] != 0).all()
    for k in (1, 2, 3):
        day0 = ill[(region == 1) & (size == k)] == 0
        p = 1 - 0.9**k
        assert abs(day0.mean() - p) < 4 * math.sqrt(p * (1 - p) / day0.size)
        day1 = ill[(region == 2) & (size == k)] == 1
        p = 1 - 0.5**k
        assert abs(day1.mean() - p) < 4 * math.sqrt(p * (1 - p) / day1.size)
