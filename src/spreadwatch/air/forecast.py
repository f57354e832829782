"""Next-24-hour PM2.5 forecasts per si-gun-gu, with quantiles, from the hourly field.

The forecasting stage's gradient-boosted quantile models
(:func:`spreadwatch.forecast.boosting.quantile_predictions`, the hub's quantile levels) learn
the change of log PM2.5 from an origin hour to each of the next 24 hours, from:

* the district's log PM2.5 at the origin, 1, 3, 6 and 24 hours before, and its 24-hour mean;
* what comes from the west: the mean log PM2.5 of the districts upwind (30-200 km west,
  within 60 km north or south) at the origin and 3 hours before, and of the west coast;
* the national mean; the horizon; the target's local hour (KST); the district's longitude
  and local source strength.

The baseline is **persistence**: the origin's value, with quantiles from the changes seen at
each horizon in the training hours (pooled over districts). Both are scored by the weighted
interval score (:mod:`spreadwatch.forecast.scoring`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from spreadwatch import regions
from spreadwatch.air.field import source_strength
from spreadwatch.forecast.boosting import quantile_predictions
from spreadwatch.forecast.hub import QUANTILE_LEVELS
from spreadwatch.forecast.scoring import weighted_interval_score
from spreadwatch.kst import KST_OFFSET_HOURS
from spreadwatch.regions.distance import planar_km

HORIZON_HOURS = 24
LAGS = (1, 3, 6, 24)
HISTORY_HOURS = 24  # the most any feature looks back
WEST_COAST_LON = 126.8
MAX_ITER = 80
TRAINING_ROWS = 60_000
_HOUR = np.timedelta64(1, "h")


@dataclass(frozen=True, eq=False)
class Geometry:
    """What the features need to know of the districts."""

    upwind: np.ndarray  # (districts, districts) weights, rows summing to 1
    coast: np.ndarray  # bool: west-coast districts
    lon: np.ndarray
    strength: np.ndarray

    @classmethod
    def load(cls) -> Geometry:
        frame = regions.load("sigungu").regions
        lat = frame["centroid_lat"].to_numpy(float)
        lon = frame["centroid_lon"].to_numpy(float)
        east, north = planar_km(lat, lon).T
        west = east[None, :] - east[:, None]  # (target, source): negative when source is west
        near = (west <= -30) & (west >= -200) & (np.abs(north[None, :] - north[:, None]) <= 60)
        near[near.sum(axis=1) == 0] = np.eye(len(lon), dtype=bool)[near.sum(axis=1) == 0]
        return cls(
            near / near.sum(axis=1, keepdims=True),
            lon < WEST_COAST_LON,
            lon,
            source_strength(frame),
        )


def _features(logs: np.ndarray, t: int, geo: Geometry, start_hour: int) -> np.ndarray:
    """Features of every district and horizon for origin hour ``t``: ``(horizons x
    districts, features)`` rows, horizon-major."""
    n = logs.shape[1]
    now = logs[t]
    own = [now, *(logs[t - lag] for lag in LAGS), logs[t - HISTORY_HOURS + 1 : t + 1].mean(axis=0)]
    upwind = [geo.upwind @ now, geo.upwind @ logs[t - 3]]
    coast = logs[t, geo.coast].mean(), logs[t - 3, geo.coast].mean()
    shared = np.column_stack(
        [*own, *upwind, np.full(n, coast[0]), np.full(n, coast[1]), np.full(n, now.mean())]
    )
    rows = []
    for h in range(1, HORIZON_HOURS + 1):
        local = (start_hour + t + h + KST_OFFSET_HOURS) % 24
        rows.append(
            np.column_stack([shared, np.full(n, h), np.full(n, local), geo.lon, geo.strength])
        )
    return np.vstack(rows)


def _targets(logs: np.ndarray, t: int) -> np.ndarray:
    """The change of log PM2.5 from origin ``t`` to each horizon, horizon-major."""
    return (logs[t + 1 : t + 1 + HORIZON_HOURS] - logs[t][None, :]).ravel()


@dataclass(frozen=True, eq=False)
class AirForecast:
    """Quantiles of PM2.5 ``(levels, horizons, districts)`` from ``origin`` (UTC hour)."""

    origin: np.datetime64
    codes: np.ndarray
    quantiles: np.ndarray

    @property
    def median(self) -> np.ndarray:
        return self.quantiles[int(np.argmin(np.abs(QUANTILE_LEVELS - 0.5)))]

    def table(self) -> pa.Table:
        """One row per target hour and district: ``origin`` and ``ts`` (UTC), ``horizon``
        (hours), ``region_code`` and a column ``q0.05`` ... per level, plus ``median``."""
        _, horizons, n = self.quantiles.shape
        hours = np.repeat(np.arange(1, horizons + 1), n)
        ts = (self.origin + hours * _HOUR).astype("datetime64[us]")
        origin = np.full(len(hours), self.origin.astype("datetime64[us]"))
        columns = {
            "origin": pa.array(origin, pa.timestamp("us", tz="UTC")),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "horizon": pa.array(hours, pa.int16()),
            "region_code": pa.array(np.tile(self.codes, horizons), pa.string()),
            "median": np.round(self.median.ravel(), 2),
        }
        for level, values in zip(QUANTILE_LEVELS, self.quantiles, strict=True):
            columns[f"q{level:g}"] = np.round(values.ravel(), 2)
        return pa.table(columns)


class AirForecaster:
    """Fitted on the field's hours ``[HISTORY_HOURS, end - HORIZON_HOURS)`` as origins."""

    def __init__(self, field: np.ndarray, start: np.datetime64, seed: int = 0) -> None:
        self._logs = np.log(np.maximum(field, 1.0))
        self._start_hour = int(start.astype("datetime64[h]").astype(np.int64))
        self._start = start
        self._geo = Geometry.load()
        self._seed = seed

    def origins(self, until: int) -> np.ndarray:
        """Origin hours whose 24 next hours are all before hour ``until``."""
        return np.arange(HISTORY_HOURS, until - HORIZON_HOURS)

    def _training(self, until: int) -> tuple[np.ndarray, np.ndarray]:
        origins = self.origins(until)
        if origins.size < 1:
            raise ValueError(
                f"forecasting needs at least {HISTORY_HOURS + HORIZON_HOURS + 1} hours of "
                f"the field before the origin; it has {until}"
            )
        rng = np.random.default_rng(self._seed)
        share = min(1.0, TRAINING_ROWS / (len(origins) * HORIZON_HOURS * self._logs.shape[1]))
        xs, ys = [], []
        for t in origins:  # a random share of each origin's rows: every episode is seen
            keep = rng.random(HORIZON_HOURS * self._logs.shape[1]) < share
            xs.append(_features(self._logs, t, self._geo, self._start_hour)[keep])
            ys.append(_targets(self._logs, t)[keep])
        return np.vstack(xs), np.concatenate(ys)

    def forecast(self, origins: np.ndarray) -> np.ndarray:
        """Quantiles ``(origins, levels, horizons, districts)`` from each origin hour, by a
        model fitted on the hours before the first origin (targets included)."""
        x, y = self._training(int(origins.min()) + 1)
        future = np.vstack([_features(self._logs, t, self._geo, self._start_hour) for t in origins])
        change = quantile_predictions(x, y, future, self._seed, MAX_ITER)
        n = self._logs.shape[1]
        change = change.reshape(len(QUANTILE_LEVELS), len(origins), HORIZON_HOURS, n)
        return np.exp(self._logs[origins][None, :, None, :] + change).transpose(1, 0, 2, 3)

    def persistence(self, origins: np.ndarray) -> np.ndarray:
        """Persistence's quantiles, shaped like :meth:`forecast`'s."""
        until = int(origins.min()) + 1
        changes = np.stack(
            [_targets(self._logs, t).reshape(HORIZON_HOURS, -1) for t in self.origins(until)]
        )  # (origins, horizons, districts)
        spread = np.quantile(
            changes.transpose(1, 0, 2).reshape(HORIZON_HOURS, -1), QUANTILE_LEVELS, axis=1
        )  # (levels, horizons)
        now = self._logs[origins][:, None, None, :]
        return np.exp(now + spread[None, :, :, None])

    def latest(self) -> AirForecast:
        """The next 24 hours after the field's last hour, from a model fitted on all of it."""
        last = self._logs.shape[0] - 1
        quantiles = self.forecast(np.array([last]))[0]
        codes = regions.load("sigungu").regions["code"].to_numpy(object)
        return AirForecast(self._start + last * _HOUR, codes, quantiles)


def relative_wis(
    forecaster: AirForecaster, origins: np.ndarray, observed: np.ndarray
) -> tuple[float, float, float]:
    """``(model WIS, persistence WIS, their ratio)`` over ``origins``, against ``observed``
    PM2.5 ``(hours, districts)`` (the truth, or the field itself)."""
    model = forecaster.forecast(origins)
    baseline = forecaster.persistence(origins)
    target = np.stack([observed[t + 1 : t + 1 + HORIZON_HOURS] for t in origins])
    levels = QUANTILE_LEVELS
    ours = weighted_interval_score(np.moveaxis(model, 1, -1), levels, target).mean()
    theirs = weighted_interval_score(np.moveaxis(baseline, 1, -1), levels, target).mean()
    return float(ours), float(theirs), float(ours / theirs)
