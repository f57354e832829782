"""The endemic-epidemic model of the ``hhh4`` class (Held, Höhle & Hofmann 2005; Paul & Held
2011; Meyer & Held 2014; Meyer, Held & Höhle 2017), fitted by maximum likelihood with analytic
gradients::

    Y[t, i] ~ NegBin(mu[t, i], size)          (size shared, or one per region)
    mu[t, i] = f(t) * (e_i nu[t, i] + lambda[t, i] Y[t-1, i] + phi[t, i] sum_j w[j, i] Y[t-1, j])

    log nu[t, i]     = a + b t + sum_s (g_s sin(2 pi s t / P) + h_s cos(2 pi s t / P)) [+ a_i]
    log lambda[t, i] = c [+ harmonics] [+ c_i]
    log phi[t, i]    = d [+ p log e_i] [+ harmonics] [+ d_i]

with ``e_i`` the population fraction (an offset of the endemic part), ``w`` the neighbour
weights (a power law ``o^-k`` of the neighbourhood order ``o`` estimated with the rest, first
neighbours only, or measured mobility), ``f`` weekday factors for daily data and ``t`` the
period's index from 0. Region effects ``a_i``, ``c_i``, ``d_i`` are penalised deviations with
a fixed standard deviation (a ridge, the fixed-variance cousin of hhh4's random intercepts).
With the same terms, the estimates are those of ``surveillance::hhh4`` (tested).

Forecasts are paths simulated forward from the maximum-likelihood parameters, as hhh4's
``simulate`` does (``parameter_uncertainty=True`` draws them from the Laplace approximation
instead: on the real data sets of the benchmark that widened the forecasts beyond what the
outcomes supported); a period's count never exceeds the region's population.

The autoregressive and neighbour parts may pass on a distribution of lags (Bracher & Held
2020): ``lags`` fixes its weights, or, unset, the fit takes the geometric distribution of
:func:`lag_candidates` with the highest likelihood.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import special

from spreadwatch.forecast.coupling import normalised, power_law
from spreadwatch.forecast.history import History

Coupling = Literal["auto", "power-law", "adjacency", "mobility", "none"]
Component = Literal["end", "ar", "ne"]
#: Season length in periods when a spec gives none.
SEASON = {"week": 52.0, "day": 365.25}
#: Days of data from which daily forecasts have weekday effects.
WEEKDAY_FROM = 28
#: A total's 95% upper bound may reach this many times the highest total yet (grown at the
#: data's fastest rate) before the model falls back to simpler terms.
CEILING_FACTOR = 5.0
#: Largest mean a simulated path may take (keeps runaway parameter draws finite).
MAX_MEAN = 1e9
_SIZE_BOUNDS = (-30.0, 15.0)


@dataclass(frozen=True)
class Spec:
    """Which terms the model has. ``coupling="auto"`` takes measured mobility when the history
    has it, else a power law of neighbourhood orders, else none."""

    end_harmonics: int = 1
    epi_harmonics: int = 0
    trend: bool = True
    neighbour_log_population: bool = True
    coupling: Coupling = "auto"
    max_lag: int = 5
    dispersion: Literal["shared", "region"] = "shared"
    region_effects: tuple[Component, ...] = ()
    region_sd: float = 1.0
    size_sd: float | None = None
    lags: tuple[float, ...] | None = (1.0,)
    parameter_uncertainty: bool = False
    period: float | None = None
    weekday: bool = True
    epidemic: bool = True
    change: bool = True
    """A step in the epidemic parts from the history's known change (a measure) on, when it
    has one (as hhh4 users add an intervention covariate)."""

    def describe(self) -> str:
        parts = [f"endemic {self.end_harmonics} harmonic(s)" + (" + trend" if self.trend else "")]
        if not self.epidemic:
            return parts[0] + f", {self.dispersion} dispersion (no epidemic part)"
        if self.epi_harmonics:
            parts.append(f"epidemic {self.epi_harmonics} harmonic(s)")
        parts.append(f"coupling {self.coupling}")
        if self.region_effects:
            parts.append("region effects in " + "/".join(self.region_effects))
        parts.append(f"{self.dispersion} dispersion")
        return ", ".join(parts)


@dataclass(frozen=True)
class EndemicFit:
    """Maximum-likelihood estimates (free scale: logs of rates), how the fit went, and their
    approximate covariance (computed when first asked for: a fit among lag candidates, or one
    forecast from its estimates, never needs it)."""

    theta: np.ndarray
    names: tuple[str, ...]
    log_likelihood: float
    converged: bool
    message: str = ""
    lags: tuple[float, ...] = (1.0,)
    information: Callable[[], np.ndarray] = field(default=lambda: np.eye(0), repr=False)

    @functools.cached_property
    def covariance(self) -> np.ndarray:
        return _covariance(self.information())

    def values(self) -> dict[str, float]:
        return dict(zip(self.names, map(float, self.theta), strict=True))

    def standard_errors(self) -> dict[str, float]:
        return dict(zip(self.names, map(float, np.sqrt(np.diag(self.covariance))), strict=True))


@dataclass
class _Terms:
    """The design of one component: time covariates ``(periods, K)`` and its parameters'
    positions in the parameter vector."""

    time: np.ndarray
    shared: slice
    region: slice | None = None
    log_population: int | None = None


@dataclass
class _Design:
    history: History
    spec: Spec
    horizon: int
    names: list[str] = field(default_factory=list)
    bounds: list[tuple[float, float]] = field(default_factory=list)
    terms: dict[str, _Terms] = field(default_factory=dict)
    weekday: slice | None = None
    decay: int | None = None
    size: slice = field(default_factory=lambda: slice(0))
    orders: np.ndarray | None = None
    weights: np.ndarray | None = None
    penalty: np.ndarray | None = None

    def add(self, names: list[str], low: float = -np.inf, high: float = np.inf) -> slice:
        start = len(self.names)
        self.names += names
        self.bounds += [(low, high)] * len(names)
        return slice(start, len(self.names))


def _harmonics(k: np.ndarray, count: int, period: float) -> list[np.ndarray]:
    out = []
    for s in range(1, count + 1):
        out += [np.sin(2 * np.pi * s * k / period), np.cos(2 * np.pi * s * k / period)]
    return out


def resolved(spec: Spec, history: History) -> Spec:
    """``spec`` with an automatic coupling replaced by what the history allows: measured
    mobility, else a power law of neighbourhood orders, else none."""
    if spec.coupling != "auto":
        return spec
    coupling = (
        "mobility"
        if history.mobility is not None
        else "power-law"
        if history.orders is not None
        else "none"
    )
    return dataclasses.replace(spec, coupling=coupling)


def _design(history: History, spec: Spec, horizon: int = 0) -> _Design:
    spec = resolved(spec, history)
    design = _Design(history, spec, horizon)
    k = np.arange(history.periods + horizon, dtype=np.float64)
    period = spec.period or SEASON[history.unit]
    regions = history.regions
    coupling = spec.coupling
    if coupling == "mobility" and history.mobility is None:
        raise ValueError("coupling by mobility needs measured flows (--od)")
    if coupling in ("power-law", "adjacency") and history.orders is None:
        raise ValueError(f"coupling by {coupling} needs neighbours (--adjacency)")
    if coupling == "mobility":
        design.weights = history.mobility
    elif coupling == "adjacency":
        design.weights = normalised(history.orders == 1)
    elif coupling == "power-law":
        design.orders = history.orders
    change = history.change_period() if spec.change else None
    components = ["end"]
    if spec.epidemic:
        components += ["ar"] + ([] if coupling == "none" else ["ne"])
    else:
        design.orders = design.weights = None
    for component in components:
        columns = [np.ones_like(k)]
        labels = ["1"]
        if component == "end" and spec.trend:
            columns.append(k)
            labels.append("t")
        count = spec.end_harmonics if component == "end" else spec.epi_harmonics
        columns += _harmonics(k, count, period)
        labels += [f"{f}({s})" for s in range(1, count + 1) for f in ("sin", "cos")]
        if component != "end" and change is not None:
            columns.append((k >= change).astype(np.float64))  # in force through the forecast
            labels.append("change")
        terms = _Terms(np.column_stack(columns), design.add([f"{component}.{x}" for x in labels]))
        if component == "ne" and spec.neighbour_log_population:
            terms.log_population = design.add(["ne.log(pop)"]).start
        if component in spec.region_effects:
            terms.region = design.add([f"{component}.{r}" for r in regions], -10.0, 10.0)
        design.terms[component] = terms
    if design.orders is not None:
        design.decay = design.add(["ne.log(decay)"], -5.0, 4.0).start
    if history.unit == "day" and spec.weekday:
        design.weekday = design.add([f"weekday{d}" for d in range(1, 7)], -3.0, 3.0)
    sizes = ["log(size)"] if spec.dispersion == "shared" else [f"log(size).{r}" for r in regions]
    design.size = design.add(sizes, *_SIZE_BOUNDS)
    return design


def draw_weights(design: _Design, thetas: np.ndarray) -> np.ndarray:
    """The power-law weights of each parameter draw ``(draws, regions, regions)``."""
    decay = np.exp(thetas[:, design.decay])
    return np.stack([power_law(design.orders, d, design.spec.max_lag)[0] for d in decay])


def lagged(counts: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """``sum_l weights[l-1] * counts[t - l + 1]`` along the periods axis (-2): what period
    ``t`` and the ones before pass on to period ``t + 1``; periods before the first count as
    the first."""
    if len(weights) == 1:
        return counts
    out = np.zeros_like(counts, dtype=np.float64)
    periods = counts.shape[-2]
    for lag, weight in enumerate(weights):
        before = min(lag, periods)
        shifted = np.concatenate(
            [np.repeat(counts[..., :1, :], before, axis=-2), counts[..., : periods - before, :]],
            axis=-2,
        )
        out += weight * shifted
    return out


def lagged_growth(rate: float, weights: tuple[float, ...]) -> float:
    """The growth factor per period ``r`` of counts each passing ``rate`` times their lagged
    mean on: the root of ``r = rate * sum_l weights[l-1] r^(1-l)`` (``rate`` itself for one
    lag; closer to 1 the longer the lags)."""
    if len(weights) == 1 or rate <= 0:
        return float(rate)
    u = np.asarray(weights)
    powers = np.arange(len(u))
    low, high = 1e-9, max(rate, 1.0)
    for _ in range(100):  # bisection: r - rate * sum u r^-l rises in r
        middle = 0.5 * (low + high)
        if middle - rate * float(u @ middle ** (-powers)) > 0:
            high = middle
        else:
            low = middle
    return 0.5 * (low + high)


class _Evaluation:
    """Components of ``mu`` at periods ``k`` for one parameter vector (or a batch)."""

    def __init__(
        self,
        design: _Design,
        theta: np.ndarray,
        k: np.ndarray,
        previous: np.ndarray,
        stacked: np.ndarray | None = None,
    ):
        """``stacked``: each draw's power-law weights, when ``theta`` holds several draws
        (computed once for all periods)."""
        with np.errstate(over="ignore", invalid="ignore"):
            self._compute(design, theta, k, previous, stacked)

    def _compute(
        self,
        design: _Design,
        theta: np.ndarray,
        k: np.ndarray,
        previous: np.ndarray,
        stacked: np.ndarray | None,
    ) -> None:
        self.design = design
        history = design.history
        log_share = np.log(history.shares)
        theta = np.atleast_2d(theta)  # (D, P)
        self.theta = theta
        self.k = k
        self.previous = previous  # (D or 1, K, n)

        def predictor(name: str) -> np.ndarray:
            terms = design.terms[name]
            eta = (terms.time[k] @ theta[:, terms.shared].T).T[:, :, None]  # (D, K, 1)
            if terms.region is not None:
                eta = eta + theta[:, None, terms.region]
            if terms.log_population is not None:
                eta = eta + theta[:, terms.log_population, None, None] * log_share
            return eta

        self.endemic = np.exp(predictor("end") + log_share)
        self.lam = np.exp(predictor("ar")) if "ar" in design.terms else np.zeros((1, 1, 1))
        self.autoregressive = self.lam * previous
        self.neighbours = None
        self.weights = self.weights_derivative = None
        if "ne" in design.terms:
            self.phi = np.exp(predictor("ne"))
            if design.decay is not None:
                decay = np.exp(theta[:, design.decay])
                if decay.size == 1:
                    self.weights, self.weights_derivative = power_law(
                        design.orders, float(decay[0]), design.spec.max_lag
                    )
                    pressure = previous @ self.weights
                else:
                    if stacked is None:
                        stacked = draw_weights(design, theta)
                    pressure = np.einsum("dkj,dji->dki", previous, stacked)
            else:
                self.weights = design.weights
                pressure = previous @ self.weights
            self.neighbours = self.phi * pressure
        self.factor = 1.0
        if design.weekday is not None:
            weekday = (history.ends[0].weekday() + k) % 7
            effects = np.concatenate([np.zeros((theta.shape[0], 1)), theta[:, design.weekday]], 1)
            self.factor = np.exp(effects[:, weekday])[:, :, None]
        base = self.endemic + self.autoregressive
        if self.neighbours is not None:
            base = base + self.neighbours
        self.mean = self.factor * base
        self.size = np.exp(theta[:, design.size])[:, None, :]  # (D, 1, 1 or n)

    def epidemic_eigenvalue(self) -> float:
        """The largest modulus of the epidemic part's eigenvalues over the periods (the growth
        factor of a period's count without endemic cases; above 1 means growth)."""
        largest = 0.0
        lam = np.broadcast_to(self.lam[0], (len(self.k), self.endemic.shape[2]))
        # without epidemic harmonics every period has the same matrix: one is enough
        periods = len(self.k) if self.design.spec.epi_harmonics else 1
        for j in range(periods):
            matrix = np.diag(lam[j])
            if self.neighbours is not None and self.weights is not None:
                phi = np.broadcast_to(self.phi[0, j], lam[j].shape)
                matrix = matrix + phi[:, None] * self.weights.T
            largest = max(largest, float(np.max(np.abs(np.linalg.eigvals(matrix)))))
        return largest


