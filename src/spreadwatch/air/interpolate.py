"""Hourly PM2.5 between stations: inverse-distance weighting (the baseline) and regression
kriging (a trend on what is known everywhere, plus a Gaussian process of its residuals).

Both take station readings as ``(hours, stations)`` arrays with NaN where a station has no
clean reading that hour, and give values at target points ``(hours, targets)``.

Regression kriging: the log of PM2.5 is modelled per hour as a linear trend in the point's
covariates (longitude, for the westerly gradient, and the local source strength of its
district) plus a zero-mean Gaussian process of the residuals (Matern 3/2 covariance in
kilometres, with a nugget for the instruments' error). The covariance's length, variance and
nugget are fitted once by maximum likelihood on residuals pooled over a sample of hours
(scikit-learn's :class:`~sklearn.gaussian_process.GaussianProcessRegressor`), then used for
every hour by universal kriging: the trend by generalised least squares, the residuals
kriged, and a variance that counts the trend's uncertainty; back from logs by
``exp(mean + var / 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel

#: Fewest station readings an hour is kriged from.
MIN_READINGS = 10


def idw(
    stations: np.ndarray, values: np.ndarray, targets: np.ndarray, power: float = 2.0
) -> np.ndarray:
    """Inverse-distance weighted values at ``targets`` (planar km, ``(n, 2)``) from ``values``
    ``(hours, stations)`` at ``stations``, each hour from the stations reading that hour."""
    distance = np.linalg.norm(targets[:, None, :] - stations[None, :, :], axis=2)
    weight = (
        1.0 / np.maximum(distance, 1e-6) ** power
    )  # (targets, stations); at a station: its value
    present = ~np.isnan(values)
    total = np.where(present, values, 0.0) @ weight.T
    weights = present.astype(float) @ weight.T
    with np.errstate(invalid="ignore", divide="ignore"):  # an hour with no reading: NaN
        return total / weights


@dataclass(frozen=True)
class Kriged:
    """Predictions at the targets, ``(hours, targets)``: mean and standard deviation (ug/m3),
    and the fitted covariance's parameters."""

    mean: np.ndarray
    sd: np.ndarray
    length_km: float
    nugget_share: float


def regression_kriging(
    stations: np.ndarray,
    station_covariates: np.ndarray,
    values: np.ndarray,
    targets: np.ndarray,
    target_covariates: np.ndarray,
    fit_hours: int = 24,
    seed: int = 0,
    sd_targets: np.ndarray | None = None,
) -> Kriged:
    """Regression kriging of ``values`` ``(hours, stations)`` (NaN: no reading) at
    ``targets``; covariates are ``(points, k)`` arrays known at stations and targets. Each
    hour: the trend by generalised least squares and the residuals kriged (universal kriging),
    the variance counting the trend's uncertainty too. The standard deviation is computed at
    the targets of ``sd_targets`` (indices; default all), NaN elsewhere: the means cost a
    vector product a target, the variances a triangular solve. An hour with fewer than
    :data:`MIN_READINGS` readings is left NaN (too few to fit a trend to)."""
    logs = np.log(np.maximum(values, 1.0))
    hours = values.shape[0]
    station_design, target_design = _design(station_covariates), _design(target_covariates)
    residuals = np.full(values.shape, np.nan)
    enough = (~np.isnan(values)).sum(axis=1) >= MIN_READINGS
    if not enough.any():
        raise ValueError(f"no hour has {MIN_READINGS} station readings: nothing to krige")
    for h in np.flatnonzero(enough):  # ordinary least squares residuals, to fit the covariance
        present = ~np.isnan(values[h])
        beta, *_ = np.linalg.lstsq(station_design[present], logs[h, present], rcond=None)
        residuals[h, present] = logs[h, present] - station_design[present] @ beta
    kernel = _fitted_process(stations, residuals[enough], fit_hours, seed).kernel_
    variance, length, nugget = _variance(kernel), _length(kernel), _nugget(kernel)
    between = _matern(_distances(stations, stations), variance, length)
    towards = _matern(_distances(stations, targets), variance, length)  # (stations, targets)
    sd_targets = np.arange(len(targets)) if sd_targets is None else np.asarray(sd_targets)
    mean = np.full((hours, len(targets)), np.nan)
    sd = np.full_like(mean, np.nan)
    for h in np.flatnonzero(enough):
        present = np.flatnonzero(~np.isnan(values[h]))
        log_mean, log_var = _universal(
            between[np.ix_(present, present)] + nugget * np.eye(present.size),
            towards[present],
            station_design[present],
            target_design,
            logs[h, present],
            variance,
            sd_targets,
        )
        log_var_all = np.zeros(len(targets))
        log_var_all[sd_targets] = log_var
        mean[h] = np.exp(log_mean + log_var_all / 2)
        sd[h, sd_targets] = mean[h, sd_targets] * np.sqrt(np.expm1(log_var))
    return Kriged(mean, sd, length, nugget / (variance + nugget))


