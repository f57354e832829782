"""The terms of the endemic-epidemic model: which the model has (:class:`Spec`), their design
over a history (seasonal harmonics, trend, population offsets, neighbour weights, lags), and
the fitted estimates (:class:`EndemicFit`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from spreadwatch.forecast.coupling import normalised, power_law
from spreadwatch.forecast.history import History

Coupling = Literal["auto", "power-law", "adjacency", "mobility", "none"]


Component = Literal["end", "ar", "ne"]


#: Season length in periods when a spec gives none.
SEASON = {"week": 52.0, "day": 365.25}


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


def _covariance(information: np.ndarray) -> np.ndarray:
    """The inverse of the information; flat directions get a standard deviation of at most 1
    on the free scale."""
    eigenvalues, vectors = np.linalg.eigh(0.5 * (information + information.T))
    eigenvalues = np.maximum(eigenvalues, 1.0)
    return (vectors / eigenvalues) @ vectors.T
