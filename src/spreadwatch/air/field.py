"""The hourly PM2.5 field per si-gun-gu, estimated from the stations' readings.

Each district's value is the mean over ``points_per_district`` random points of it (the same
points every hour) of the regression-kriged field (:func:`spreadwatch.air.interpolate.
regression_kriging`: a trend in longitude and the district's local source strength, plus a
Gaussian process of the residuals), with a standard deviation: the kriging standard deviation
at the district's first point (a point's, not the district mean's: a conservative bound,
and a quarter of the work of every point's). Inverse-distance
weighting of the same readings is kept beside it as the baseline.

The field runs from the first to the last hour with enough readings to krige
(:data:`~spreadwatch.air.interpolate.MIN_READINGS`). An hour between them without enough (a
network-wide outage) takes each district's value interpolated in time between the nearest
kriged hours, marked ``interpolated`` and without a standard deviation. A gap longer than
:data:`MAX_GAP_HOURS` is not bridged: the field starts after the last such gap, and the
readings before it are counted as skipped (assess that period on its own).

The local source strength is what the census says of a district: its log population density,
scaled from 0 (the sparsest) to 1 (the densest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch import regions
from spreadwatch.air.grades import grade
from spreadwatch.air.interpolate import MIN_READINGS, idw, regression_kriging
from spreadwatch.progress import step
from spreadwatch.regions.distance import planar_km, points_inside

_HOUR = np.timedelta64(1, "h")
#: The longest run of hours without enough readings the field fills in time.
MAX_GAP_HOURS = 48


@dataclass(frozen=True, eq=False)
class DistrictField:
    """Hourly PM2.5 per district: ``(hours, districts)`` arrays from hour ``start`` (UTC)."""

    start: np.datetime64
    codes: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    baseline: np.ndarray
    stations_read: np.ndarray  # per hour, how many stations had a value
    length_km: float
    interpolated: np.ndarray  # per hour: filled in time, not kriged
    skipped_readings: int = 0  # readings before the last gap longer than MAX_GAP_HOURS

    @property
    def hours(self) -> np.ndarray:
        """Each hour's start, UTC (``datetime64[h]``)."""
        return self.start + np.arange(self.mean.shape[0]) * _HOUR

    def table(self) -> pa.Table:
        """One row per hour and district: ``ts`` (UTC), ``region_code``, ``pm25``, ``pm25_sd``,
        ``pm25_idw``, the Korean grade's index ``grade`` (0 good .. 3 very bad) and
        ``interpolated`` (the hour had too few readings: filled in time)."""
        hours, n = self.mean.shape
        ts = np.repeat(self.hours, n).astype("datetime64[us]")
        return pa.table(
            {
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "region_code": pa.array(np.tile(self.codes, hours), pa.string()),
                "pm25": np.round(self.mean.ravel(), 2),
                "pm25_sd": np.round(self.sd.ravel(), 2),
                "pm25_idw": np.round(self.baseline.ravel(), 2),
                "grade": pa.array(grade(self.mean).ravel(), pa.int8()),
                "interpolated": np.repeat(self.interpolated, n),
            }
        )


def source_strength(frame=None) -> np.ndarray:
    """Per district (in the regions' order), log population density scaled to 0..1."""
    frame = regions.load("sigungu").regions if frame is None else frame
    density = frame["population"].to_numpy(float) / np.maximum(frame["area_km2"].to_numpy(float), 1)
    log_density = np.log1p(density)
    return (log_density - log_density.min()) / np.ptp(log_density)


@dataclass(frozen=True, eq=False)
class ReadingsMatrix:
    """The clean PM2.5 readings as ``values`` ``(hours, stations)`` from hour ``start`` (NaN
    where a station has no value that hour), of the stations at ``rows`` of the table."""

    start: np.datetime64
    rows: np.ndarray
    values: np.ndarray
    skipped: int  # readings before the last long gap, left out


