"""Clean location events of one carrier, one UTC day and one block of subscribers.

A subscriber's day: ``Poisson(events_per_day) + 1`` events at times drawn from a diurnal profile
(local time, Korea is UTC+9, no daylight saving). Events in local 09:00-18:00 (00:00-09:00 UTC)
are in the day region: the usual day region if the subscriber commutes today, else home. All other
events are in the home region. An event is on the subscriber's usual cell there (home or work cell)
with ``anchor_probability``, else on a random cell of the same region. Times of one subscriber are
distinct seconds, so clean rows are never exact duplicates of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.synth import strings
from spreadwatch.synth.cells import CarrierCells
from spreadwatch.synth.population import CarrierSubscribers

UTC_OFFSET_HOURS = 9
DAYTIME_LOCAL_HOURS = (9, 18)  # [start, end) local; in UTC: [0, 9)
SECONDS_PER_DAY = 86_400

# Relative event rate by local hour 00..23 (phones are quiet at night, busy at day and evening).
LOCAL_HOUR_WEIGHTS = np.array(
    [15, 8, 5, 4, 4, 8, 25, 45, 60, 60, 60, 60, 65, 60, 58, 58, 58, 60, 65, 65, 60, 55, 45, 30],
    dtype=float,
)
COLUMNS = ("carrier", "subscriber_id", "ts", "cell_id")


def utc_hour_profile() -> np.ndarray:
    """Probability of each UTC hour 00..23 of a UTC day."""
    weights = np.roll(LOCAL_HOUR_WEIGHTS, -UTC_OFFSET_HOURS)  # utc hour h = local hour h + 9
    return weights / weights.sum()


def is_daytime(second_of_utc_day: np.ndarray) -> np.ndarray:
    """True for seconds in local 09:00-18:00 (Korea), i.e. 00:00-09:00 UTC."""
    start, end = (h - UTC_OFFSET_HOURS for h in DAYTIME_LOCAL_HOURS)
    return (second_of_utc_day >= start * 3600) & (second_of_utc_day < end * 3600)


@dataclass(frozen=True, eq=False)
class EventBatch:
    """Clean events as indices: subscriber (carrier-wide index), second of the UTC day, cell."""

    subscriber: np.ndarray
    second: np.ndarray
    cell: np.ndarray

    @property
    def size(self) -> int:
        return len(self.second)


def distinct_seconds(
    subscriber: np.ndarray, second: np.ndarray, n_subscribers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sort events by (second, subscriber) and move a subscriber's repeated second to the next one.

    Events pushed past the end of the day are dropped (vanishingly rare).
    """
    key = second.astype(np.int64) * n_subscribers + subscriber
    key.sort()
    while True:
        repeat = np.flatnonzero(key[1:] == key[:-1]) + 1
        if repeat.size == 0:
            break
        key[repeat] += n_subscribers
        key.sort(kind="stable")  # nearly sorted: fast
    second, subscriber = np.divmod(key, n_subscribers)
    keep = second < SECONDS_PER_DAY
    return subscriber[keep], second[keep]


def day_events(
    subs: CarrierSubscribers,
    cells: CarrierCells,
    block: slice,
    *,
    events_per_day: float,
    commute_probability: float,
    anchor_probability: float,
    absence: tuple[np.ndarray, np.ndarray] | None,
    rng: np.random.Generator,
) -> EventBatch:
    """Events of subscribers ``block`` on one UTC day, ordered by time.

    ``absence`` gives, per subscriber of the block, a [from, to) second interval of the day spent
    abroad (no domestic events then).
    """
    first = block.start
    n = block.stop - block.start
    counts = rng.poisson(events_per_day, n) + 1
    local = np.repeat(np.arange(n), counts)
    hour = rng.choice(24, size=local.size, p=utc_hour_profile())
    second = hour * 3600 + rng.integers(0, 3600, local.size)
    local, second = distinct_seconds(local, second, n)
    if absence is not None:
        away_from, away_to = absence
        present = (second < away_from[local]) | (second >= away_to[local])
        local, second = local[present], second[present]

    home, home_cell = subs.home[block], subs.home_cell[block]
    goes = subs.commuter[block] & (rng.random(n) < commute_probability)
    day_region = np.where(goes, subs.day[block], home)
    day_cell = np.where(goes, subs.work_cell[block], home_cell)

    daytime = is_daytime(second)
    region = np.where(daytime, day_region[local], home[local])
    cell = np.where(daytime, day_cell[local], home_cell[local])
    roam = np.flatnonzero(rng.random(local.size) >= anchor_probability)
    cell[roam] = cells.random_in(region[roam], rng.random(roam.size))
    return EventBatch(subscriber=local + first, second=second, cell=cell)


@dataclass(frozen=True, eq=False)
class RowDefects:
    """Defects planned for one batch of clean events; row numbers are batch rows."""

    order: np.ndarray  # batch rows in output order; duplicated rows twice, adjacent
    blank: np.ndarray  # bool per batch row: empty subscriber_id
    unknown: np.ndarray  # sorted rows whose cell becomes ``unknown_ids``
    unknown_ids: pa.StringArray
    bad_ts: np.ndarray  # sorted rows whose ts becomes ``bad_ts_values``
    bad_ts_values: pa.StringArray

    @classmethod
    def clean(cls, n: int) -> RowDefects:
        nothing = np.zeros(0, dtype=np.int64)
        empty = pa.array([], pa.string())
        return cls(np.arange(n), np.zeros(n, dtype=bool), nothing, empty, nothing, empty)


def to_table(
    batch: EventBatch,
    subs: CarrierSubscribers,
    cells: CarrierCells,
    day_start: int,
    defects: RowDefects | None = None,
) -> pa.Table:
    """The ``location_events`` contract columns (all strings) of a batch, defects applied."""
    defects = defects or RowDefects.clean(batch.size)
    order = defects.order
    n = order.size
    cell = batch.cell.copy()
    cell[defects.unknown] = cells.size + np.arange(defects.unknown.size)
    ts = strings.iso_utc(day_start + batch.second[order])
    if defects.bad_ts.size:
        bad = np.zeros(batch.size, dtype=bool)
        bad[defects.bad_ts] = True
        ts = pc.replace_with_mask(ts, pa.array(bad[order]), defects.bad_ts_values)
    return pa.table(
        [
            pa.array([subs.carrier]).take(np.zeros(n, dtype=np.int32)),
            subs.ids.take(pa.array(batch.subscriber[order], mask=defects.blank[order])),
            ts,
            pa.concat_arrays([cells.ids, defects.unknown_ids]).take(cell[order]),
        ],
        names=list(COLUMNS),
    )