def _derivatives(
    design: _Design, ev: _Evaluation, previous: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[tuple[slice, np.ndarray]]]:
    """``d mu / d theta`` in two parts: for the parameters shared by all regions (their
    positions, and ``(periods, regions, parameters)``), and for each block of region effects
    its slice and ``(periods, regions)`` (region ``i``'s effect moves only region ``i``)."""
    periods, n = ev.mean.shape[1:]
    regional = [t.region for t in design.terms.values() if t.region is not None]
    shared = np.ones(len(design.names), dtype=bool)
    for block in regional:
        shared[block] = False
    positions = np.flatnonzero(shared)
    column = np.full(len(design.names), -1)
    column[positions] = np.arange(positions.size)
    jacobian = np.zeros((periods, n, positions.size))
    factor = ev.factor[0] if design.weekday is not None else 1.0
    parts = {"end": ev.endemic[0]}
    if "ar" in design.terms:
        parts["ar"] = ev.autoregressive[0]
    if ev.neighbours is not None:
        parts["ne"] = ev.neighbours[0]
    log_share = np.log(design.history.shares)
    blocks = []
    for name, part in parts.items():
        terms = design.terms[name]
        scaled = np.broadcast_to(factor * part, (periods, n))
        jacobian[:, :, column[terms.shared]] = scaled[:, :, None] * terms.time[k][:, None, :]
        if terms.region is not None:
            blocks.append((terms.region, scaled))
        if terms.log_population is not None:
            jacobian[:, :, column[terms.log_population]] = scaled * log_share
    if design.decay is not None:
        pressure = previous @ ev.weights_derivative
        jacobian[:, :, column[design.decay]] = factor * ev.phi[0] * pressure
    if design.weekday is not None:
        weekday = (design.history.ends[0].weekday() + k) % 7
        for d in range(1, 7):
            jacobian[weekday == d, :, column[design.weekday.start + d - 1]] = ev.mean[0][
                weekday == d
            ]
    return positions, jacobian, blocks


