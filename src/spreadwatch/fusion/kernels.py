"""Compiled counting kernels for the daily fusion tables, over events already in memory.

They compute exactly what the ibis expressions of :mod:`spreadwatch.fusion.mobility` define
(trips, presence, commuting; KST dates and hours; the same tie-breakers; k-suppression), but in
one sort and a few linear passes instead of window functions, hour expansion and distinct
counts. The DuckDB engine uses them for every window of events that fits in memory; the
expressions stay the definition (tests assert equal tables) and what Spark runs.

Events are ordered per subscriber (carrier, pseudonym) by time, then cell: ranks of sorted
dictionaries make integer order equal to the strings' order, so ties break as in SQL. Region
codes compare as strings for the commuting tie-breaker (smallest code) the same way.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.fusion.mobility import (
    DAY_HOURS,
    DEFAULT_MAX_GAP_HOURS,
    NIGHT_HOURS,
    SCHEMAS,
    TIMEZONE_OFFSET_HOURS,
)
from spreadwatch.ordering import lexical_order, ranks, time_key
from spreadwatch.privacy.kanon import DEFAULT_K

_SECOND_US = 1_000_000
_HOUR_US = 3600 * _SECOND_US
_EPOCH = np.datetime64("1970-01-01", "D")


class NotCountable(ValueError):
    """Events the kernels do not take (missing values, times before 1970, a span of hours too
    long for the presence table): use the expressions instead."""


#: Most (hour, region) cells the presence kernel counts in one dense table.
PRESENCE_CELLS_MAX = 20_000_000


class Events:
    """Events as integer arrays ordered by subscriber, time and cell: prepare once, count
    several tables."""

    def __init__(self, events: pa.Table) -> None:
        if events.num_rows and any(events[c].null_count for c in events.column_names):
            raise NotCountable("events with missing values")
        micros = pc.cast(events["ts"], pa.timestamp("us", "UTC")).cast(pa.int64())
        micros = micros.to_numpy()
        if micros.size and micros.min() < 0:  # SQL's % and // truncate there; NumPy floors
            raise NotCountable("events before 1970")
        carrier, _ = ranks(events["carrier"])
        pseudo, _ = ranks(events["subscriber_pseudo"])
        cell, _ = ranks(events["cell_id"])
        region, self.region_codes = ranks(events["region_code"])
        who = carrier * (int(pseudo.max(initial=0)) + 1) + pseudo
        order = lexical_order(who, time_key(micros), cell)
        self.who = who[order]
        self.micros = micros[order]
        self.region = region[order]
        self.regions = len(self.region_codes)

    def local_hours(self) -> np.ndarray:
        """KST hours since 1970-01-01T00:00 (KST) of each event."""
        return self.micros // _HOUR_US + TIMEZONE_OFFSET_HOURS


def as_events(events: pa.Table | Events) -> Events:
    return events if isinstance(events, Events) else Events(events)


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array((_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[D]"), pa.date32())


def _suppressed(counts: np.ndarray, k: int) -> tuple[pa.Array, pa.Array]:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    small = counts < k
    return pa.array(np.where(small, 0, counts), pa.int64()), pa.array(small)


def od_flows(events: pa.Table | Events, k: int = DEFAULT_K) -> pa.Table:
    """Daily trips between regions (see :func:`spreadwatch.fusion.mobility.od_flows`)."""
    e = as_events(events)
    moved = (e.who[1:] == e.who[:-1]) & (e.region[1:] != e.region[:-1])
    day = e.local_hours()[1:][moved] // 24
    return _daily_pairs(e, day, e.region[:-1][moved], e.region[1:][moved], "od_flows", k)


def _daily_pairs(
    e: Events, day: np.ndarray, first: np.ndarray, second: np.ndarray, name: str, k: int
) -> pa.Table:
    """Table ``name`` counting the rows of each (KST day, first region, second region)."""
    n = e.regions
    keys, counts = np.unique((day * n + first) * n + second, return_counts=True)
    day, rest = np.divmod(keys, n * n)
    first, second = np.divmod(rest, n)
    people, suppressed = _suppressed(counts, k)
    codes = e.region_codes
    columns = [codes.take(pa.array(first)), codes.take(pa.array(second))]
    return pa.table([_dates(day), *columns, people, suppressed], schema=SCHEMAS[name])


@numba.njit(cache=True)
def _presence_cells(who, micros, region, regions, first_hour, hours, gap_us):  # pragma: no cover
    """People per (epoch hour - first_hour, region): each subscriber counted once per cell.
    An event covers the hours from its own to that of one second before the subscriber's next
    event, at most ``gap_us`` later."""
    counts = np.zeros((hours, regions), dtype=np.int64)
    seen_hour = np.full(regions, -1, dtype=np.int64)  # last hour a region was counted for ``who``
    seen_who = np.full(regions, -1, dtype=np.int64)
    n = who.size
    hour_us = 3600 * 1_000_000
    for i in range(n):
        start = micros[i]
        end = start + gap_us
        if i + 1 < n and who[i + 1] == who[i] and micros[i + 1] < end:
            end = micros[i + 1]
        last = max(start, end - 1_000_000) // hour_us
        r = region[i]
        for hour in range(start // hour_us, last + 1):
            if seen_who[r] == who[i] and seen_hour[r] >= hour:
                continue  # hours come in order per subscriber: counted already
            seen_who[r] = who[i]
            seen_hour[r] = hour
            counts[hour - first_hour, r] += 1
    return counts


def presence(
    events: pa.Table | Events, k: int = DEFAULT_K, max_gap_hours: int = DEFAULT_MAX_GAP_HOURS
) -> pa.Table:
    """People present per region and hour (see :func:`spreadwatch.fusion.mobility.presence`)."""
    e = as_events(events)
    if not e.who.size:
        return SCHEMAS["presence"].empty_table()
    first = int(e.micros.min()) // _HOUR_US
    hours = int(e.micros.max()) // _HOUR_US + max_gap_hours + 1 - first
    if hours * e.regions > PRESENCE_CELLS_MAX:
        raise NotCountable(f"{hours:,} hours of {e.regions} regions")
    counts = _presence_cells(
        e.who, e.micros, e.region, e.regions, first, hours, max_gap_hours * _HOUR_US
    )
    hour, region = np.nonzero(counts)
    local = hour + first + TIMEZONE_OFFSET_HOURS
    people, suppressed = _suppressed(counts[hour, region], k)
    table = pa.table(
        [
            _dates(local // 24),
            pa.array(local % 24, pa.int8()),
            e.region_codes.take(pa.array(region)),
            people,
            suppressed,
        ],
        schema=SCHEMAS["presence"],
    )
    return table.sort_by(
        [("date", "ascending"), ("hour", "ascending"), ("region_code", "ascending")]
    )


@numba.njit(cache=True)
def _modal(groups, region, regions):  # pragma: no cover
    """Per run of equal ``groups`` (sorted): the region with most rows, ties to the smallest
    rank; returns (run starts, modal regions)."""
    n = groups.size
    starts = []
    modes = []
    tally = np.zeros(regions, dtype=np.int64)
    i = 0
    while i < n:
        j = i
        while j < n and groups[j] == groups[i]:
            tally[region[j]] += 1
            j += 1
        best = -1
        for t in range(i, j):
            r = region[t]
            if best < 0 or tally[r] > tally[best] or (tally[r] == tally[best] and r < best):
                best = r
        for t in range(i, j):
            tally[region[t]] = 0
        starts.append(i)
        modes.append(best)
        i = j
    return np.array(starts, dtype=np.int64), np.array(modes, dtype=np.int64)


def commuting(events: pa.Table | Events, k: int = DEFAULT_K) -> pa.Table:
    """Residents by home and day region (see :func:`spreadwatch.fusion.mobility.commuting`)."""
    e = as_events(events)
    local = e.local_hours()
    hour = local % 24
    night = (hour >= NIGHT_HOURS[0]) | (hour < NIGHT_HOURS[1])
    day = (hour >= DAY_HOURS[0]) & (hour < DAY_HOURS[1])
    if not night.any() or not day.any():
        return SCHEMAS["commuting"].empty_table()
    # homes: modal night region per subscriber (events are sorted by subscriber)
    starts, homes = _modal(e.who[night], e.region[night], e.regions)
    home_who = e.who[night][starts]
    # day regions: modal day region per subscriber and date (sorted by subscriber, then time)
    date = local[day] // 24
    span = int(date.max() - date.min()) + 1
    group = e.who[day] * span + (date - date.min())
    starts, day_regions = _modal(group, e.region[day], e.regions)
    day_who, day_date = e.who[day][starts], date[starts]
    at = np.searchsorted(home_who, day_who)
    at = np.minimum(at, home_who.size - 1)
    known = home_who[at] == day_who
    return _daily_pairs(e, day_date[known], homes[at[known]], day_regions[known], "commuting", k)
