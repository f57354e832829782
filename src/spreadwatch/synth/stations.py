"""Synthetic outdoor monitoring stations and their hourly readings, with the usual defects.

Stations are sited as a national network is: one in most districts, more in populous ones
(about one per ``people_per_station``), none in a share of the least populous
(``unmonitored_share``), so that a district's PM2.5 must often be inferred from its
neighbours'. A station stands at a random point of its district.

Readings are hourly PM2.5 and PM10 (ug/m3, whole numbers as networks report them): the truth at
the station times a log-normal instrument error (``error_sd``), plus the defects a raw feed has:
hours missing at random (``missing_share``), outages of a day or two at some stations
(``outage_share``), rows flagged by the operator with no value (maintenance, communication),
negative values near zero and saturated readings of 999.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from spreadwatch.synth.dust import DustField
from spreadwatch.synth.geography import Geography

#: A saturated sensor's reading.
SATURATED = 999
FLAGS = ("maintenance", "communication")
STATION_COLUMNS = ("station_id", "name", "lat", "lon")
READING_COLUMNS = ("station_id", "ts", "pm25", "pm10", "flag")


@dataclass(frozen=True)
class StationConfig:
    people_per_station: float = 120_000.0
    unmonitored_share: float = 0.15
    error_sd: float = 0.08
    missing_share: float = 0.02
    outage_share: float = 0.03
    flagged_share: float = 0.005
    negative_share: float = 0.002
    saturated_share: float = 0.001
    seed: int = 2


@dataclass(frozen=True, eq=False)
class Stations:
    """Stations as parallel arrays."""

    station_id: np.ndarray  # object array of str
    district: np.ndarray  # index into the geography's districts
    lat: np.ndarray
    lon: np.ndarray

    @property
    def count(self) -> int:
        return len(self.station_id)

    def table(self, geo: Geography) -> pa.Table:
        """The station table as delivered: ID, name (district and number), coordinates."""
        names = [
            f"{geo.codes[d]}-{n}"
            for d, n in zip(self.district, _numbers(self.district), strict=True)
        ]
        return pa.table(
            {
                "station_id": pa.array(self.station_id.tolist(), pa.string()),
                "name": pa.array(names, pa.string()),
                "lat": pa.array(np.round(self.lat, 5)),
                "lon": pa.array(np.round(self.lon, 5)),
            }
        )


def site_stations(geo: Geography, config: StationConfig) -> Stations:
    """A network of stations over the districts of ``geo`` (see the module doc)."""
    rng = np.random.default_rng(config.seed)
    per_district = np.maximum(1, np.round(geo.population / config.people_per_station)).astype(int)
    smallest = np.argsort(geo.population)[: int(len(per_district) * 0.5)]
    unmonitored = rng.choice(
        smallest, int(len(per_district) * config.unmonitored_share), replace=False
    )
    per_district[unmonitored] = 0
    district = np.repeat(np.arange(geo.size), per_district)
    lat, lon = geo.points_inside(district, rng)
    ids = np.array([f"ST{n:05d}" for n in range(district.size)], dtype=object)
    return Stations(ids, district, lat, lon)


def readings(stations: Stations, field: DustField, config: StationConfig) -> pa.Table:
    """Every station's hourly readings over the field's hours, defects included."""
    rng = np.random.default_rng(config.seed + 1)
    hours = np.arange(field.config.hours)
    pm25 = field.pm25(stations.lat, stations.lon, hours)
    pm10 = field.pm10(stations.lat, stations.lon, hours)
    shape = pm25.shape
    measured = [
        np.round(v * np.exp(rng.normal(0, config.error_sd, shape) - config.error_sd**2 / 2))
        for v in (pm25, pm10)
    ]
    present = rng.random(shape) >= config.missing_share
    for s in np.flatnonzero(rng.random(stations.count) < config.outage_share):
        begin = rng.integers(0, shape[0])
        present[begin : begin + rng.integers(24, 49), s] = False
    flag = np.full(shape, "", dtype=object)
    flagged = present & (rng.random(shape) < config.flagged_share)
    flag[flagged] = rng.choice(FLAGS, int(flagged.sum()))
    for values in measured:
        negative = rng.random(shape) < config.negative_share
        values[negative] = -rng.integers(1, 10, int(negative.sum()))
        values[rng.random(shape) < config.saturated_share] = SATURATED
    hour, station = np.nonzero(present)
    start = np.datetime64(field.config.start.replace(tzinfo=None), "h")
    ts = np.char.add(np.datetime_as_string(start + hour.astype("timedelta64[h]"), unit="s"), "Z")
    blank = flagged[hour, station]
    return pa.table(
        {
            "station_id": pa.array(stations.station_id[station].tolist(), pa.string()),
            "ts": pa.array(ts.tolist(), pa.string()),
            "pm25": pa.array(np.where(blank, np.nan, measured[0][hour, station]), from_pandas=True),
            "pm10": pa.array(np.where(blank, np.nan, measured[1][hour, station]), from_pandas=True),
            "flag": pa.array(flag[hour, station].tolist(), pa.string()),
        }
    )


def _numbers(district: np.ndarray) -> np.ndarray:
    """Each station's number within its district, from 1."""
    order = np.argsort(district, kind="stable")
    first = np.searchsorted(district[order], district[order])
    numbers = np.empty(district.size, int)
    numbers[order] = np.arange(district.size) - first + 1
    return numbers
