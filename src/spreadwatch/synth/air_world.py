"""The fine-dust part of a synthetic world: the field, its stations, the homes' purifiers and
the truth of what people breathe where they are.

``truth/air.parquet`` holds, per UTC hour and si-gun-gu: the outdoor PM2.5 and PM10 (the
district's mean over 16 points), the mean indoor PM2.5 of its homes (owners of purifiers and
not, :func:`spreadwatch.synth.purifiers.population_indoor`), the people present (census
population moved by the true commuting: during local 09-18 residents are where the day's
mixing matrix sends them, otherwise at home) and their exposure, people x (``time_indoors`` x
indoor + the rest x outdoor), in person-ug/m3.

``truth/air_daily.parquet`` holds, per complete KST date, the population-weighted PM2.5 breathed
and the true shares of people whose day's mean exceeds Korea's daily standard (35 ug/m3) and
the WHO's guideline (15): residents of each district spend local 09-18 where that day's mixing
matrix sends them (in expectation) and the rest at home.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pyarrow as pa

from spreadwatch import regions
from spreadwatch.synth.config import SynthConfig
from spreadwatch.synth.dust import DustConfig, DustField
from spreadwatch.synth.events import is_daytime
from spreadwatch.synth.geography import Geography, commute_probability, daily_matrix
from spreadwatch.synth.purifiers import Homes, IndoorConfig, make_homes, population_indoor
from spreadwatch.synth.stations import StationConfig, Stations, readings, site_stations
from spreadwatch.synth.telemetry import Households, PurifierDay

HOURS_PER_DAY = 24
#: Daily PM2.5 thresholds (24-hour means, ug/m3): Korea's standard and the WHO's guideline.
DAILY_THRESHOLDS = {"korea": 35.0, "who": 15.0}
_DAY_KST = (9, 18)


@dataclass(frozen=True, eq=False)
class AirWorld:
    """A world's dust: its field, stations, indoor model and the outdoor truth by district."""

    field: DustField
    stations: Stations
    station_config: StationConfig
    indoor: IndoorConfig
    outdoor_pm25: np.ndarray  # (hours, districts)
    outdoor_pm10: np.ndarray

    def purifier_homes(self, households: Households, n_regions: int) -> Homes:
        """The homes of ``households``' purifiers (every one an owner), drawn once."""
        rng = np.random.default_rng([self.indoor.seed, 4])
        return make_homes(self.indoor, households.region, n_regions, rng, owners=True)

    def purifier_day(self, homes: Homes, day: int) -> PurifierDay:
        """What the purifiers of ``homes`` (:meth:`purifier_homes`) read from on ``day``."""
        hours = slice(day * HOURS_PER_DAY, (day + 1) * HOURS_PER_DAY)
        return PurifierDay(homes, self.outdoor_pm25[hours], self.outdoor_pm10[hours])


def make_air_world(config: SynthConfig, geo: Geography) -> AirWorld:
    """The dust of ``config``'s days (from its start date, 00 UTC)."""
    air = config.air
    areas = regions.load("sigungu").regions["area_km2"].to_numpy(float)
    start = datetime.combine(config.start_date, time())
    dust = DustConfig(
        start=start,
        hours=config.days * HOURS_PER_DAY,
        seed=config.seed + 101,
        episode_every_hours=air.episode_every_hours,
    )
    field = DustField(dust, geo, areas)
    station_config = StationConfig(
        people_per_station=air.people_per_station, seed=config.seed + 102
    )
    pm25, pm10 = field.district_means(np.arange(config.days * HOURS_PER_DAY))
    return AirWorld(
        field=field,
        stations=site_stations(geo, station_config),
        station_config=station_config,
        indoor=IndoorConfig(
            ownership=air.purifier_ownership, infiltration=air.infiltration, seed=config.seed + 103
        ),
        outdoor_pm25=pm25,
        outdoor_pm10=pm10,
    )


