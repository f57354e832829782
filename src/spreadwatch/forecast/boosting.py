"""A gradient-boosted quantile model of future counts, with covariates when they exist.

For every region, origin ``t`` and horizon ``h``, the
features are the log counts of the last periods, their recent mean and growth, the coupled
regions' pressure ``log1p(sum_j w[j, i] Y[t, j])``, the total's log count, the horizon, the
target's weekday (daily data), and per-region covariates: importations (arrivals in the last
week) and household signals (fever rate, stay-home index) on the origin's date. One
histogram gradient-boosting model per level of :data:`FITTED_LEVELS` predicts that quantile of
``log1p(Y[t + h, i])`` (quantiles carry over through the monotone transform); crossing
quantiles are sorted and the other hub levels interpolated linearly between them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from spreadwatch.forecast.history import History
from spreadwatch.forecast.hub import QUANTILE_LEVELS
from spreadwatch.infer.cases import CasesError

LAGS = {"day": 7, "week": 4}
MIN_LEAF = 20
#: Levels with a model of their own; the other hub levels are interpolated between them.
FITTED_LEVELS = np.array([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])


@dataclass(frozen=True)
class Covariates:
    """Per-region daily covariates: name -> ``(dates, regions)`` frame (NaN where unknown)."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def on(self, date: dt.date, regions: tuple[str, ...]) -> np.ndarray:
        """``(regions, covariates)`` values on ``date`` (the latest earlier value, else 0)."""
        out = np.zeros((len(regions), len(self.frames)))
        for k, frame in enumerate(self.frames.values()):
            known = frame.loc[: pd.Timestamp(date)]
            if not known.empty:
                row = known.ffill().iloc[-1].reindex(list(regions))
                out[:, k] = row.fillna(0.0).to_numpy()
        return out


def read_covariates(importations: Path | None, signals: Path | None) -> Covariates:
    """Covariates from the fusion ``importations`` and ``household_signals`` tables."""
    frames: dict[str, pd.DataFrame] = {}
    if importations is not None:
        table = _read(importations, ("date", "region_code", "arrivals"), "importations")
        daily = (
            table.pivot_table(index="date", columns="region_code", values="arrivals", aggfunc="sum")
            .sort_index()
            .asfreq("D", fill_value=0)
        )
        frames["arrivals_week"] = np.log1p(daily.rolling(7, min_periods=1).sum())
    if signals is not None:
        columns = ("date", "region_code", "fever_rate", "stay_home_index")
        table = _read(signals, columns, "household_signals")
        for name in ("fever_rate", "stay_home_index"):
            frames[name] = table.pivot_table(
                index="date", columns="region_code", values=name
            ).sort_index()
    return Covariates(frames)