class _Observed:
    """The counts a fit explains, with (for a shared size) their distinct values and how often
    each occurs: sums of ``f(y + size)`` over the cells then cost one call per distinct
    value."""

    def __init__(self, counts: np.ndarray, shared: bool):
        self.y = counts
        self.shared = shared
        self.values, self.times = np.unique(counts, return_counts=True)
        self.cells = counts.size if shared else counts.shape[0]

    def total(self, function, size: np.ndarray) -> np.ndarray:
        """``sum f(y + size)`` over all cells (shared size) or per region."""
        if self.shared:
            return self.times @ function(self.values + size.item())
        return function(self.y + size).sum(axis=0)

    def reduce(self, cells: np.ndarray) -> np.ndarray:
        return cells.sum() if self.shared else cells.sum(axis=0)


def _evaluate(
    design: _Design,
    theta: np.ndarray,
    observed: _Observed,
    previous: np.ndarray,
    k: np.ndarray,
    information: bool = False,
    gradient_too: bool = True,
) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """The penalised negative log likelihood (without the constant ``sum log y!``), its
    gradient (unless ``gradient_too`` is false) and, when asked, the Fisher information of the
    mean's parameters with the observed information of the dispersion (a positive definite
    scoring matrix whose inverse is the estimates' covariance)."""
    ev = _Evaluation(design, theta, k, previous[None])
    mu = np.maximum(ev.mean[0], 1e-300)
    size = ev.size[0]  # (1, 1) or (1, regions)
    y = observed.y
    log_size_mu = np.log(size + mu)
    penalty = _penalty(design)
    value = (
        observed.total(special.gammaln, size).sum()
        - observed.cells * special.gammaln(size).sum()
        + (size * (np.log(size) - log_size_mu)).sum()
        + (y * (np.log(mu) - log_size_mu)).sum()
        - 0.5 * float(theta @ penalty @ theta)
    )
    if not (gradient_too or information):
        return -float(value), None, None
    score = y / mu - (y + size) / (size + mu)  # d ll / d mu
    positions, jacobian, blocks = _derivatives(design, ev, previous, k)
    flat = jacobian.reshape(-1, positions.size)
    gradient = np.zeros(len(design.names))
    gradient[positions] = flat.T @ score.reshape(-1)
    for block, scaled in blocks:
        gradient[block] = (score * scaled).sum(axis=0)
    size_row = size[0] if not observed.shared else size.item()
    d_size = size_row * (
        observed.total(special.digamma, size)
        - observed.cells * special.digamma(size_row)
        + observed.reduce(np.log(size) + 1 - log_size_mu - (y + size) / (size + mu))
    )
    gradient[design.size] = d_size
    gradient -= penalty @ theta
    if not information:
        return -float(value), -gradient, None
    weight = size / (mu * (size + mu))
    fisher = penalty.copy()
    fisher[np.ix_(positions, positions)] += flat.T @ (flat * weight.reshape(-1)[:, None])
    for a, (block, scaled) in enumerate(blocks):
        cross = np.einsum("tik,ti->ki", jacobian, weight * scaled)
        fisher[positions, block] += cross
        fisher[block, positions] += cross.T
        for other, other_scaled in blocks[a:]:
            both = (weight * scaled * other_scaled).sum(axis=0)
            fisher[block, other] += np.diag(both)
            if other != block:
                fisher[other, block] += np.diag(both)
    trigamma = lambda x: special.polygamma(1, x)  # noqa: E731
    second = size_row**2 * (
        observed.total(trigamma, size)
        - observed.cells * trigamma(size_row)
        + observed.reduce(1 / size - 1 / (size + mu) - (mu - y) / (size + mu) ** 2)
    )
    index = np.arange(design.size.start, design.size.stop)
    fisher[index, index] += np.maximum(-(second + d_size), 1e-6)
    return -float(value), -gradient, fisher