def readings_matrix(stations: pa.Table, readings: pa.Table) -> ReadingsMatrix:
    """The clean readings of the stations of ``stations`` from the first to the last hour with
    :data:`~spreadwatch.air.interpolate.MIN_READINGS` of them, after the last gap of more than
    :data:`MAX_GAP_HOURS` without; only stations that read in that period are kept."""
    ids = stations["station_id"].combine_chunks()
    at = pc.index_in(readings["station_id"], value_set=ids).to_numpy(zero_copy_only=False)
    ts = readings["ts"].combine_chunks().cast(pa.timestamp("us", tz="UTC"))
    hour = ts.cast(pa.int64()).to_numpy() // 3_600_000_000
    value = readings["pm25"].to_numpy(zero_copy_only=False).astype(float)
    known = ~np.isnan(at.astype(float)) & ~np.isnan(value)
    if not known.any():
        raise ValueError("no clean PM2.5 reading of a known station")
    hour, at, value = hour[known], at[known].astype(int), value[known]
    first = int(hour.min())
    counts = np.bincount(hour - first)  # readings per hour over the span (sparse is fine)
    kriged = np.flatnonzero(counts >= MIN_READINGS)
    if not kriged.size:
        raise ValueError(f"no hour has {MIN_READINGS} station readings: nothing to krige")
    gaps = np.flatnonzero(np.diff(kriged) > MAX_GAP_HOURS + 1)
    begin = kriged[gaps[-1] + 1] if gaps.size else kriged[0]
    end = kriged[-1]
    keep = (hour - first >= begin) & (hour - first <= end)
    matrix = np.full((end - begin + 1, len(ids)), np.nan)
    matrix[hour[keep] - first - begin, at[keep]] = value[keep]
    read = np.flatnonzero(~np.isnan(matrix).all(axis=0))
    skipped = int((hour - first < begin).sum())
    return ReadingsMatrix(np.datetime64(first + int(begin), "h"), read, matrix[:, read], skipped)


def estimate_field(
    stations: pa.Table, readings: pa.Table, points_per_district: int = 4, seed: int = 0
) -> DistrictField:
    """The hourly PM2.5 field per district from the store's ``air_stations`` and
    ``air_readings`` (see the module doc)."""
    frame = regions.load("sigungu").regions
    codes = frame["code"].to_numpy(object)
    strength = source_strength(frame)
    matrix = readings_matrix(stations, readings)
    start, rows, values = matrix.start, matrix.rows, matrix.values
    district_of = {code: i for i, code in enumerate(codes)}
    station_district = np.array(
        [district_of[c] for c in stations["region_code"].take(pa.array(rows)).to_pylist()]
    )
    lat = stations["lat"].to_numpy()[rows]
    lon = stations["lon"].to_numpy()[rows]
    district = np.repeat(np.arange(len(codes)), points_per_district)
    geometry = frame["geometry"].to_numpy()
    point_lat, point_lon = points_inside(geometry, district, np.random.default_rng(seed))
    at_stations, at_points = planar_km(lat, lon), planar_km(point_lat, point_lon)
    with step(f"air: kriging {values.shape[0]} hours of {len(rows)} stations"):
        kriged = regression_kriging(
            at_stations,
            np.column_stack([lon, strength[station_district]]),
            values,
            at_points,
            np.column_stack([point_lon, strength[district]]),
            seed=seed,
            sd_targets=np.arange(0, len(district), points_per_district),
        )
        baseline = idw(at_stations, values, at_points)
    shape = (values.shape[0], len(codes), points_per_district)
    mean = kriged.mean.reshape(shape).mean(axis=2)
    missing = np.isnan(mean).any(axis=1)
    return DistrictField(
        start=start,
        codes=codes,
        mean=_filled_in_time(mean),
        sd=kriged.sd.reshape(shape)[:, :, 0],
        baseline=_filled_in_time(baseline.reshape(shape).mean(axis=2)),
        stations_read=(~np.isnan(values)).sum(axis=1),
        length_km=kriged.length_km,
        interpolated=missing,
        skipped_readings=matrix.skipped,
    )


def _filled_in_time(values: np.ndarray) -> np.ndarray:
    """``(hours, districts)`` values with their NaN hours interpolated linearly in time
    between the nearest known hours (the field starts and ends with known ones)."""
    known = ~np.isnan(values).any(axis=1)
    if known.all() or not known.any():
        return values
    hours = np.arange(values.shape[0])
    filled = values.copy()
    for column in range(values.shape[1]):
        filled[:, column] = np.interp(hours, hours[known], values[known, column])
    return filled
