"""Counting kernels for the daily fusion tables, over events already in memory.

They compute exactly what the ibis expressions of :mod:`spreadwatch.fusion.mobility` define
(trips, presence, commuting; KST dates and hours; the same tie-breakers; k-suppression), but in
NumPy, by sorts of packed integer keys and linear passes instead of window functions, hour
expansion and distinct counts (no compiled code to load: a process's first call costs what the
others do). The DuckDB engine uses them for every window of events that fits in memory; the
expressions stay the definition (tests assert equal tables) and what Spark runs.

Events are ordered per subscriber (carrier, pseudonym) by time, then cell: ranks of sorted
dictionaries make integer order equal to the strings' order, so ties break as in SQL. Region
codes compare as strings for the commuting tie-breaker (smallest code) the same way.
"""

from __future__ import annotations

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
from spreadwatch.ordering import codes, ranks, sorted_rows, whole_seconds
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
        # a subscriber is a (carrier, pseudonym) pair, numbered in any order
        carrier, pseudo = codes(events["carrier"]), codes(events["subscriber_pseudo"])
        cell, _ = ranks(events["cell_id"])
        region, self.region_codes = ranks(events["region_code"])
        who = carrier.astype(np.int64)
        who *= int(pseudo.max(initial=0)) + 1
        who += pseudo
        self.regions = len(self.region_codes)
        # ordered by subscriber, time, cell (then region, one per cell); whole seconds pack
        # into fewer bits
        low = int(micros.min()) if micros.size else 0
        seconds = whole_seconds(micros)
        unit, offset = (1, micros - low) if seconds is None else (_SECOND_US, seconds)
        self.who, offset, _, self.region = sorted_rows(who, offset, cell, region)
        offset *= unit
        offset += low
        self.micros = offset

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


#: Events counted at once by the presence kernel (bounds its temporary arrays).
PRESENCE_SLICE_EVENTS = 1_000_000


def _presence_cells(e: Events, first_hour: int, hours: int, gap_us: int) -> np.ndarray:
    """People per (epoch hour - first_hour, region): each subscriber counted once per cell.
    An event covers the hours from its own to that of one second before the subscriber's next
    event, at most ``gap_us`` later. Counted by slices of whole subscribers."""
    shape = (hours + 1, e.regions)
    changes = np.zeros(shape[0] * shape[1], dtype=np.int64)  # +1 where a span starts, -1 after
    low = 0
    while low < e.who.size:
        high = min(low + PRESENCE_SLICE_EVENTS, e.who.size)
        high = int(np.searchsorted(e.who, e.who[high - 1], side="right"))  # whole subscribers
        part = slice(low, high)
        changes += _span_changes(e.who[part], e.micros[part], e.region[part], e.regions, shape,
                                 first_hour, gap_us)  # fmt: skip
        low = high
    return np.cumsum(changes.reshape(shape), axis=0)[:hours]


def _span_changes(
    who: np.ndarray,
    micros: np.ndarray,
    region: np.ndarray,
    regions: int,
    shape: tuple[int, int],
    first_hour: int,
    gap_us: int,
) -> np.ndarray:
    """+1 at (first hour, region) of each subscriber's spans of hours in a region, -1 at the
    hour after their last (flattened ``shape``), for whole subscribers."""
    end = micros + gap_us
    follows = who[1:] == who[:-1]
    np.copyto(end[:-1], micros[1:], where=follows & (micros[1:] < end[:-1]))
    last = np.maximum(micros, end - _SECOND_US) // _HOUR_US - first_hour
    begin = micros // _HOUR_US - first_hour
    # a subscriber's hours in a region are the union of its events' spans there: by start,
    # each span counts from the hour after the latest end so far
    who, region, begin, last = sorted_rows(who, region, begin, last)
    new = np.ones(who.size, dtype=bool)
    new[1:] = (who[1:] != who[:-1]) | (region[1:] != region[:-1])
    lift = (np.cumsum(new) - 1) * shape[0]  # groups in increasing order: a running max
    covered = np.maximum.accumulate(last + lift) - lift
    after = np.empty_like(covered)
    after[0], after[1:] = 0, covered[:-1] + 1
    after[new] = 0
    begin = np.maximum(begin, after)
    spans = begin <= last
    cells = shape[0] * shape[1]
    starts = np.bincount(begin[spans] * regions + region[spans], minlength=cells)
    return starts - np.bincount((last[spans] + 1) * regions + region[spans], minlength=cells)


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
    counts = _presence_cells(e, first, hours, max_gap_hours * _HOUR_US)
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


def _modal(groups: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value of ``groups`` (non-negative), in increasing order: the value and the
    region with most rows, ties to the smallest rank."""
    groups, region = sorted_rows(groups, region)
    new = np.ones(groups.size, dtype=bool)
    new[1:] = (groups[1:] != groups[:-1]) | (region[1:] != region[:-1])
    starts = np.flatnonzero(new)
    rows = np.diff(np.append(starts, groups.size))
    groups, region = groups[starts], region[starts]
    groups, _, region = sorted_rows(groups, rows.max() - rows, region)  # most rows first
    first = np.ones(groups.size, dtype=bool)
    first[1:] = groups[1:] != groups[:-1]
    return groups[first], region[first]


def commuting(events: pa.Table | Events, k: int = DEFAULT_K) -> pa.Table:
    """Residents by home and day region (see :func:`spreadwatch.fusion.mobility.commuting`)."""
    e = as_events(events)
    local = e.local_hours()
    hour = local % 24
    night = (hour >= NIGHT_HOURS[0]) | (hour < NIGHT_HOURS[1])
    day = (hour >= DAY_HOURS[0]) & (hour < DAY_HOURS[1])
    if not night.any() or not day.any():
        return SCHEMAS["commuting"].empty_table()
    # homes: modal night region per subscriber
    home_who, homes = _modal(e.who[night], e.region[night])
    # day regions: modal day region per subscriber and date
    date = local[day] // 24
    low = int(date.min())
    span = int(date.max()) - low + 1
    groups, day_regions = _modal(e.who[day] * span + (date - low), e.region[day])
    day_who, day_date = np.divmod(groups, span)
    at = np.searchsorted(home_who, day_who)
    at = np.minimum(at, home_who.size - 1)
    known = home_who[at] == day_who
    day_date += low
    return _daily_pairs(e, day_date[known], homes[at[known]], day_regions[known], "commuting", k)
