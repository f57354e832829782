"""Sample paths from per-region quantiles, so that a quantile model's aggregates are sums of its
regions' predictive distributions (a Gaussian copula with the regions' measured correlation)."""

from __future__ import annotations

import numpy as np
from scipy import special

from spreadwatch.forecast.history import History

#: Periods of one-step changes the correlation between regions is measured on.
CORRELATION_WINDOW = 60


def regional_correlation(history: History) -> float:
    """The mean pairwise correlation of the regions' one-step changes of ``log1p`` counts over
    the last :data:`CORRELATION_WINDOW` periods (regions that never change left out), in
    ``[0, 0.99]``."""
    changes = np.diff(np.log1p(history.counts[-(CORRELATION_WINDOW + 1) :]), axis=0)
    spread = changes.std(axis=0)
    moving = spread > 0
    m = int(moving.sum())
    if changes.shape[0] < 3 or m < 2:
        return 0.0
    z = (changes[:, moving] - changes[:, moving].mean(axis=0)) / spread[moving]
    mean_correlation = (z.sum(axis=1).var() - m) / (m * (m - 1))
    return float(np.clip(mean_correlation, 0.0, 0.99))


def paths_from_quantiles(
    quantiles: np.ndarray,
    levels: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    correlation: float,
) -> np.ndarray:
    """Paths ``(draws, horizons, regions)`` whose margins follow ``quantiles`` ``(levels,
    horizons, regions)`` (linear between the levels, flat beyond the outer ones) and whose
    regions are joined by a Gaussian copula with equal pairwise ``correlation``."""
    _, horizons, regions = quantiles.shape
    common = rng.standard_normal((draws, horizons, 1))
    own = rng.standard_normal((draws, horizons, regions))
    z = np.sqrt(correlation) * common + np.sqrt(1 - correlation) * own
    u = special.ndtr(z)
    # position of each u among the levels, then linear interpolation of the quantiles
    index = np.clip(np.searchsorted(levels, u) - 1, 0, len(levels) - 2)
    low, high = levels[index], levels[index + 1]
    weight = np.clip((u - low) / (high - low), 0.0, 1.0)
    h = np.arange(horizons)[None, :, None]
    r = np.arange(regions)[None, None, :]
    lower, upper = quantiles[index, h, r], quantiles[index + 1, h, r]
    return lower + weight * (upper - lower)
