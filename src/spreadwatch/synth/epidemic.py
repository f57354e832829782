"""The true epidemic: a stochastic chain-binomial metapopulation SEIR, and case reporting.

Daily steps over regions ``i`` with residents ``N_i``. Residents of ``i`` spend the day in ``j``
with share ``M[i, j]`` (the true commuting matrix of that day), so the force of infection on a
resident of ``i`` is

    h_i = sum_j M_ij * beta * (sum_k M_kj I_k) / (sum_k M_kj N_k)

and each day, with all draws binomial and vectorised over regions:

    S -> E  with probability 1 - exp(-h_i)
    E -> I  with probability 1 / latent_days       (capped at 1)
    I -> R  with probability 1 / infectious_days   (capped at 1)

so that the mean latent and infectious periods are the configured days (as in the model's
continuous-time SEIR, whose r0 then means the same), and
``beta = r0 / infectious_days`` (times ``measure_transmission`` from
``measure_day`` on, when a measure is configured) so that ``r0`` is the expected number of
infections by one case in a fully susceptible population (the mean number of days infectious is
``1 / p_recover``). The seed infections start in ``E`` of the seed region on the first day and are
counted as that day's new infections, so ``sum(new_infections) == N - S`` at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from spreadwatch.synth.config import EpidemicConfig, ReportingConfig


@dataclass(frozen=True, eq=False)
class Epidemic:
    """Compartments at the end of each day and infections during it, shape ``(days, regions)``."""

    S: np.ndarray
    E: np.ndarray
    I: np.ndarray  # noqa: E741 - the compartment's name
    R: np.ndarray
    new_infections: np.ndarray


def daily_probability(mean_days: float) -> float:
    """The daily probability of leaving a state whose mean stay is ``mean_days`` (a geometric
    stay; at least a day)."""
    return min(1.0, 1.0 / mean_days)


def transmission_rate(config: EpidemicConfig) -> float:
    """Daily ``beta`` giving the configured ``r0`` in the discrete-time model."""
    return config.r0 * daily_probability(config.infectious_days)


def force_of_infection(
    mixing: np.ndarray, beta: float, infectious: np.ndarray, population: np.ndarray
) -> np.ndarray:
    """``h_i`` of every region for one day (see the module docstring)."""
    present = mixing.T @ population
    lam = beta * np.divide(
        mixing.T @ infectious, present, out=np.zeros_like(present, dtype=float), where=present > 0
    )
    return mixing @ lam


def simulate(
    config: EpidemicConfig,
    population: np.ndarray,
    mixing: Sequence[np.ndarray],
    seed_region: int,
    rng: np.random.Generator,
) -> Epidemic:
    """Run ``len(mixing)`` days; ``mixing[d]`` is the commuting matrix of day ``d``."""
    days, n = len(mixing), population.size
    beta = transmission_rate(config)
    p_onset = daily_probability(config.latent_days)
    p_recover = daily_probability(config.infectious_days)

    seeds = np.zeros(n, dtype=np.int64)
    seeds[seed_region] = min(config.seed_infections, int(population[seed_region]))
    S = population.astype(np.int64) - seeds
    E, I, R = seeds.copy(), np.zeros(n, np.int64), np.zeros(n, np.int64)  # noqa: E741
    out = {k: np.zeros((days, n), dtype=np.int64) for k in ("S", "E", "I", "R", "new")}
    for d in range(days):
        measured = config.measure_day is not None and d >= config.measure_day
        beta_d = beta * (config.measure_transmission if measured else 1.0)
        h = force_of_infection(mixing[d], beta_d, I.astype(float), population.astype(float))
        infected = rng.binomial(S, -np.expm1(-h))
        onset = rng.binomial(E, p_onset)
        recovered = rng.binomial(I, p_recover)
        S = S - infected
        E = E + infected - onset
        I = I + onset - recovered  # noqa: E741
        R = R + recovered
        for key, value in (("S", S), ("E", E), ("I", I), ("R", R), ("new", infected)):
            out[key][d] = value
    out["new"][0] += seeds
    return Epidemic(S=out["S"], E=out["E"], I=out["I"], R=out["R"], new_infections=out["new"])


def delay_pmf(reporting: ReportingConfig) -> np.ndarray:
    """Infection-to-report delay in whole days: a gamma of the configured mean and sd,
    discretised as ``P(k) = F(k + 0.5) - F(k - 0.5)`` (``F(0.5)`` for ``k = 0``), truncated at
    ``max_delay_days`` and renormalised."""
    shape = (reporting.delay_mean_days / reporting.delay_sd_days) ** 2
    scale = reporting.delay_sd_days**2 / reporting.delay_mean_days
    edges = np.concatenate([[0.0], np.arange(reporting.max_delay_days + 1) + 0.5])
    pmf = np.diff(stats.gamma.cdf(edges, shape, scale=scale))
    return pmf / pmf.sum()


def report(
    new_infections: np.ndarray, reporting: ReportingConfig, rng: np.random.Generator
) -> np.ndarray:
    """Confirmed cases by report day and region: each infection is reported with probability
    ``fraction`` after a delay drawn from :func:`delay_pmf`; reports after the window are lost."""
    days = new_infections.shape[0]
    reported = rng.binomial(new_infections, reporting.fraction)
    pmf = delay_pmf(reporting)
    by_delay = rng.multinomial(reported, pmf)  # (days, regions, delays)
    confirmed = np.zeros_like(new_infections)
    for delay in range(min(pmf.size, days)):  # one pass per delay, vectorised over days x regions
        confirmed[delay:] += by_delay[: days - delay, :, delay]
    return confirmed
