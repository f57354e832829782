"""Counting kernels for the daily fusion tables, over events already in memory.

They compute exactly what the ibis expressions of :mod:`spreadwatch.fusion.mobility` define
(trips, presence, commuting; KST dates and hours; the same tie-breakers; k-suppression), but in
NumPy, by sorts of packed integer keys and linear passes instead of window functions, hour
expansion and distinct counts (the passes NumPy cannot do without a sort are compiled, in
:mod:`spreadwatch.fusion.sweeps`). The DuckDB engine uses them for every window of events that
fits in memory; the expressions stay the definition (tests assert equal tables) and what Spark runs.

Events are ordered per subscriber (carrier, pseudonym) by time, then cell: ranks of sorted
dictionaries make integer order equal to the strings' order, so ties break as in SQL. Region
codes compare as strings for the commuting tie-breaker (smallest code) the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

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
from spreadwatch.fusion.sweeps import grouped_modal, presence_changes
from spreadwatch.ordering import codes, ranks, run_starts, sorted_rows, whole_seconds
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
    return counted_pairs(
        day, e.region[:-1][moved], e.region[1:][moved], e.region_codes, "od_flows", k
    )


def counted_pairs(
    day: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    region_codes: pa.Array,
    name: str,
    k: int,
) -> pa.Table:
    """Table ``name`` counting the rows of each (KST day, first region, second region), regions
    as indices of the sorted ``region_codes``."""
    n = len(region_codes)
    keys, counts = np.unique((day * n + first) * n + second, return_counts=True)
    day, rest = np.divmod(keys, n * n)
    first, second = np.divmod(rest, n)
    return pairs_table(day, first, second, counts, region_codes, name, k)


def pairs_table(
    day: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    counts: np.ndarray,
    region_codes: pa.Array,
    name: str,
    k: int,
) -> pa.Table:
    """Table ``name`` (``od_flows`` or ``commuting``) of counts per (KST day since 1970, first
    region, second region), regions as indices of the sorted ``region_codes``, rows in that
    order (distinct, sorted by day, first, second)."""
    people, suppressed = _suppressed(counts, k)
    columns = [region_codes.take(pa.array(first)), region_codes.take(pa.array(second))]
    return pa.table([_dates(day), *columns, people, suppressed], schema=SCHEMAS[name])


#: Events counted at once by the presence kernel (bounds its temporary arrays).
PRESENCE_SLICE_EVENTS = 1_000_000


def _presence_cells(e: Events, first_hour: int, hours: int, gap_us: int) -> np.ndarray:
    """People per (epoch hour - first_hour, region): each subscriber counted once per cell.
    An event covers the hours from its own to that of one second before the subscriber's next
    event, at most ``gap_us`` later. Counted by slices of whole subscribers."""
    shape = (hours + 1, e.regions)
    changes = np.zeros(shape[0] * shape[1], dtype=np.int64)  # +1 where a span starts, -1 after
    for part in subscriber_slices(e.who, PRESENCE_SLICE_EVENTS):
        changes += _span_changes(e.who[part], e.micros[part], e.region[part], e.regions, shape,
                                 first_hour, gap_us)  # fmt: skip
    return np.cumsum(changes.reshape(shape), axis=0)[:hours]


def subscriber_slices(who: np.ndarray, rows: int) -> Iterator[slice]:
    """Consecutive slices of about ``rows`` rows (more when one subscriber has more) of events
    grouped by subscriber (each subscriber's contiguous, in any order of subscribers), each
    holding whole subscribers."""
    ends = np.append(np.flatnonzero(who[1:] != who[:-1]) + 1, who.size)
    low = 0
    while low < who.size:
        high = int(ends[np.searchsorted(ends, min(low + rows, who.size))])
        yield slice(low, high)
        low = high


def _span_changes(
    who: np.ndarray,
    micros: np.ndarray,
    region: np.ndarray,
    regions: int,
    shape: tuple[int, int],
    first_hour: int,
    gap_us: int,
) -> np.ndarray:
    """+1 at (hour, region) where a subscriber's presence in a region starts, -1 at the hour
    after it ends (flattened ``shape``), for whole subscribers."""
    last = last_hours(who, micros, gap_us) - first_hour
    begin = micros // _HOUR_US - first_hour
    return presence_changes(who, region, begin, last, regions, shape[0] * shape[1])


def last_hours(who: np.ndarray, micros: np.ndarray, gap_us: int) -> np.ndarray:
    """Per event (ordered by subscriber and time), the last UTC hour since 1970 it covers: that
    of one second before the subscriber's next event, at most ``gap_us`` later."""
    end = micros + gap_us
    follows = who[1:] == who[:-1]
    np.copyto(end[:-1], micros[1:], where=follows & (micros[1:] < end[:-1]))
    return np.maximum(micros, end - _SECOND_US) // _HOUR_US


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
    return presence_table(hour + first, region, counts[hour, region], e.region_codes, k)


def presence_table(
    hour: np.ndarray, region: np.ndarray, people: np.ndarray, region_codes: pa.Array, k: int
) -> pa.Table:
    """The ``presence`` table of ``people`` per (UTC hour since 1970, region index of the
    sorted ``region_codes``), distinct, sorted by KST date, hour and region code."""
    local = hour + TIMEZONE_OFFSET_HOURS
    counts, suppressed = _suppressed(people, k)
    table = pa.table(
        [
            _dates(local // 24),
            pa.array(local % 24, pa.int8()),
            region_codes.take(pa.array(region)),
            counts,
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
    return modal(groups[starts], region[starts], rows)


def modal(
    groups: np.ndarray, region: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value of ``groups`` (non-negative), in increasing order: the value and the
    region with most ``rows`` (counts of distinct (group, region) pairs), ties to the smallest
    rank."""
    if not groups.size:
        return groups, region
    if (groups[1:] >= groups[:-1]).all():  # as counts come: one walk
        return grouped_modal(groups, region.astype(np.int64, copy=False), rows)
    groups, _, region = sorted_rows(groups, rows.max() - rows, region)  # most rows first
    first = run_starts(groups)
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
    day_date += low
    return commuting_table(home_who, homes, day_who, day_date, day_regions, e.region_codes, k)


def commuting_table(
    home_who: np.ndarray,
    homes: np.ndarray,
    day_who: np.ndarray,
    day_date: np.ndarray,
    day_regions: np.ndarray,
    region_codes: pa.Array,
    k: int,
) -> pa.Table:
    """The ``commuting`` table from each subscriber's home (``home_who`` sorted, distinct) and
    their day region per KST date; subscribers without a home are not counted."""
    if not home_who.size or not day_who.size:
        return SCHEMAS["commuting"].empty_table()
    at = np.minimum(np.searchsorted(home_who, day_who), home_who.size - 1)
    known = home_who[at] == day_who
    homes = homes[at[known]]
    return counted_pairs(day_date[known], homes, day_regions[known], region_codes, "commuting", k)