def _penalty(design: _Design) -> np.ndarray:
    """The ridges' precision matrix: region effects shrunk to 0, and regions' dispersions
    (log sizes) shrunk to their mean."""
    if design.penalty is None:
        count = len(design.names)
        penalty = np.zeros((count, count))
        for terms in design.terms.values():
            if terms.region is not None:
                index = np.arange(terms.region.start, terms.region.stop)
                penalty[index, index] = 1.0 / design.spec.region_sd**2
        sizes = np.arange(design.size.start, design.size.stop)
        if sizes.size > 1 and design.spec.size_sd is not None:
            centre = np.eye(sizes.size) - 1.0 / sizes.size
            penalty[np.ix_(sizes, sizes)] = centre / design.spec.size_sd**2
        design.penalty = penalty
    return design.penalty


def block_solver(design: _Design):
    """A solver of the scoring equations that uses their structure: region ``i``'s effects
    meet only each other and the shared parameters, so the matrix is a small dense block, a
    border and one ``m x m`` block per region (a Schur complement instead of a dense solve
    of hundreds of unknowns). ``np.linalg.solve`` when there are no region effects."""
    blocks = [t.region for t in design.terms.values() if t.region is not None]
    if not blocks:
        return np.linalg.solve
    regional = np.stack([np.arange(b.start, b.stop) for b in blocks], axis=1)  # (n, m)
    shared = np.setdiff1d(np.arange(len(design.names)), regional.ravel())
    n, m = regional.shape

    def solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        a_block = matrix[np.ix_(shared, shared)]
        border = matrix[np.ix_(shared, regional.ravel())].reshape(shared.size, n, m)
        inverse = np.linalg.inv(matrix[regional[:, :, None], regional[:, None, :]])  # (n,m,m)
        inverse_border = np.einsum("ipq,kiq->ipk", inverse, border)  # D^-1 B'
        schur = a_block - np.einsum("kip,ipl->kl", border, inverse_border)
        inverse_rhs = np.einsum("ipq,iq->ip", inverse, rhs[regional])
        x = np.linalg.solve(schur, rhs[shared] - np.einsum("kip,ip->k", border, inverse_rhs))
        out = np.empty_like(rhs)
        out[shared] = x
        out[regional] = inverse_rhs - np.einsum("ipk,k->ip", inverse_border, x)
        return out

    return solve


