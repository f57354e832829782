"""Scores of quantile forecasts: the weighted interval score and interval coverage.

The weighted interval score (Bracher, Ray, Gneiting & Reich 2021) of a forecast with median
``m`` and central intervals ``[l_k, u_k]`` at levels ``1 - alpha_k``::

    WIS = 1 / (K + 1/2) * (1/2 |y - m| + sum_k alpha_k / 2 * IS_k)
    IS_k = (u_k - l_k) + 2 / alpha_k * (l_k - y) 1{y < l_k} + 2 / alpha_k * (y - u_k) 1{y > u_k}

It equals ``2 / (2K + 1)`` times the summed pinball losses of the ``2K + 1`` quantiles.
"""

from __future__ import annotations

import numpy as np


def _pairs(levels: np.ndarray) -> tuple[int, list[tuple[int, int, float]]]:
    """Index of the median and ``(lower, upper, alpha)`` of every central interval."""
    levels = np.round(np.asarray(levels, dtype=np.float64), 10)
    median = np.flatnonzero(np.isclose(levels, 0.5))
    if median.size != 1:
        raise ValueError("the quantile levels must include the median, 0.5")
    pairs = []
    for i, level in enumerate(levels):
        if level < 0.5:
            upper = np.flatnonzero(np.isclose(levels, 1 - level))
            if upper.size != 1:
                raise ValueError(f"level {level} has no symmetric level {1 - level}")
            pairs.append((i, int(upper[0]), 2 * level))
    return int(median[0]), pairs


def weighted_interval_score(
    quantiles: np.ndarray, levels: np.ndarray, observed: np.ndarray
) -> np.ndarray:
    """WIS of forecasts ``quantiles`` (``(..., Q)`` at ``levels``) for ``observed`` (``(...)``)."""
    quantiles = np.asarray(quantiles, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    median, pairs = _pairs(levels)
    total = 0.5 * np.abs(y - quantiles[..., median])
    for lower, upper, alpha in pairs:
        low, high = quantiles[..., lower], quantiles[..., upper]
        interval = (
            (high - low) + 2 / alpha * np.maximum(low - y, 0) + 2 / alpha * np.maximum(y - high, 0)
        )
        total = total + alpha / 2 * interval
    return total / (len(pairs) + 0.5)


def interval_coverage(
    quantiles: np.ndarray, levels: np.ndarray, observed: np.ndarray, width: float
) -> np.ndarray:
    """Whether ``observed`` lies in the central ``width`` interval (e.g. 0.5, 0.9), bounds
    included."""
    levels = np.asarray(levels, dtype=np.float64)
    low = np.flatnonzero(np.isclose(levels, (1 - width) / 2))
    high = np.flatnonzero(np.isclose(levels, (1 + width) / 2))
    if low.size != 1 or high.size != 1:
        raise ValueError(f"no central {width:.0%} interval among the levels")
    y = np.asarray(observed, dtype=np.float64)
    return (quantiles[..., low[0]] <= y) & (y <= quantiles[..., high[0]])
