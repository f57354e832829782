"""Population exposure to PM2.5: where people are, hour by hour, against where the dust is.

* **Dynamic** (what this stage computes): the people present in each district each hour (the
  carriers' hourly ``presence`` expanded to the census: each district's count times its
  census population over its mean count in the local night hours (00-06 KST, when people are
  at home), every hour then scaled to the census total) times what they breathe there:
  ``time_indoors`` of the hour at the indoor concentration (the outdoor field times the
  district's indoor/outdoor ratio, :mod:`spreadwatch.air.indoor`) and the rest outdoors.
* **Static** (what one computes without the carriers): the census population of each district,
  all day at home, times the outdoor field there.

Both are in person-ug/m3 per district and hour; divided by the people, a population-weighted
concentration. :func:`share_above` gives, per day, the share of people whose day's mean
exceeds a daily threshold: residents of a district spend the local working hours (09-18 KST)
in their day region (the carriers' ``commuting`` table: each home district's counted
subscribers' shares by day region, applied to its census population) and the rest of the day
at home.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.kst import KST_OFFSET_HOURS

#: Share of their hours people spend indoors (time-use surveys of Korean adults: about 90%).
TIME_INDOORS = 0.9
#: Local hours (KST, from, to before) spent in the day region, and their share of a day.
DAY_HOURS_KST = (9, 18)
WORKING_SHARE = (DAY_HOURS_KST[1] - DAY_HOURS_KST[0]) / 24
#: Local hours (KST, from, to before) when people are at home: residents' counts.
NIGHT_HOURS_KST = (0, 6)
_HOUR = np.timedelta64(1, "h")


@dataclass(frozen=True, eq=False)
class Exposure:
    """Dynamic and static exposure, ``(hours, districts)`` arrays from hour ``start`` (UTC)."""

    start: np.datetime64
    codes: np.ndarray
    people: np.ndarray  # present, scaled to the census
    census: np.ndarray  # (districts,)
    outdoor: np.ndarray  # PM2.5 outdoors
    breathed: np.ndarray  # PM2.5 breathed by those present (indoors and out)

    @property
    def dynamic(self) -> np.ndarray:
        return self.people * self.breathed

    @property
    def static(self) -> np.ndarray:
        return self.census[None, :] * self.outdoor

    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """Per hour, the population-weighted PM2.5, dynamic and static."""
        return (
            self.dynamic.sum(axis=1) / self.people.sum(axis=1),
            self.static.sum(axis=1) / self.census.sum(),
        )

    def table(self) -> pa.Table:
        """One row per hour and district: ``ts`` (UTC), ``region_code``, ``people``,
        ``census``, ``pm25`` (outdoors), ``pm25_breathed``, ``exposure`` (dynamic) and
        ``exposure_static`` (person-ug/m3)."""
        hours, n = self.people.shape
        ts = (self.start + np.repeat(np.arange(hours), n) * _HOUR).astype("datetime64[us]")
        return pa.table(
            {
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "region_code": pa.array(np.tile(self.codes, hours), pa.string()),
                "people": np.round(self.people.ravel(), 1),
                "census": np.tile(self.census, hours),
                "pm25": np.round(self.outdoor.ravel(), 2),
                "pm25_breathed": np.round(self.breathed.ravel(), 2),
                "exposure": np.round(self.dynamic.ravel(), 1),
                "exposure_static": np.round(self.static.ravel(), 1),
            }
        )


def hourly_people(
    presence: pa.Table, start: np.datetime64, hours: int, codes: np.ndarray, census: np.ndarray
) -> np.ndarray:
    """People present per UTC hour and district, ``(hours, districts)``, from the fusion's
    ``presence`` table (KST ``date`` and ``hour``), expanded to the census (see the module
    doc); an hour without counts, and a district without night-time counts, keep the
    census."""
    local = pc.cast(presence["date"], pa.timestamp("s")).cast(pa.int64()).to_numpy()
    hour = local // 3600 + presence["hour"].to_numpy().astype(np.int64) - KST_OFFSET_HOURS
    row = hour - start.astype("datetime64[h]").astype(np.int64)
    column = pc.index_in(presence["region_code"], value_set=pa.array(codes.tolist())).to_numpy(
        zero_copy_only=False
    )
    keep = (row >= 0) & (row < hours) & ~np.isnan(column.astype(float))
    counts = np.zeros((hours, len(codes)))
    people = presence["people"].to_numpy().astype(float)
    np.add.at(counts, (row[keep], column[keep].astype(int)), people[keep])
    local = (start.astype("datetime64[h]").astype(np.int64) + np.arange(hours)) + KST_OFFSET_HOURS
    counted = counts.sum(axis=1) > 0
    night = counted & (local % 24 < NIGHT_HOURS_KST[1])
    residents = counts[night].mean(axis=0) if night.any() else np.zeros(len(codes))
    expanded = np.where(residents > 0, counts * census / np.maximum(residents, 1e-9), census)
    total = expanded.sum(axis=1, keepdims=True)
    scaled = expanded * (census.sum() / np.where(total > 0, total, 1.0))
    return np.where(counted[:, None], scaled, census[None, :])


def breathed(outdoor: np.ndarray, indoor_ratio: np.ndarray, time_indoors: float) -> np.ndarray:
    """PM2.5 breathed: ``time_indoors`` at ``outdoor x indoor_ratio``, the rest outdoors."""
    return outdoor * (time_indoors * indoor_ratio + (1.0 - time_indoors))


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Total absolute error over total truth: ``sum |estimate - truth| / sum truth``."""
    return float(np.abs(estimate - truth).sum() / truth.sum())