def _maximise(
    objective,
    start: np.ndarray,
    bounds: np.ndarray,
    tolerance: float = 1e-9,
    solve=np.linalg.solve,
):
    """Fisher scoring with step halving inside box bounds (a tiny ridge when the scoring
    matrix is singular): ``(theta, value, information, converged, message)``. Converged when
    a step gains less than ``tolerance`` relative to the value."""
    low, high = bounds
    theta = np.clip(start, low, high)
    value, gradient, fisher = objective(theta, True)
    for _ in range(200):
        ridge = 0.0
        while True:
            try:
                step = -solve(fisher + ridge * np.eye(theta.size), gradient)
                break
            except np.linalg.LinAlgError:
                ridge = max(10 * ridge, 1e-8 * float(np.max(np.diag(fisher), initial=1.0)))
        # shorter scoring steps, then Levenberg-damped ones (towards scaled steepest descent)
        diagonal = np.diag(np.maximum(np.diag(fisher), 1e-12))
        steps = itertools.chain(
            (step * 0.5**i for i in range(12)),
            (-solve(fisher + damping * diagonal, gradient) for damping in 10.0 ** np.arange(-2, 9)),
        )
        for candidate in steps:
            trial = np.clip(theta + candidate, low, high)
            trial_value = objective(trial, None)[0]
            if np.isfinite(trial_value) and trial_value <= value:
                break
        else:
            return theta, value, fisher, False, "no step lowers the negative log likelihood"
        gain = value - trial_value
        theta = trial
        value, gradient, fisher = objective(theta, True)
        if gain <= tolerance * (abs(value) + 1):
            return theta, value, fisher, True, ""
    return theta, value, fisher, False, "no convergence in 200 iterations"


