"""Exponential smoothing of counts with negative-binomial noise (a local-level model)::

    Y[t, i] ~ NegBin(f(t) * m[t, i], size)
    m[t + 1, i] = alpha * Y[t, i] / f(t) + (1 - alpha) * m[t, i]

Each region's level ``m`` follows its own recent counts; ``alpha`` and ``size`` are shared by
the regions and estimated from the one-step predictions of the latest :data:`WINDOW` periods:
``alpha`` (on a grid) by their absolute errors (the forecasts are scored by WIS, which rewards
the median; squared errors let a few outbreak periods choose), ``size`` by the method of
moments (the variance beyond the mean, ``sum((y - m)^2 - m) / sum(m^2) = 1 / size``).
Daily data from :data:`WEEKDAY_FROM` days on have multiplicative weekday factors ``f`` (from
the total; mean 1). Paths are simulated forward, each draw updating its level with its own
counts, so uncertainty grows with the horizon.

It knows nothing of seasons or neighbours, which is what makes it a useful ensemble member:
where counts are sparse and erratic it is often the best single model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spreadwatch.forecast.endemic import WEEKDAY_FROM
from spreadwatch.forecast.history import History

#: Smoothing weights the fit chooses among.
ALPHAS = np.round(np.arange(0.1, 0.91, 0.05), 2)
#: Periods that set the first level; the likelihood counts the periods after them.
WARM_UP = 3
#: Periods whose one-step predictions estimate alpha and size (the latest ones).
WINDOW = 52
#: Largest size (a Poisson, in effect) when the counts vary less than their mean.
MAX_SIZE = 1e4


@dataclass(frozen=True)
class LevelFit:
    """The smoothing weight, the negative-binomial size, the weekday factors (``None`` for
    weekly data or short daily series) and the mean absolute error of the one-step
    predictions."""

    alpha: float
    size: float
    weekday: np.ndarray | None
    mean_abs_error: float


def weekday_factors(history: History) -> np.ndarray | None:
    """Factors ``(7,)`` by weekday of the first period onwards (mean 1): each weekday's share
    of the total over whole weeks; ``None`` for weekly data or fewer than
    :data:`WEEKDAY_FROM` days."""
    if history.unit != "day" or history.periods < WEEKDAY_FROM:
        return None
    weeks = history.periods // 7
    total = history.counts[: weeks * 7].sum(axis=1).reshape(weeks, 7).sum(axis=0) + 0.5
    return total / total.mean()


def _factors(fit_weekday: np.ndarray | None, first: int, periods: int) -> np.ndarray:
    """Weekday factors of periods ``first .. first + periods - 1`` (ones without)."""
    if fit_weekday is None:
        return np.ones(periods)
    return fit_weekday[(first + np.arange(periods)) % 7]


def levels(counts: np.ndarray, alpha: float, factors: np.ndarray) -> np.ndarray:
    """Levels ``(periods + 1, regions)``: ``levels[t]`` predicts period ``t`` from those
    before it; the first :data:`WARM_UP` periods' mean starts it."""
    adjusted = counts / factors[:, None]
    out = np.empty((counts.shape[0] + 1, counts.shape[1]))
    start = min(WARM_UP, counts.shape[0])
    out[: start + 1] = adjusted[:start].mean(axis=0) if start else 0.0
    for t in range(start, counts.shape[0]):
        out[t + 1] = alpha * adjusted[t] + (1 - alpha) * out[t]
    return out


class LocalLevel:
    """The local-level forecaster: :meth:`fit` for the estimates, :meth:`sample` for paths."""

    name = "local-level"

    def fit(self, history: History) -> LevelFit:
        """``alpha`` (on :data:`ALPHAS`) and ``size`` from the one-step predictions."""
        counts = history.counts
        if counts.shape[0] <= WARM_UP:
            raise ValueError(f"the local level needs more than {WARM_UP} periods of data")
        weekday = weekday_factors(history)
        factors = _factors(weekday, 0, counts.shape[0])
        first = max(WARM_UP, counts.shape[0] - WINDOW)
        observed = counts[first:]
        means = [
            levels(counts, alpha, factors)[first:-1] * factors[first:, None] for alpha in ALPHAS
        ]
        errors = [float(np.abs(observed - mean).sum()) for mean in means]
        best = int(np.argmin(errors))
        mean = means[best]
        squares = float((mean**2).sum())
        excess = float(((observed - mean) ** 2 - mean).sum()) / squares if squares else 0.0
        size = 1.0 / max(excess, 1.0 / MAX_SIZE)
        return LevelFit(float(ALPHAS[best]), size, weekday, float(errors[best] / observed.size))

    def sample(
        self,
        history: History,
        horizons: int,
        draws: int,
        rng: np.random.Generator,
        notes: list[str] | None = None,
    ) -> np.ndarray:
        """Paths ``(draws, horizons, regions)``: each period drawn from the level, then the
        level updated with the drawn count."""
        fit = self.fit(history)
        factors = _factors(fit.weekday, 0, history.periods + horizons)
        level = np.broadcast_to(
            levels(history.counts, fit.alpha, factors[: history.periods])[-1],
            (draws, history.counts.shape[1]),
        ).copy()
        out = np.empty((draws, horizons, history.counts.shape[1]))
        for h in range(horizons):
            f = factors[history.periods + h]
            mean = level * f  # no case in memory, none to come: no level from nothing
            out[:, h] = rng.negative_binomial(fit.size, fit.size / (fit.size + mean))
            level = fit.alpha * out[:, h] / f + (1 - fit.alpha) * level
        return out
