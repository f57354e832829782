"""The time-varying reproduction number by the renewal method of Cori et al. (2013).

With daily incidence ``I_t`` and a discretised serial interval ``w_k`` (``k >= 1``), the total
infectiousness of day ``s`` is ``Lambda_s = sum_k I_{s-k} w_k``. Assuming ``R`` constant over a
window of ``tau`` days ending on ``t`` and a Gamma(shape ``a``, scale ``b``) prior, the posterior
of ``R`` is Gamma with::

    shape = a + sum_{s = t - tau + 1}^{t} I_s
    scale = 1 / (1 / b + sum_{s = t - tau + 1}^{t} Lambda_s)

The defaults are EpiEstim's: a prior of mean 5 and standard deviation 5 (``a = 1, b = 5``),
weekly sliding windows starting on the second day, and the serial interval discretised as in
Cori et al.'s Web Appendix 11 (one day plus a gamma distribution of mean ``mean - 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import stats

from spreadwatch.infer.cases import CaseSeries

QUANTILES = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)
#: EpiEstim's guidance: a posterior coefficient of variation below 0.3 needs about 12 cases.
MIN_CASES = 12


def discretised_serial_interval(mean: float, sd: float, max_days: int | None = None) -> np.ndarray:
    """Daily serial-interval weights ``w[0..K]`` (``w[0] = 0``, summing to 1).

    Day ``k`` gets the probability mass of an offset gamma (``1 +`` Gamma of mean ``mean - 1``
    and standard deviation ``sd``) smoothed over ``(k - 1, k + 1)``, as EpiEstim's
    ``discr_si``. ``max_days`` defaults to where the remaining mass is below ``1e-6``.
    """
    if not (mean > 1 and sd > 0):
        raise ValueError(f"the serial interval needs mean > 1 and sd > 0, got {mean}, {sd}")
    shape = ((mean - 1) / sd) ** 2
    scale = sd**2 / (mean - 1)
    if max_days is None:
        max_days = int(np.ceil(stats.gamma.ppf(1 - 1e-6, shape, scale=scale))) + 2
    k = np.arange(max_days + 1, dtype=np.float64)

    def cdf(x: np.ndarray, a: float) -> np.ndarray:  # of the gamma part; 0 below 0
        return stats.gamma.cdf(np.clip(x, 0, None), a, scale=scale)

    weights = (
        k * cdf(k, shape)
        + (k - 2) * cdf(k - 2, shape)
        - 2 * (k - 1) * cdf(k - 1, shape)
        + shape * scale * (2 * cdf(k - 1, shape + 1) - cdf(k - 2, shape + 1) - cdf(k, shape + 1))
    )
    weights = np.clip(weights, 0, None)
    weights[0] = 0.0
    return weights / weights.sum()


def infectiousness(incidence: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``Lambda_t = sum_{k>=1} I_{t-k} w_k`` for every day (rows) and series (columns)."""
    incidence = np.asarray(incidence, dtype=np.float64)
    days = incidence.shape[0]
    out = np.zeros_like(incidence)
    for k in range(1, min(len(weights), days)):
        out[k:] += weights[k] * incidence[:-k]
    return out


@dataclass(frozen=True)
class RtEstimate:
    """Posterior of R per window (rows) and series (columns)."""

    window_start: np.ndarray
    window_end: np.ndarray
    """Day indices of each window's first and last day."""
    shape: np.ndarray
    scale: np.ndarray
    cases: np.ndarray
    """Cases in each window."""

    @property
    def mean(self) -> np.ndarray:
        return self.shape * self.scale

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.shape) * self.scale

    def quantile(self, level: float) -> np.ndarray:
        return stats.gamma.ppf(level, self.shape, scale=self.scale)


def estimate_rt(
    incidence: np.ndarray,
    weights: np.ndarray,
    window: int = 7,
    prior_mean: float = 5.0,
    prior_sd: float = 5.0,
) -> RtEstimate:
    """Cori et al.'s posterior of R over sliding windows of ``window`` days.

    ``incidence`` is ``(days,)`` or ``(days, series)``. Windows end on every day from
    ``window + 1`` on (1-based: the first window is days 2..window+1, as in EpiEstim).
    """
    incidence = np.asarray(incidence, dtype=np.float64)
    if incidence.ndim == 1:
        incidence = incidence[:, None]
    days = incidence.shape[0]
    if window < 1 or window + 1 > days:
        raise ValueError(f"a window of {window} days needs at least {window + 1} days of data")
    if not (prior_mean > 0 and prior_sd > 0):
        raise ValueError("the prior needs mean > 0 and sd > 0")
    a, b = (prior_mean / prior_sd) ** 2, prior_sd**2 / prior_mean
    total = infectiousness(incidence, weights)
    cum_i = np.vstack([np.zeros(incidence.shape[1]), np.cumsum(incidence, axis=0)])
    cum_l = np.vstack([np.zeros(incidence.shape[1]), np.cumsum(total, axis=0)])
    end = np.arange(window, days)  # 0-based last day of each window
    start = end - window + 1
    cases = cum_i[end + 1] - cum_i[start]
    pressure = cum_l[end + 1] - cum_l[start]
    scale = 1.0 / (1.0 / b + pressure)
    # Not identified before one mean serial interval has passed, or while nobody was
    # infectious (EpiEstim reports NA there too).
    mean_interval = float(np.sum(weights * np.arange(len(weights))))
    scale[(end + 1 <= mean_interval)] = np.nan
    scale[pressure <= 0] = np.nan
    return RtEstimate(start, end, a + cases, scale, cases)


RT_SCHEMA = pa.schema(
    [
        ("region_code", pa.string()),
        ("date", pa.date32()),
        ("window_start", pa.date32()),
        ("cases", pa.int64()),
        ("mean", pa.float64()),
        ("std", pa.float64()),
        *[(f"q{level:g}", pa.float64()) for level in QUANTILES],
        ("reliable", pa.bool_()),
    ]
)


def rt_table(
    series: CaseSeries,
    si_mean: float,
    si_sd: float,
    window: int = 7,
    prior_mean: float = 5.0,
    prior_sd: float = 5.0,
) -> pa.Table:
    """Rt per region and window end (``RT_SCHEMA``): posterior mean, sd and quantiles, and
    ``reliable`` when the window holds at least :data:`MIN_CASES` cases. Windows ending after a
    region's last reported date are left out (the total's: after the earliest last date)."""
    weights = discretised_serial_interval(si_mean, si_sd)
    estimate = estimate_rt(series.counts, weights, window, prior_mean, prior_sd)
    windows, regions = estimate.shape.shape
    day = np.datetime64(series.start, "D")
    ends = np.repeat(day + estimate.window_end, regions)
    starts = np.repeat(day + estimate.window_start, regions)
    columns = {
        "region_code": np.tile(np.array(series.regions, dtype=object), windows),
        "date": ends,
        "window_start": starts,
        "cases": estimate.cases.reshape(-1).astype(np.int64),
        "mean": estimate.mean.reshape(-1),
        "std": estimate.std.reshape(-1),
        **{f"q{level:g}": estimate.quantile(level).reshape(-1) for level in QUANTILES},
        "reliable": estimate.cases.reshape(-1) >= MIN_CASES,
    }
    table = pa.table({n: pa.array(v, RT_SCHEMA.field(n).type) for n, v in columns.items()})
    reported = (estimate.window_end[:, None] <= series.last[None, :]).reshape(-1)
    table = table.filter(pa.array(reported))
    return table.sort_by([("region_code", "ascending"), ("date", "ascending")])