def _read(path: Path, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    from spreadwatch.model.mobility import read_table

    try:
        table = read_table(path, columns, name)
    except (ValueError, OSError) as exc:
        raise CasesError(f"{path}: {exc}") from None
    table["date"] = pd.to_datetime(table["date"])
    table["region_code"] = table["region_code"].astype(str)
    return table


@dataclass(frozen=True)
class GradientBoosting:
    name: str = "gradient-boosting"
    covariates: Covariates = field(default_factory=Covariates)
    max_iter: int = 50

    def _features(self, history: History, counts: np.ndarray, t: int, horizon: int) -> np.ndarray:
        """Feature rows ``(series, features)`` at origin index ``t`` (last observed period);
        ``counts`` holds the regions and, as one more series, their total."""
        lags = LAGS[history.unit]
        logs = np.log1p(counts[t - lags + 1 : t + 1][::-1].T)  # (series, lags), newest first
        recent = np.log1p(counts[t - lags + 1 : t + 1].mean(axis=0))
        before = np.log1p(counts[max(0, t - 2 * lags + 1) : t - lags + 1].mean(axis=0))
        regions = len(history.regions)
        pressure = np.zeros(counts.shape[1])
        if history.weights is not None:
            pressure[:regions] = np.log1p(counts[t, :regions] @ history.weights)
        total = np.full(counts.shape[1], np.log1p(counts[t, :regions].sum()))
        level = np.log1p(counts[: t + 1].mean(axis=0))  # the series' long-run level
        target = history.ends[t] + dt.timedelta(days=history.step_days * horizon)
        angle = 2 * np.pi * target.timetuple().tm_yday / 365.25  # the target's time of year
        parts = [
            logs,
            recent[:, None],
            (recent - before)[:, None],
            pressure[:, None],
            total[:, None],
            level[:, None],
            np.full((counts.shape[1], 1), horizon),
            np.full((counts.shape[1], 2), [np.sin(angle), np.cos(angle)]),
        ]
        if history.unit == "day":
            weekday = (history.ends[0].weekday() + t + horizon) % 7
            parts.append(np.full((counts.shape[1], 1), weekday))
        if self.covariates.frames:
            values = self.covariates.on(history.ends[t], history.regions)
            parts.append(np.vstack([values, values.mean(axis=0, keepdims=True)]))
        return np.hstack(parts)

    def predict_quantiles(
        self, history: History, horizons: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(mean (horizons, regions), quantiles (levels, horizons, regions))`` at the end of
        ``history``."""
        # the total trains as one more series (more rows, other scales); only regions are
        # forecast: aggregates are sums of the regions' paths
        counts = np.column_stack([history.counts, history.counts.sum(axis=1)])
        lags, last = LAGS[history.unit], history.periods - 1
        first = 2 * lags - 1  # the first origin with a recent and an earlier window
        if last < first + 1:  # no origin with a known target
            raise CasesError(f"gradient boosting needs at least {first + 2} periods of data")
        rows, targets = [], []
        for h in range(1, horizons + 1):
            for t in range(first, last - h + 1):
                rows.append(self._features(history, counts, t, h))
                targets.append(np.log1p(counts[t + h]))
        x, y = np.vstack(rows), np.concatenate(targets)
        future = np.vstack(
            [self._features(history, counts, last, h) for h in range(1, horizons + 1)]
        )
        seed = int(rng.integers(2**31))
        # small fits: one thread each beats OpenMP's start-up and spinning on every fit
        with threadpool_limits(1, "openmp"):
            levels = quantile_predictions(x, y, future, seed, self.max_iter)
        quantiles = np.maximum(np.expm1(levels), 0.0)
        quantiles = quantiles.reshape(len(QUANTILE_LEVELS), horizons, counts.shape[1])
        quantiles = quantiles[:, :, : len(history.regions)]
        return _mean_of_quantiles(quantiles), quantiles


def quantile_predictions(
    x: np.ndarray, y: np.ndarray, future: np.ndarray, seed: int, max_iter: int
) -> np.ndarray:
    """Quantiles of ``y`` at the hub's :data:`~spreadwatch.forecast.hub.QUANTILE_LEVELS` for
    the rows of ``future``, ``(levels, rows)``: one gradient-boosted quantile model per
    :data:`FITTED_LEVELS` fitted on ``(x, y)``, crossings sorted, the other levels
    interpolated linearly."""
    fitted = np.sort(_fit_quantile_models(x, y, future, seed, max_iter), axis=0)
    return np.array([np.interp(QUANTILE_LEVELS, FITTED_LEVELS, column) for column in fitted.T]).T


def _fit_quantile_models(
    x: np.ndarray, y: np.ndarray, future: np.ndarray, seed: int, max_iter: int
) -> np.ndarray:
    """Predictions ``(levels, rows)`` of one quantile model per :data:`FITTED_LEVELS`."""
    predicted = np.empty((len(FITTED_LEVELS), future.shape[0]))
    for k, level in enumerate(FITTED_LEVELS):
        model = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=float(level),
            max_iter=max_iter,
            learning_rate=0.05,
            min_samples_leaf=max(MIN_LEAF, x.shape[0] // 50),  # tails need wide leaves
            random_state=seed,
        )
        predicted[k] = model.fit(x, y).predict(future)
    return predicted


def _mean_of_quantiles(quantiles: np.ndarray) -> np.ndarray:
    """The mean of the distribution whose quantile function interpolates ``quantiles``
    linearly, flat beyond the outer levels."""
    levels = np.concatenate([[0.0], QUANTILE_LEVELS, [1.0]])
    values = np.concatenate([quantiles[:1], quantiles, quantiles[-1:]])
    widths = np.diff(levels)[:, None, None]
    return (0.5 * (values[1:] + values[:-1]) * widths).sum(axis=0)
