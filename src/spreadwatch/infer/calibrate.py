"""Calibration of a run config to reported cases by a sequential Monte Carlo sampler.

Parameters: ``r0`` (transmission), ``seed_scale`` (multiplier of the config's seeds),
``reporting_fraction`` and ``reporting_delay`` (mean days from infection to report), the
negative-binomial ``dispersion`` of the counts and, with ``[calibration] change_date``,
``change_factor``: transmission from that date on relative to before (a measure's effect).
Observation model, per region ``i`` and day::

    reported[t, i] ~ NegBin(mean = rho * sum_d g_d incidence[t - d, i], size = dispersion)

where ``g`` is a discretised gamma of mean ``reporting_delay`` and shape 2, and ``incidence``
comes from the deterministic chain (the mean of the stochastic engine) of the config's model.

The sampler (likelihood tempering, Del Moral, Doucet & Jasra 2006): particles from the prior,
the likelihood raised to a power that grows from 0 to 1 in steps keeping the effective sample
size at half the particles, each step followed by resampling and random-walk Metropolis moves
in unconstrained coordinates. Every likelihood evaluation runs all particles at once, one
particle per parameter set, through the vectorised engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
from scipy import special, stats

from spreadwatch.infer.cases import CaseSeries
from spreadwatch.model.config import CALIBRATION_PARAMETERS
from spreadwatch.model.ensemble import run_parameter_sets
from spreadwatch.model.run import Scenario, chain_engine
from spreadwatch.progress import meter

PARAMETERS = CALIBRATION_PARAMETERS
DELAY_SHAPE = 2.0
#: Most Metropolis rounds after one tempering step.
MAX_MOVES = 30
MAX_DELAY_DAYS = 30


@dataclass(frozen=True)
class Prior:
    """Uniform or log-uniform on ``[low, high]``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"a prior needs finite low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError("a log-uniform prior needs low > 0")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.log:
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), size))
        return rng.uniform(self.low, self.high, size)

    def to_free(self, x: np.ndarray) -> np.ndarray:
        """Unconstrained coordinate (logit of the position in the interval)."""
        lo, hi, v = (
            (np.log(self.low), np.log(self.high), np.log(x))
            if self.log
            else (self.low, self.high, x)
        )
        u = np.clip((v - lo) / (hi - lo), 1e-12, 1 - 1e-12)
        return special.logit(u)

    def from_free(self, z: np.ndarray) -> np.ndarray:
        u = special.expit(z)
        if self.log:
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)

    def log_jacobian(self, z: np.ndarray) -> np.ndarray:
        """log |dx/dz| up to a constant: the uniform prior's density in ``z``."""
        return -np.logaddexp(0, z) - np.logaddexp(0, -z)


DEFAULT_PRIORS: dict[str, Prior] = {
    "r0": Prior(0.8, 6.0),
    "seed_scale": Prior(0.1, 10.0, log=True),
    "reporting_fraction": Prior(0.05, 1.0),
    "reporting_delay": Prior(0.5, 14.0),
    "dispersion": Prior(1.0, 1000.0, log=True),
    "change_factor": Prior(0.05, 1.5),
}


def delay_weights(mean: np.ndarray) -> np.ndarray:
    """Discretised gamma (shape 2) of each ``mean``: ``(len(mean), MAX_DELAY_DAYS + 1)``,
    day ``d`` holding the mass of ``(d - 1/2, d + 1/2]`` (day 0: ``[0, 1/2]``)."""
    edges = np.concatenate([[0.0], np.arange(MAX_DELAY_DAYS + 1) + 0.5])
    scale = np.asarray(mean, dtype=np.float64)[:, None] / DELAY_SHAPE
    cdf = stats.gamma.cdf(edges[None, :], DELAY_SHAPE, scale=scale)
    mass = np.diff(cdf, axis=1)
    return mass / mass.sum(axis=1, keepdims=True)


