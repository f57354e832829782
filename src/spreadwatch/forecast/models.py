"""Forecasting models: each turns a :class:`History` into sample paths of future counts.

``sample(history, horizons, draws, rng)`` returns ``(draws, horizons, regions + 1)``: every
region, then the total of all regions.

* :class:`Baseline`: the Forecast Hubs' baseline. The median is the last value; uncertainty
  comes from the last 60 one-step changes, symmetrised, summed over the horizon (centred so the
  median stays the last value), and truncated at zero. The total is forecast the same way from
  its own series.
* :class:`EndemicEpidemic`: the negative-binomial endemic-epidemic model of Held, Höhle &
  Hofmann (2005) and Meyer, Held & Höhle (2017), as R's ``surveillance::hhh4``::

      Y[t, i] ~ NegBin(mu[t, i], size)
      mu[t, i] = f_dow(t) * (lambda Y[t-1, i] + phi sum_j w[j, i] Y[t-1, j]
                             + e_i exp(a + b t))

  with an autoregressive, a spatial (neighbours or mobility weights ``w``) and an endemic part
  (population shares ``e_i``, log-linear trend), and weekday factors for daily data. Fitted by
  maximum likelihood; paths are simulated forward with parameters drawn from the Laplace
  approximation of the likelihood, so the parameters' uncertainty is part of the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from spreadwatch.forecast.history import History
from spreadwatch.infer.calibrate import negbin_logpmf

#: One-step changes the baseline uses (the last ones).
BASELINE_WINDOW = 60


@dataclass(frozen=True)
class Baseline:
    name: str = "baseline"

    def sample(
        self, history: History, horizons: int, draws: int, rng: np.random.Generator
    ) -> np.ndarray:
        series = np.column_stack([history.counts, history.counts.sum(axis=1)])
        changes = np.diff(series[-(BASELINE_WINDOW + 1) :], axis=0)
        if changes.shape[0] == 0:
            changes = np.zeros((1, series.shape[1]))
        symmetric = np.concatenate([changes, -changes])  # (2m, L)
        pick = rng.integers(0, symmetric.shape[0], size=(draws, horizons, series.shape[1]))
        change = np.cumsum(symmetric[pick, np.arange(series.shape[1])], axis=1)
        change -= np.median(change, axis=0)  # the median is the last value, exactly
        return np.maximum(series[-1] + change, 0.0)


@dataclass(frozen=True)
class EndemicEpidemicFit:
    """Maximum-likelihood parameters (free scale) and their approximate covariance."""

    theta: np.ndarray
    covariance: np.ndarray
    names: tuple[str, ...]
    log_likelihood: float

    def values(self) -> dict[str, float]:
        """Parameters on their natural scale (rates and size exponentiated)."""
        out = {}
        for name, value in zip(self.names, self.theta, strict=True):
            natural = name.startswith("log_")
            out[name.removeprefix("log_") if natural else name] = (
                float(np.exp(value)) if natural else float(value)
            )
        return out


#: Largest mean a path may take (keeps runaway parameter draws finite).
MAX_MEAN = 1e9
#: Search bounds of the free parameters (weekday effects: -3 to 3).
_BOUNDS = {
    "log_lambda": (-12.0, float(np.log(3.0))),  # more than 3 cases per case and period: no fit
    "log_phi": (-12.0, float(np.log(3.0))),
    "log_endemic": (-12.0, 20.0),
    "trend": (-10.0, 10.0),
    "log_size": (-5.0, 12.0),
}


@dataclass(frozen=True)
class EndemicEpidemic:
    name: str = "endemic-epidemic"

    def _names(self, history: History) -> tuple[str, ...]:
        names = ["log_lambda", "log_endemic", "trend", "log_size"]
        if history.weights is not None:
            names.insert(1, "log_phi")
        if history.unit == "day":
            names += [f"dow{d}" for d in range(1, 7)]
        return tuple(names)

    def _mean(
        self,
        theta: np.ndarray,
        names: tuple[str, ...],
        history: History,
        previous: np.ndarray,
        t: np.ndarray,
    ) -> np.ndarray:
        """``mu`` for periods ``t`` (``(T,)``) given the counts of the period before each
        (``(T, regions)``)."""
        p = dict(zip(names, theta, strict=True))
        mean = np.exp(p["log_lambda"]) * previous
        if "log_phi" in p:
            mean = mean + np.exp(p["log_phi"]) * (previous @ history.weights)
        scale = history.periods
        endemic = np.exp(p["log_endemic"] + p["trend"] * t / scale)
        mean = mean + endemic[:, None] * history.shares[None, :]
        if history.unit == "day":
            weekday = history.ends[0].weekday()
            effects = np.concatenate([[0.0], [p[f"dow{d}"] for d in range(1, 7)]])
            mean = mean * np.exp(effects[(weekday + t.astype(int)) % 7])[:, None]
        return mean

    def fit(self, history: History) -> EndemicEpidemicFit:
        names = self._names(history)
        y = history.counts
        t = np.arange(1, history.periods, dtype=np.float64)

        def negative(theta: np.ndarray) -> float:
            mean = self._mean(theta, names, history, y[:-1], t)
            size = float(np.exp(theta[names.index("log_size")]))
            return -float(negbin_logpmf(y[1:], mean, size).sum())

        start = np.zeros(len(names))
        start[names.index("log_lambda")] = np.log(0.7)
        start[names.index("log_endemic")] = np.log(max(y.mean(), 0.1) * len(history.regions) * 0.2)
        start[names.index("log_size")] = np.log(10.0)
        if "log_phi" in names:
            start[names.index("log_phi")] = np.log(0.05)
        result = optimize.minimize(
            negative, start, method="L-BFGS-B", bounds=[_BOUNDS.get(n, (-3.0, 3.0)) for n in names]
        )
        covariance = _laplace_covariance(negative, result.x)
        return EndemicEpidemicFit(result.x, covariance, names, -float(result.fun))

    def sample(
        self, history: History, horizons: int, draws: int, rng: np.random.Generator
    ) -> np.ndarray:
        fit = self.fit(history)
        names = fit.names
        thetas = rng.multivariate_normal(fit.theta, fit.covariance, size=draws, method="eigh")
        size = np.exp(thetas[:, names.index("log_size")])
        previous = np.broadcast_to(history.counts[-1], (draws, len(history.regions))).copy()
        out = np.empty((draws, horizons, len(history.regions) + 1))
        for h in range(horizons):
            t = np.array([history.periods + h], dtype=np.float64)
            mean = np.stack(
                [
                    self._mean(thetas[d], names, history, previous[d : d + 1], t)[0]
                    for d in range(draws)
                ]
            )
            mean = np.minimum(mean, MAX_MEAN)
            counts = rng.negative_binomial(size[:, None], size[:, None] / (size[:, None] + mean))
            out[:, h, :-1] = counts
            previous = counts.astype(np.float64)
        out[:, :, -1] = out[:, :, :-1].sum(axis=2)
        return out


def _laplace_covariance(negative, theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Inverse of the negative log likelihood's Hessian by central differences, made positive
    definite with a standard deviation of at most 1 (on the log scale) where it is flat."""
    k = theta.size
    hessian = np.zeros((k, k))
    f0 = negative(theta)
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * step, np.eye(k)[j] * step
            if i == j:
                value = (negative(theta + e_i) - 2 * f0 + negative(theta - e_i)) / step**2
            else:
                value = (
                    negative(theta + e_i + e_j)
                    - negative(theta + e_i - e_j)
                    - negative(theta - e_i + e_j)
                    + negative(theta - e_i - e_j)
                ) / (4 * step**2)
            hessian[i, j] = hessian[j, i] = value
    eigenvalues, vectors = np.linalg.eigh(hessian)
    eigenvalues = np.maximum(eigenvalues, 1.0)  # a flat direction: at most sd 1 on the log scale
    return (vectors / eigenvalues) @ vectors.T