def station_tables(world: AirWorld, geo: Geography) -> tuple[pa.Table, pa.Table]:
    """The station table and every station's hourly readings, as delivered."""
    return world.stations.table(geo), readings(world.stations, world.field, world.station_config)


def truth_tables(
    world: AirWorld, config: SynthConfig, geo: Geography, usual: np.ndarray
) -> dict[str, pa.Table]:
    """``air`` and ``air_daily`` of ``truth/`` (see the module doc)."""
    n = geo.size
    population = geo.population.astype(float)
    people, indoor, mixings = [], [], []
    for d in range(config.days):
        day: date = config.start_date + timedelta(days=d)
        mixing = daily_matrix(usual, commute_probability(config.mobility, day))
        mixings.append(mixing)
        away = population @ mixing
        daytime = is_daytime(np.arange(HOURS_PER_DAY) * 3600)
        people.append(np.where(daytime[:, None], away[None, :], population[None, :]))
        hours = slice(d * HOURS_PER_DAY, (d + 1) * HOURS_PER_DAY)
        indoor.append(
            population_indoor(world.indoor, world.outdoor_pm25[hours], d * HOURS_PER_DAY, 0)
        )
    present, inside = np.concatenate(people), np.concatenate(indoor)
    outdoor = world.outdoor_pm25
    share = config.air.time_indoors
    breathed = share * inside + (1 - share) * outdoor
    hours = world.outdoor_pm25.shape[0]
    start = np.datetime64(datetime.combine(config.start_date, time()), "h")
    ts = start + np.arange(hours).astype("timedelta64[h]")
    hourly = pa.table(
        {
            "ts": pa.array(np.repeat(ts, n).astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "region_code": pa.array(np.tile(geo.codes, hours), pa.string()),
            "pm25": np.round(outdoor.ravel(), 3),
            "pm10": np.round(world.outdoor_pm10.ravel(), 3),
            "indoor_pm25": np.round(inside.ravel(), 3),
            "people": np.round(present.ravel(), 1),
            "exposure": np.round((present * breathed).ravel(), 1),
        }
    )
    return {
        "air": hourly,
        "air_daily": _daily_truth(config, breathed, present, mixings, population),
    }


def _daily_truth(
    config: SynthConfig,
    breathed: np.ndarray,
    present: np.ndarray,
    mixings: list[np.ndarray],
    population: np.ndarray,
) -> pa.Table:
    """Per complete KST date (the first starts at 15 UTC of the first day): population-
    weighted PM2.5 breathed and the shares of people above the daily thresholds."""
    offset = HOURS_PER_DAY - 9  # UTC hour of the first local midnight
    days = (breathed.shape[0] - offset) // HOURS_PER_DAY
    local = np.arange(HOURS_PER_DAY)
    working = (local >= _DAY_KST[0]) & (local < _DAY_KST[1])
    rows: dict[str, list] = {"date": [], "pm25_weighted": []}
    rows.update({f"share_above_{name}": [] for name in DAILY_THRESHOLDS})
    for k in range(days):
        block = slice(offset + k * HOURS_PER_DAY, offset + (k + 1) * HOURS_PER_DAY)
        air, people = breathed[block], present[block]
        day_mean, rest_mean = air[working].mean(axis=0), air[~working].mean(axis=0)
        share = working.mean()
        # residents of o spending the day in d: (o, d)
        daily = share * day_mean[None, :] + (1 - share) * rest_mean[:, None]
        mixing = mixings[k + 1]  # the local date k + 1 of the window is UTC date k + 1
        rows["date"].append(config.start_date + timedelta(days=k + 1))
        rows["pm25_weighted"].append(float((people * air).sum() / people.sum()))
        for name, threshold in DAILY_THRESHOLDS.items():
            above = ((daily > threshold) * mixing).sum(axis=1) @ population / population.sum()
            rows[f"share_above_{name}"].append(round(float(above), 4))
    rows["pm25_weighted"] = [round(v, 3) for v in rows["pm25_weighted"]]
    return pa.table({**rows, "date": pa.array(rows["date"], pa.date32())})