def reported_mean(incidence: np.ndarray, fraction: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """Expected reports ``(particles, days, regions)`` from infections of the same shape."""
    weights = delay_weights(delay)  # (particles, D + 1)
    out = np.zeros_like(incidence)
    days = incidence.shape[1]
    for d in range(min(weights.shape[1], days)):
        out[:, d:] += weights[:, d, None, None] * incidence[:, : days - d]
    return out * np.asarray(fraction)[:, None, None]


@numba.njit(parallel=True, cache=True)
def _negbin_loglik(
    incidence: np.ndarray,
    weights: np.ndarray,
    fraction: np.ndarray,
    size: np.ndarray,
    observed: np.ndarray,
    mask: np.ndarray,
) -> np.ndarray:
    """Per particle: sum over observed (day, region) of log NegBin(observed; mean, size)
    without the ``-log(y!)`` term, the mean being the delayed, thinned incidence."""
    particles, days, regions = incidence.shape
    lags = weights.shape[1]
    out = np.zeros(particles)
    for p in numba.prange(particles):
        k = size[p]
        total = 0.0
        row = np.empty(regions)
        for t in range(days):
            row[:] = 0.0
            for d in range(min(lags, t + 1)):
                w = weights[p, d]
                for i in range(regions):
                    row[i] += w * incidence[p, t - d, i]
            for i in range(regions):
                if not mask[t, i]:
                    continue
                mean = max(row[i] * fraction[p], 1e-10)
                y = observed[t, i]
                if y < 16.0:  # log Gamma(y + k) - log Gamma(k) as a short sum
                    ratio = 0.0
                    for j in range(int(y)):
                        ratio += math.log(k + j)
                else:
                    ratio = math.lgamma(y + k) - math.lgamma(k)
                total += ratio + k * math.log(k / (k + mean)) + y * math.log(mean / (k + mean))
        out[p] = total
    return out


def negbin_logpmf(y: np.ndarray, mean: np.ndarray, size: np.ndarray) -> np.ndarray:
    """log NegBin(y; mean, size), elementwise (``size`` broadcast over the trailing axes)."""
    mean = np.maximum(mean, 1e-10)
    return (
        special.gammaln(y + size)
        - special.gammaln(size)
        - special.gammaln(y + 1)
        + size * np.log(size / (size + mean))
        + y * np.log(mean / (size + mean))
    )


@dataclass(frozen=True, eq=False)
class CalibrationProblem:
    """A scenario (the config's model and timeline), reported cases on its days and regions,
    and the priors of the free parameters (the others fixed at ``fixed``)."""

    scenario: Scenario
    observed: np.ndarray
    """Reported cases ``(days, regions)`` of the run (0 where ``mask`` is false)."""
    mask: np.ndarray
    """Which (day, region) counts are observed."""
    priors: dict[str, Prior]
    fixed: dict[str, float] = field(default_factory=dict)
    steps_per_day: int = 2

    @property
    def names(self) -> list[str]:
        return list(self.priors)

    def value(self, theta: dict[str, np.ndarray], name: str, size: int) -> np.ndarray:
        if name in theta:
            return theta[name]
        return np.full(size, self.fixed[name], dtype=np.float64)

    def incidence(self, theta: dict[str, np.ndarray]) -> np.ndarray:
        """New infections ``(particles, days, regions)`` of each parameter set (the chain's
        mean, ``steps_per_day`` steps a day)."""
        size = len(next(iter(theta.values())))
        engine = chain_engine(self.scenario.model, size, self.steps_per_day, stochastic=False)
        return run_parameter_sets(self.scenario, engine, theta, self.fixed)

    def log_likelihood(self, theta: dict[str, np.ndarray]) -> np.ndarray:
        size = len(next(iter(theta.values())))
        partial = _negbin_loglik(
            self.incidence(theta),
            delay_weights(self.value(theta, "reporting_delay", size)),
            self.value(theta, "reporting_fraction", size),
            self.value(theta, "dispersion", size),
            self.observed,
            self.mask,
        )
        return partial - special.gammaln(self.observed[self.mask] + 1).sum()


@dataclass(frozen=True)
class Posterior:
    """Equally weighted posterior draws by parameter, and the sampler's path."""

    draws: dict[str, np.ndarray]
    log_likelihood: np.ndarray
    temperatures: list[float]
    acceptance: list[float]
    log_evidence: float

    def interval(self, name: str, level: float = 0.9) -> tuple[float, float]:
        tail = (1 - level) / 2
        low, high = np.quantile(self.draws[name], [tail, 1 - tail])
        return float(low), float(high)


def calibrate(
    problem: CalibrationProblem,
    particles: int = 400,
    moves: float = 1.5,
    seed: int = 0,
    progress: str = "Calibrating (tempered SMC)",
) -> Posterior:
    """Sample the posterior of ``problem`` by tempered SMC (see the module docstring)."""
    rng = np.random.default_rng(seed)
    names = problem.names
    priors = [problem.priors[n] for n in names]
    z = np.column_stack([p.to_free(p.sample(rng, particles)) for p in priors])

    def parameters(free: np.ndarray) -> dict[str, np.ndarray]:
        return {n: problem.priors[n].from_free(free[:, j]) for j, n in enumerate(names)}

    def evaluate(free: np.ndarray) -> np.ndarray:
        return problem.log_likelihood(parameters(free))

    def log_prior(free: np.ndarray) -> np.ndarray:
        return sum(p.log_jacobian(free[:, j]) for j, p in enumerate(priors))

    loglik = evaluate(z)
    temperatures, acceptance, log_evidence = [0.0], [], 0.0
    phi = 0.0
    with meter(progress, 1.0) as update:
        while phi < 1.0:
            phi, z, loglik, evidence, accepted = _temper(
                phi, z, loglik, evaluate, log_prior, moves, rng
            )
            log_evidence += evidence
            temperatures.append(phi)
            acceptance.append(accepted)
            update(phi)
    return Posterior(parameters(z), loglik, temperatures, acceptance, log_evidence)


def _temper(
    phi: float,
    z: np.ndarray,
    loglik: np.ndarray,
    evaluate: Callable[[np.ndarray], np.ndarray],
    log_prior: Callable[[np.ndarray], np.ndarray],
    moves: float,
    rng: np.random.Generator,
) -> tuple[float, np.ndarray, np.ndarray, float, float]:
    """One tempering step: reweight, resample, move. Returns the new temperature, particles,
    log likelihoods, the step's log-evidence increment and the acceptance rate."""
    particles, dims = z.shape
    step = _next_increment(loglik, phi)
    weights = step * (loglik - loglik.max())
    evidence = step * loglik.max() + special.logsumexp(weights) - math.log(particles)
    phi = min(1.0, phi + step)
    index = _systematic_resample(np.exp(weights - special.logsumexp(weights)), rng)
    z, loglik = z[index], loglik[index]
    covariance = np.atleast_2d(np.cov(z.T)) + 1e-9 * np.eye(dims)
    scale = 2.38**2 / dims
    rates: list[float] = []
    # move until particles have moved ``moves`` times on average, tuning the step to about a
    # quarter of proposals accepted (at most MAX_MOVES rounds)
    while sum(rates) < moves and len(rates) < MAX_MOVES:
        proposal = z + rng.multivariate_normal(np.zeros(dims), scale * covariance, particles)
        proposed = evaluate(proposal)
        log_ratio = phi * (proposed - loglik) + log_prior(proposal) - log_prior(z)
        accept = np.log(rng.uniform(size=particles)) < log_ratio
        z, loglik = np.where(accept[:, None], proposal, z), np.where(accept, proposed, loglik)
        rates.append(float(accept.mean()))
        scale *= math.exp(rates[-1] - 0.25)
    return phi, z, loglik, evidence, float(np.mean(rates))


def _next_increment(loglik: np.ndarray, phi: float, target: float = 0.5) -> float:
    """The largest temperature step keeping the effective sample size at ``target`` of the
    particles (bisection on the log weights)."""

    def ess(step: float) -> float:
        w = step * (loglik - loglik.max())
        w = np.exp(w - special.logsumexp(w))
        return 1.0 / np.sum(w**2) / len(loglik)

    remaining = 1.0 - phi
    if ess(remaining) >= target:
        return remaining
    low, high = 0.0, remaining
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if ess(mid) >= target else (low, mid)
    return max(low, 1e-12)


def _systematic_resample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(weights)
    positions = (rng.uniform() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(weights), positions), n - 1)