def _universal(
    covariance: np.ndarray,
    towards: np.ndarray,
    design: np.ndarray,
    target_design: np.ndarray,
    y: np.ndarray,
    variance: float,
    sd_targets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Universal kriging's mean at every target and variance at ``sd_targets`` (the
    field's, not a reading's), through the Cholesky factor ``K = L L'``."""
    lower = cholesky(covariance, lower=True, check_finite=False)
    white_x = solve_triangular(lower, design, lower=True, check_finite=False)  # L^-1 X
    white_y = solve_triangular(lower, y, lower=True, check_finite=False)
    gls = white_x.T @ white_x  # X' K^-1 X
    beta = np.linalg.solve(gls, white_x.T @ white_y)
    weights = solve_triangular(lower.T, white_y - white_x @ beta, check_finite=False)
    mean = target_design @ beta + towards.T @ weights  # K^-1 (y - X beta) against each k
    white_k = solve_triangular(lower, towards[:, sd_targets], lower=True, check_finite=False)
    mismatch = target_design[sd_targets] - white_k.T @ white_x  # R = X0 - k' K^-1 X
    trend_var = np.einsum("ij,ij->i", mismatch @ np.linalg.inv(gls), mismatch)
    var = variance - np.einsum("ij,ij->j", white_k, white_k) + trend_var
    return mean, np.maximum(var, 0.0)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)


def _matern(distance: np.ndarray, variance: float, length: float) -> np.ndarray:
    """Matern covariance of smoothness 3/2."""
    scaled = np.sqrt(3.0) * distance / length
    return variance * (1.0 + scaled) * np.exp(-scaled)


def _design(covariates: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(covariates)), covariates])


def _fitted_process(
    stations: np.ndarray, residuals: np.ndarray, fit_hours: int, seed: int
) -> GaussianProcessRegressor:
    """A Gaussian process fitted (by maximum likelihood) to the residuals of a sample of
    hours at once: each hour a replicate of the same covariance. The hours are drawn among
    the well covered ones (at least 80% of the best hour's stations), and the fit uses the
    stations reading in every one of them (the best hour's alone if that leaves too few)."""
    rng = np.random.default_rng(seed)
    coverage = (~np.isnan(residuals)).sum(axis=1)
    covered = np.flatnonzero(coverage >= 0.8 * coverage.max())
    chosen = rng.choice(covered, min(fit_hours, covered.size), replace=False)
    always = ~np.isnan(residuals[chosen]).any(axis=0)  # stations reading in every chosen hour
    if always.sum() < MIN_READINGS:
        chosen = np.array([int(np.argmax(coverage))])
        always = ~np.isnan(residuals[chosen[0]])
    kernel = ConstantKernel(0.05, (1e-4, 10.0)) * Matern(80.0, (5.0, 2000.0), nu=1.5)
    kernel = kernel + WhiteKernel(0.01, (1e-5, 1.0))
    process = GaussianProcessRegressor(kernel=kernel, normalize_y=False, random_state=seed)
    return process.fit(stations[always], residuals[np.ix_(chosen, always)].T)


def _length(kernel: Kernel) -> float:
    return float(kernel.k1.k2.length_scale)


def _variance(kernel: Kernel) -> float:
    return float(kernel.k1.k1.constant_value)


def _nugget(kernel: Kernel) -> float:
    return float(kernel.k2.noise_level)
