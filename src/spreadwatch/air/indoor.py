"""The indoor/outdoor ratio of PM2.5 by district and hour, from the homes' air purifiers.

A purifier reports its indoor PM2.5 and whether it runs (telemetry kinds ``pm25`` and
``purifier_on`` of one device at one time). Each such reading is set against the estimated
outdoor PM2.5 of its household's district at that hour, and:

* ``infiltration[r]``: the mean indoor/outdoor ratio of the readings with the purifier off in
  district ``r`` (dust let in, plus what homes make themselves), shrunk toward the national
  mean by :data:`PRIOR_READINGS` readings' weight. Only purifiers in manual mode count here
  (those that never reported ``fan_mode`` 0, auto): one in auto mode is off only while its
  home's air is clean, so its off readings would understate what gets in; when fewer than
  :data:`MIN_CELL` manual readings exist, all purifiers' do. A district with fewer homes
  than the k-anonymity threshold behind its readings takes the national mean (no output
  follows one household's air);
* ``relief[g, l]``: the purifier homes' mean ratio (running or not) relative to the national
  ratio with it off, by the outdoor grade ``g`` and the local hour ``l`` (purifiers run more
  when the air is bad and in the evening); a cell with fewer than :data:`MIN_CELL` readings
  takes its grade's mean, a grade without readings 1;
* the ratio of a district's people ``infiltration[r] x ((1 - ownership) + ownership x
  relief[g, l])``: ``ownership`` is the share of homes with a purifier (a survey figure; 0.6
  by default).

Without purifier readings the ratio is :data:`DEFAULT_INFILTRATION` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.air.grades import GRADE_BOUNDS, grade
from spreadwatch.kst import KST_OFFSET_HOURS
from spreadwatch.privacy.kanon import DEFAULT_K

DEFAULT_INFILTRATION = 0.55
DEFAULT_OWNERSHIP = 0.6
PRIOR_READINGS = 20.0
MIN_CELL = 10
_GRADES = len(GRADE_BOUNDS) + 1


@dataclass(frozen=True, eq=False)
class PurifierReadings:
    """Purifier readings as parallel arrays: UTC hour (since 1970), district index, indoor
    PM2.5, running, whether the purifier is one in auto mode, and its household (a number)."""

    hour: np.ndarray
    district: np.ndarray
    indoor: np.ndarray
    on: np.ndarray
    auto: np.ndarray
    home: np.ndarray

    @property
    def count(self) -> int:
        return len(self.hour)


def purifier_readings(
    telemetry: pa.Table, households: pa.Table, codes: np.ndarray
) -> PurifierReadings:
    """The readings of devices that report both ``pm25`` and ``purifier_on`` at the same
    time, in households whose district (``households``' ``region_code``) is among
    ``codes``."""
    kinds = pa.array(["pm25", "purifier_on", "fan_mode"])
    wanted = telemetry.filter(pc.is_in(telemetry["kind"], kinds))
    modes = wanted.filter(pc.equal(wanted["kind"], "fan_mode"))
    auto_devices = pc.unique(modes.filter(pc.equal(modes["value"], 0.0))["device_pseudo"])
    keys = ["device_pseudo", "ts"]
    pm25 = wanted.filter(pc.equal(wanted["kind"], "pm25")).select(
        [*keys, "household_pseudo", "value"]
    )
    on = wanted.filter(pc.equal(wanted["kind"], "purifier_on")).select([*keys, "value"])
    joined = pm25.join(on.rename_columns([*keys, "on"]), keys, join_type="inner")
    homes = households.select(["household_pseudo", "region_code"])
    joined = joined.join(homes, "household_pseudo", join_type="inner")
    district = pc.index_in(joined["region_code"], value_set=pa.array(codes.tolist()))
    joined = joined.append_column("district", district).filter(pc.is_valid(district))
    ts = joined["ts"].combine_chunks().cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return PurifierReadings(
        hour=ts.to_numpy() // 3_600_000_000,
        district=joined["district"].to_numpy().astype(np.int64),
        indoor=joined["value"].to_numpy().astype(float),
        on=joined["on"].to_numpy() > 0.5,
        auto=pc.is_in(joined["device_pseudo"], value_set=auto_devices).to_numpy(
            zero_copy_only=False
        ),
        home=pc.dictionary_encode(joined["household_pseudo"]).combine_chunks().indices.to_numpy(),
    )


@dataclass(frozen=True, eq=False)
class IndoorModel:
    """What the purifiers say (see the module doc)."""

    infiltration: np.ndarray  # (districts,)
    relief: np.ndarray  # (grades, local hours)
    ownership: float
    readings: int

    def ratio(self, outdoor: np.ndarray, start: np.datetime64) -> np.ndarray:
        """The people's indoor/outdoor ratio, ``(hours, districts)`` like ``outdoor``
        (estimated PM2.5 from UTC hour ``start``)."""
        hours = start.astype("datetime64[h]").astype(np.int64) + np.arange(outdoor.shape[0])
        local = (hours + KST_OFFSET_HOURS) % 24
        relief = self.relief[grade(outdoor), local[:, None]]
        return self.infiltration[None, :] * ((1 - self.ownership) + self.ownership * relief)


def fit_indoor(
    readings: PurifierReadings,
    outdoor: np.ndarray,
    start: np.datetime64,
    ownership: float = DEFAULT_OWNERSHIP,
    k: int = DEFAULT_K,
) -> IndoorModel:
    """The :class:`IndoorModel` of ``readings`` against the estimated ``outdoor`` PM2.5
    ``(hours, districts)`` from UTC hour ``start``."""
    n = outdoor.shape[1]
    row = readings.hour - start.astype("datetime64[h]").astype(np.int64)
    inside = (row >= 0) & (row < outdoor.shape[0])
    if not inside.any():
        return IndoorModel(np.full(n, DEFAULT_INFILTRATION), np.ones((_GRADES, 24)), ownership, 0)
    row, district = row[inside], readings.district[inside]
    out = outdoor[row, district]
    ratio = readings.indoor[inside] / np.maximum(out, 1.0)
    off = ~readings.on[inside]
    manual_off = off & ~readings.auto[inside]
    if manual_off.sum() >= MIN_CELL:
        off = manual_off
    national = ratio[off].mean() if off.any() else DEFAULT_INFILTRATION
    count = np.bincount(district[off], minlength=n)
    total = np.bincount(district[off], weights=ratio[off], minlength=n)
    infiltration = (total + PRIOR_READINGS * national) / (count + PRIOR_READINGS)
    infiltration[_homes_per(district[off], readings.home[inside][off], n) < k] = national
    cell = grade(out) * 24 + (readings.hour[inside] + KST_OFFSET_HOURS) % 24
    per_cell = np.bincount(cell, minlength=_GRADES * 24).reshape(_GRADES, 24)
    sums = np.bincount(cell, weights=ratio, minlength=_GRADES * 24).reshape(_GRADES, 24)
    homes_in = _homes_per(cell, readings.home[inside], _GRADES * 24).reshape(_GRADES, 24)
    homes_by_grade = _homes_per(cell // 24, readings.home[inside], _GRADES)
    by_grade = sums.sum(axis=1) / np.maximum(per_cell.sum(axis=1), 1)
    by_grade = np.where(homes_by_grade >= k, by_grade, national)
    shown = (per_cell >= MIN_CELL) & (homes_in >= k)
    mean = np.where(shown, sums / np.maximum(per_cell, 1), by_grade[:, None])
    return IndoorModel(infiltration, mean / national, ownership, int(inside.sum()))


def _homes_per(group: np.ndarray, home: np.ndarray, groups: int) -> np.ndarray:
    """How many distinct homes have readings in each of ``groups`` groups."""
    if not group.size:
        return np.zeros(groups, int)
    pairs = np.unique(np.column_stack([group, home]), axis=0)
    return np.bincount(pairs[:, 0], minlength=groups)