def align_cases(series: CaseSeries, scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Reported cases on the run's days and regions, and the mask of observed counts.

    A region of the cases not among the model's is an error (``ValueError`` naming it)."""
    codes = scenario.regions.codes
    position = {c: i for i, c in enumerate(codes)}
    unknown = [r for r in series.regions if r not in position]
    if unknown:
        raise ValueError(
            f"cases name region {unknown[0]!r}, not among the {len(codes)} regions of the model"
        )
    run = scenario.config.run
    observed = np.zeros((run.days, len(codes)))
    mask = np.zeros((run.days, len(codes)), dtype=bool)
    offset = (series.start - run.start_date).days
    for j, region in enumerate(series.regions):
        first = max(0, offset)
        last = min(run.days - 1, offset + int(series.last[j]))
        if last < first:
            continue
        rows = np.arange(first, last + 1)
        observed[rows, position[region]] = series.counts[rows - offset, j]
        mask[rows, position[region]] = True
    if not mask.any():
        raise ValueError(
            f"no reported cases fall within the run ({run.start_date} to {run.date(run.days - 1)})"
        )
    return observed, mask


def posterior_predictive(
    problem: CalibrationProblem,
    posterior: Posterior,
    draws: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Simulated reported cases ``(draws, days, regions)`` from posterior parameter draws."""
    rng = np.random.default_rng(seed)
    size = len(next(iter(posterior.draws.values())))
    pick = rng.choice(size, size=min(draws, size), replace=False)
    theta = {n: v[pick] for n, v in posterior.draws.items()}
    count = len(pick)
    mean = reported_mean(
        problem.incidence(theta),
        problem.value(theta, "reporting_fraction", count),
        problem.value(theta, "reporting_delay", count),
    )
    dispersion = problem.value(theta, "dispersion", count)[:, None, None]
    p = dispersion / (dispersion + mean)
    return rng.negative_binomial(np.broadcast_to(dispersion, mean.shape), np.clip(p, 1e-12, 1))