def _start(design: _Design) -> np.ndarray:
    theta = np.zeros(len(design.names))
    y = design.history.counts
    level = max(float(y.mean()) * len(design.history.regions), 0.1)
    theta[design.terms["end"].shared.start] = np.log(0.5 * level)
    if "ar" in design.terms:
        theta[design.terms["ar"].shared.start] = np.log(0.5)
    if "ne" in design.terms:
        theta[design.terms["ne"].shared.start] = np.log(0.1)
    if design.decay is not None:
        theta[design.decay] = np.log(2.0)
    theta[design.size] = np.log(2.0)
    return theta


def geometric_lags(ratio: float, count: int) -> tuple[float, ...]:
    """Weights of lags ``1..count`` falling by ``ratio`` from one to the next, summing to 1."""
    weights = ratio ** np.arange(count)
    return tuple(float(w) for w in weights / weights.sum())


def lag_candidates(unit: str, periods: int | None = None) -> list[tuple[float, ...]]:
    """The lag distributions a fit chooses among: the period before alone, then geometric
    weights over four weeks or a week of days (Bracher & Held 2020's distributed lags), never
    longer than the data before the last period."""
    count = 4 if unit == "week" else 7
    if periods is not None and periods - 1 < count:
        return [(1.0,)]
    ratios = (0.3, 0.5, 0.7) if unit == "week" else (0.5, 0.7, 0.85)
    return [(1.0,), *(geometric_lags(r, count) for r in ratios)]


def _fit(
    history: History, spec: Spec, lags: tuple[float, ...], start: np.ndarray | None = None
) -> EndemicFit:
    design = _design(history, spec)
    observed = _Observed(history.counts[1:], spec.dispersion == "shared")
    previous = lagged(history.counts, lags)[:-1]
    k = np.arange(1, history.periods)

    def objective(theta: np.ndarray, information: bool | None) -> tuple:
        """``information``: True for all three, False for value and gradient, None for the
        value only."""
        return _evaluate(
            design, theta, observed, previous, k, bool(information), information is not None
        )

    # trial steps may overflow: their value is then not finite and the step is refused
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        theta, value, information, converged, message = _maximise(
            objective,
            _start(design) if start is None else start,
            np.array(design.bounds).T,
            solve=block_solver(design),
        )

    def observed_or_fisher() -> np.ndarray:
        if theta.size <= OBSERVED_INFORMATION_UP_TO:
            return _observed_information(lambda th: objective(th, False)[1], theta)
        return information

    constant = float(special.gammaln(observed.y + 1).sum())
    return EndemicFit(
        theta,
        tuple(design.names),
        -value - constant,
        converged,
        message,
        lags,
        observed_or_fisher,
    )