@dataclass(frozen=True, eq=False)
class DayParts:
    """Per complete KST day and district, the mean of a concentration over the day hours
    (:data:`DAY_HOURS_KST`) and over the rest."""

    dates: np.ndarray  # datetime64[D], KST
    day: np.ndarray  # (days, districts)
    rest: np.ndarray

    def whole_day(self) -> np.ndarray:
        """Per day and district, the mean over all 24 hours."""
        return WORKING_SHARE * self.day + (1 - WORKING_SHARE) * self.rest


def day_parts(values: np.ndarray, start: np.datetime64) -> DayParts:
    """:class:`DayParts` of ``(hours, districts)`` values from UTC hour ``start``."""
    first = start.astype("datetime64[h]").astype(np.int64) + KST_OFFSET_HOURS  # local hour
    skip = (-first) % 24  # to the first local midnight
    days = (values.shape[0] - skip) // 24
    if days < 1:
        none = np.empty((0, values.shape[1]))
        return DayParts(np.array([], "datetime64[D]"), none, none)
    block = values[skip : skip + days * 24].reshape(days, 24, values.shape[1])
    working = np.zeros(24, bool)
    working[DAY_HOURS_KST[0] : DAY_HOURS_KST[1]] = True
    midnight = np.datetime64(int(first + skip), "h").astype("datetime64[D]")
    return DayParts(
        dates=midnight + np.arange(days),
        day=block[:, working].mean(axis=1),
        rest=block[:, ~working].mean(axis=1),
    )


def share_above(
    parts: DayParts, where: np.ndarray, census: np.ndarray, threshold: float
) -> np.ndarray:
    """Per day, the share of people whose day's mean PM2.5 exceeds ``threshold``: residents
    of district ``o`` spend the day hours in ``d`` with probability ``where[day, o, d]`` and
    the rest at home."""
    daily = WORKING_SHARE * parts.day[:, None, :] + (1 - WORKING_SHARE) * parts.rest[:, :, None]
    above = (daily > threshold) * where
    return (above.sum(axis=2) * census[None, :]).sum(axis=1) / census.sum()


def commuting_shares(
    commuting: pa.Table, dates: np.ndarray, codes: np.ndarray, census: np.ndarray
) -> np.ndarray:
    """``where[day, home, day region]`` from the fusion's ``commuting`` table (KST dates):
    the shares of each home district's counted subscribers by day region (groups below the
    k-anonymity threshold are not in the table); a home district without counts that day
    stays home."""
    n = len(codes)
    where = np.zeros((len(dates), n, n))
    if not len(dates):
        return where
    values = pa.array(codes.tolist())
    day = pc.cast(commuting["date"], pa.date32()).to_numpy(zero_copy_only=False)
    home = pc.index_in(commuting["home_region"], value_set=values).to_numpy(zero_copy_only=False)
    away = pc.index_in(commuting["day_region"], value_set=values).to_numpy(zero_copy_only=False)
    at = np.searchsorted(dates, day.astype("datetime64[D]"))
    people = commuting["people"].to_numpy().astype(float)
    keep = (
        (at < len(dates))
        & (dates[np.minimum(at, len(dates) - 1)] == day.astype("datetime64[D]"))
        & ~np.isnan(home.astype(float))
        & ~np.isnan(away.astype(float))
        & (people > 0)
    )
    np.add.at(where, (at[keep], home[keep].astype(int), away[keep].astype(int)), people[keep])
    counted = where.sum(axis=2, keepdims=True)
    where = where / np.where(counted > 0, counted, 1.0)
    stay = counted[..., 0] == 0
    idx = np.arange(n)
    where[:, idx, idx] += stay  # nobody counted: all at home
    return where