def automatic_spec(history: History) -> Spec:
    """The terms the data can carry: seasonality (one harmonic per whole season seen, up to
    three) and a trend from one whole season on (52 weeks, 365 days), region effects from 20
    periods on, weekday effects for daily data from four weeks on, lags chosen by the fit."""
    seasons = int(history.periods // SEASON[history.unit])
    season = seasons >= 1
    return resolved(
        Spec(
            end_harmonics=min(3, seasons),
            epi_harmonics=1 if season else 0,
            trend=season,
            region_effects=("end", "ar", "ne") if history.periods >= 20 else (),
            weekday=history.periods >= WEEKDAY_FROM,
            lags=None,
        ),
        history,
    )


def simpler_specs(spec: Spec) -> list[tuple[Spec, str]]:
    """The fallbacks after ``spec``, each with what it leaves out."""
    plain = dataclasses.replace(
        spec, end_harmonics=0, epi_harmonics=0, trend=False, region_effects=()
    )
    ladder = [
        (plain, "no seasonality, trend or region effects"),
        (dataclasses.replace(plain, coupling="none"), "no coupling between regions"),
        (dataclasses.replace(plain, coupling="none", epidemic=False), "endemic part only"),
    ]
    return [(s, why) for s, why in ladder if s != spec]


def observed_growth(history: History) -> float:
    """The largest growth factor per period of the total that the data show, over pairs of
    consecutive windows of a week (two periods for weekly data) with at least 5 cases in the
    first and 20 in the two (half a case added to each); 1 when no pair has that many or
    nothing grew. (An onset from nothing is no measure of growth.)"""
    total = history.counts.sum(axis=1)
    width = 7 if history.unit == "day" else 2
    sums = np.convolve(total, np.ones(width), mode="valid")
    before, after = sums[:-width], sums[width:]
    enough = (before >= 5) & (before + after >= 20)
    if not enough.any():
        return 1.0
    ratio = (after[enough] + 0.5) / (before[enough] + 0.5)
    return float(max(1.0, np.max(ratio) ** (1 / width)))


@dataclass(frozen=True)
class EndemicEpidemic:
    """The endemic-epidemic forecaster: :meth:`fit` for the estimates, :meth:`sample` for
    paths. Without a ``spec`` the terms are chosen from the data (:func:`automatic_spec`); a
    fit that does not converge, grows faster than the data ever did or reaches a region's
    population falls back to simpler terms, and the notes say so."""

    spec: Spec | None = None
    name: str = "endemic-epidemic"

    def fit(self, history: History, spec: Spec | None = None) -> EndemicFit:
        """The maximum-likelihood fit; with ``spec.lags`` unset, the lag distribution with the
        highest likelihood among :func:`lag_candidates` (each fit starts from the last)."""
        spec = spec or self.spec or automatic_spec(history)
        if spec.lags is not None:
            return _fit(history, spec, spec.lags)
        best = None
        for lags in lag_candidates(history.unit, history.periods):
            fit = _fit(history, spec, lags, None if best is None else best.theta)
            if best is None or fit.log_likelihood > best.log_likelihood:
                best = fit
        return best

    def growth(self, history: History, fit: EndemicFit, horizons: int, spec: Spec) -> float:
        """The growth factor per period of the epidemic part over the forecast periods: the
        largest eigenvalue of its matrix (times the weekdays' mean factor), spread over the
        fit's lags."""
        design = _design(history, spec, horizons)
        if "ar" not in design.terms:
            return 0.0
        k = np.arange(history.periods, history.periods + horizons)
        previous = np.ones((1, horizons, len(history.regions)))
        largest = _Evaluation(design, fit.theta, k, previous).epidemic_eigenvalue()
        if design.weekday is not None:
            effects = np.concatenate([[0.0], fit.theta[design.weekday]])
            largest *= float(np.exp(effects.mean()))  # the weekdays' geometric mean factor
        return lagged_growth(largest, fit.lags)

    def sample(
        self,
        history: History,
        horizons: int,
        draws: int,
        rng: np.random.Generator,
        notes: list[str] | None = None,
    ) -> np.ndarray:
        """Paths ``(draws, horizons, regions)`` of future counts, from the first spec of the
        ladder whose fit passes the checks (the last one is used whatever happens)."""
        spec = resolved(self.spec, history) if self.spec else automatic_spec(history)
        ladder = [(spec, ""), *simpler_specs(spec)]
        limit = observed_growth(history)
        peak = max(float(history.counts.sum(axis=1).max()), 2.0)
        for rung, (candidate, _) in enumerate(ladder):
            last = rung == len(ladder) - 1
            try:
                fit = self.fit(history, candidate)
            except (ValueError, np.linalg.LinAlgError) as exc:
                if last:
                    raise ValueError(f"no fit of the simplest terms ({exc})") from exc
                problem = str(exc)
            else:
                problem = ""
                if not fit.converged:
                    problem = f"the fit did not converge ({fit.message})"
                else:
                    growth = self.growth(history, fit, horizons, candidate)
                    if growth > limit * 1.05:
                        seen = (
                            f"faster than the data ever grew ({limit:.2f})"
                            if limit > 1
                            else "while the data show no measurable growth (no week with 5 "
                            "cases before a rise)"
                        )
                        problem = (
                            f"its epidemic part grows {growth:.2f}-fold a {history.unit}, {seen}"
                        )
                if not problem or last:
                    paths, capped = _simulate(history, candidate, fit, horizons, draws, rng)
                    upper = np.quantile(paths.sum(axis=2), 0.95, axis=0)
                    ceiling = CEILING_FACTOR * peak * limit ** np.arange(1, horizons + 1)
                    if last:
                        return paths
                    if capped:
                        problem = "its paths reach the population of " + ", ".join(capped[:5])
                    elif (upper > ceiling).any():
                        h = int(np.argmax(upper > ceiling))
                        problem = (
                            f"its 95% bound for the total reaches {upper[h]:,.0f} at horizon "
                            f"{h + 1}, beyond {CEILING_FACTOR:g} times the highest total yet "
                            f"({peak:,.0f}) grown at the data's fastest rate"
                        )
                    else:
                        return paths
            if notes is not None:
                following = ladder[rung + 1][1] if not last else "nothing simpler"
                notes.append(f"{self.name}: {candidate.describe()}: {problem}; using {following}")
        raise AssertionError("unreachable")  # pragma: no cover


#: Share of a region's paths at its population that sends the model to simpler terms.
CAPPED_SHARE = 0.05


def _simulate(
    history: History,
    spec: Spec,
    fit: EndemicFit,
    horizons: int,
    draws: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[str]]:
    """Paths ``(draws, horizons, regions)`` with parameters drawn from the fit's Laplace
    approximation, each period's count at most the region's population; and the regions whose
    paths reach it more than :data:`CAPPED_SHARE` of the time."""
    design = _design(history, spec, horizons)
    if spec.parameter_uncertainty:
        thetas = rng.multivariate_normal(fit.theta, fit.covariance, size=draws, method="eigh")
        low, high = np.array(design.bounds).T
        thetas = np.clip(thetas, low, high)
    else:
        thetas = np.broadcast_to(fit.theta, (draws, fit.theta.size))
    n = len(history.regions)
    cap = history.population if history.population is not None else np.full(n, np.inf)
    out = np.empty((draws, horizons, n))
    # a power law's weights differ by draw: take the draws in batches of bounded memory
    varies = design.decay is not None and spec.parameter_uncertainty
    batch = max(1, int(4e6 // (n * n))) if varies else draws
    for first in range(0, draws, batch):
        chosen = thetas[first : first + batch]
        stacked = None
        if design.decay is not None:
            stacked = (
                draw_weights(design, chosen)
                if varies
                else np.broadcast_to(draw_weights(design, chosen[:1]), (len(chosen), n, n))
            )
        tail = history.counts[-len(fit.lags) :]
        recent = np.broadcast_to(tail, (len(chosen), *tail.shape))
        for h in range(horizons):
            k = np.array([history.periods + h])
            so_far = np.concatenate([recent, out[first : first + batch, :h]], axis=1)
            previous = lagged(so_far[:, -len(fit.lags) :], fit.lags)[:, -1:]
            ev = _Evaluation(design, chosen, k, previous, stacked)
            mean = np.minimum(ev.mean[:, 0], np.minimum(MAX_MEAN, cap))
            size = np.broadcast_to(ev.size[:, 0], mean.shape)
            counts = rng.negative_binomial(size, size / (size + mean)).astype(np.float64)
            out[first : first + batch, h] = np.minimum(counts, cap)
    reached = (out >= cap).mean(axis=0).max(axis=0) > CAPPED_SHARE
    return out, [history.regions[i] for i in np.flatnonzero(reached)]


#: Up to this many parameters the covariance is the inverse of the observed information
#: (as hhh4's); beyond, of the Fisher information (the observed one would cost two gradients
#: per parameter).
OBSERVED_INFORMATION_UP_TO = 60


def _observed_information(gradient, theta: np.ndarray) -> np.ndarray:
    """The Hessian of the negative log likelihood by central differences of its analytic
    gradient."""
    k = theta.size
    hessian = np.empty((k, k))
    for i in range(k):
        step = 1e-5 * max(1.0, abs(theta[i]))
        e = np.zeros(k)
        e[i] = step
        hessian[i] = (gradient(theta + e) - gradient(theta - e)) / (2 * step)
    return 0.5 * (hessian + hessian.T)


def _covariance(information: np.ndarray) -> np.ndarray:
    """The inverse of the information; flat directions get a standard deviation of at most 1
    on the free scale."""
    eigenvalues, vectors = np.linalg.eigh(0.5 * (information + information.T))
    eigenvalues = np.maximum(eigenvalues, 1.0)
    return (vectors / eigenvalues) @ vectors.T
