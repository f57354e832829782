"""Compiled linear passes of the fusion counts, where NumPy would sort.

They replace a sort of the rows, or many passes of NumPy over them, by a single pass:
:func:`grouped_rows` groups rows by subscriber (a counting sort, linear in the rows of a
chunk whatever the number of subscribers seen before), :func:`presence_changes`
finds each subscriber's distinct (hour, region) boundary cells by walking their spans in order
instead of sorting their keys, and :func:`chained_counts` walks each subscriber's rows once for
what the running flows count of them.
Compiled once and cached beside the code (``cache=True``); they release the GIL.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def grouped_rows(
    carried_who: np.ndarray,
    carried_micros: np.ndarray,
    carried_cell: np.ndarray,
    carried_region: np.ndarray,
    who: np.ndarray,
    micros: np.ndarray,
    cell: np.ndarray,
    region: np.ndarray,
    cell_rank: np.ndarray,
    scratch: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:  # pragma: no cover
    """The carried rows, then the new rows, grouped by subscriber (a counting sort: groups in
    the order first seen, rows of a group in their order; ``scratch``, -1 everywhere and
    longer than the largest subscriber, numbers the groups present and is left as it was
    found): their
    subscriber, time, cell and region, whether each is new, and whether each subscriber's
    rows are then in order of time and cell rank. One pass instead of joining the columns,
    ordering them and checking the order."""
    carried = carried_who.size
    n = carried + who.size
    local = np.empty(n, np.int64)
    seen = np.empty(n, np.int64)
    count = 0
    for i in range(n):
        g = carried_who[i] if i < carried else who[i - carried]
        if scratch[g] < 0:
            scratch[g] = count
            seen[count] = g
            count += 1
        local[i] = scratch[g]
    starts = np.zeros(count + 1, np.int64)
    for i in range(n):
        starts[local[i] + 1] += 1
    for g in range(count):
        starts[g + 1] += starts[g]
    out_who = np.empty(n, np.int64)
    out_micros = np.empty(n, np.int64)
    out_cell = np.empty(n, np.int64)
    out_region = np.empty(n, np.int64)
    is_new = np.empty(n, np.bool_)
    for i in range(n):
        at = starts[local[i]]
        starts[local[i]] += 1
        if i < carried:
            out_who[at], out_micros[at] = carried_who[i], carried_micros[i]
            out_cell[at], out_region[at] = carried_cell[i], carried_region[i]
            is_new[at] = False
        else:
            j = i - carried
            out_who[at], out_micros[at], out_cell[at], out_region[at] = (
                who[j],
                micros[j],
                cell[j],
                region[j],
            )
            is_new[at] = True
    for g in range(count):
        scratch[seen[g]] = -1
    ordered = True
    for i in range(1, n):
        if out_who[i] != out_who[i - 1]:
            continue
        if out_micros[i] < out_micros[i - 1] or (
            out_micros[i] == out_micros[i - 1]
            and cell_rank[out_cell[i]] <= cell_rank[out_cell[i - 1]]
        ):
            ordered = False
            break
    return out_who, out_micros, out_cell, out_region, is_new, ordered


@numba.njit(nogil=True, cache=True)
def distinct_groups(groups: np.ndarray, scratch: np.ndarray) -> np.ndarray:  # pragma: no cover
    """The distinct groups in the order first seen (``scratch`` as for :func:`grouped_rows`)."""
    seen = np.empty(groups.size, np.int64)
    count = 0
    for g in groups:
        if scratch[g] < 0:
            scratch[g] = 0
            seen[count] = g
            count += 1
    for g in range(count):
        scratch[seen[g]] = -1
    return seen[:count]


@numba.njit(nogil=True, cache=True)
def spans_rows(
    starts: np.ndarray, counts: np.ndarray, groups: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """The rows ``starts[g] .. starts[g] + counts[g]`` of each of ``groups``, in turn."""
    total = 0
    for g in groups:
        total += counts[g]
    rows = np.empty(total, np.int32)  # a tail holds fewer than 2**31 rows
    at = 0
    for g in groups:
        for k in range(counts[g]):
            rows[at] = starts[g] + k
            at += 1
    return rows


@numba.njit(nogil=True, cache=True)
def moved_down(
    columns: tuple[np.ndarray, np.ndarray, np.ndarray],
    starts: np.ndarray,
    counts: np.ndarray,
    groups: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Move the rows ``starts[g] .. starts[g] + counts[g]`` of each of ``groups`` (in the
    order they lie: increasing ``starts``) down to follow each other from row 0, in place in
    each of the three ``columns``, updating ``starts``; returns the rows in use."""
    first, second, third = columns
    at = 0
    for g in groups:
        begin = starts[g]
        if begin != at:
            for k in range(counts[g]):
                first[at + k] = first[begin + k]
                second[at + k] = second[begin + k]
                third[at + k] = third[begin + k]
            starts[g] = at
        at += counts[g]
    return at


@numba.njit(nogil=True, cache=True)
def last_dates(
    starts: np.ndarray, counts: np.ndarray, micros: np.ndarray, size: int, layout: Layout
) -> np.ndarray:  # pragma: no cover - compiled
    """Per group below ``size``, the local date (days since 1970) of its last row
    ``starts[g] + counts[g] - 1`` of ``micros``; -1 for groups without rows."""
    dates = np.full(size, -1, np.int32)
    for g in range(min(size, starts.size)):
        if counts[g]:
            hour = micros[starts[g] + counts[g] - 1] // layout.hour_us
            dates[g] = (hour + layout.offset_hours) // 24
    return dates


@numba.njit(nogil=True, cache=True)
def presence_changes(
    who: np.ndarray,
    region: np.ndarray,
    begin: np.ndarray,
    last: np.ndarray,
    regions: int,
    cells: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """+1 at ``hour * regions + region`` where people start being present, -1 where they stop,
    (``cells`` long) from spans of hours ``begin..last`` (non-negative; empty when ``last <
    begin``) of events ordered by subscriber and time, each subscriber counted once per hour
    and region.

    A subscriber's spans form a chain: each ends at or before the hour where the next begins.
    So the hours strictly inside a span belong to no other span of the subscriber, and only its
    first and last hours can be shared, with spans next to it in the chain: the regions already
    counted at the subscriber's current boundary hour are remembered until the hour moves on."""
    changes = np.zeros(cells, np.int64)
    counted = np.empty(8, np.int64)  # regions counted at (subscriber, boundary hour)
    held = 0
    subscriber, boundary = -1, -1
    for i in range(who.size):
        first, final, at = begin[i], last[i], region[i]
        if first > final:
            continue
        if final - first >= 2:
            changes[(first + 1) * regions + at] += 1
            changes[final * regions + at] -= 1
        for hour in (first, final):
            if who[i] != subscriber or hour != boundary:
                subscriber, boundary, held = who[i], hour, 0
            seen = False
            for j in range(held):
                if counted[j] == at:
                    seen = True
                    break
            if seen:
                continue
            if held == counted.size:
                grown = np.empty(2 * held, np.int64)
                grown[:held] = counted
                counted = grown
            counted[held] = at
            held += 1
            changes[hour * regions + at] += 1
            changes[(hour + 1) * regions + at] -= 1
    return changes


class Layout(NamedTuple):
    """The constants of one chained count: bit widths of packed keys and the hours of day."""

    hour_us: int
    gap_us: int
    offset_hours: int
    region_bits: int
    day_region_bits: int
    night_from: int
    night_until: int
    day_from: int
    day_until: int


@numba.njit(inline="always", cache=True)
def _tallied(keys: np.ndarray, counts: np.ndarray, size: int, first: int, key: int) -> int:
    """Tally ``key`` after the ``size`` held: one more for the last when it is the same key
    (and at or after ``first``, where the subscriber's start), else a new one; the new size."""
    if size > first and keys[size - 1] == key:
        counts[size - 1] += 1
        return size
    keys[size] = key
    counts[size] = 1
    return size + 1


@numba.njit(nogil=True, cache=True)
def chained_counts(
    who: np.ndarray,
    micros: np.ndarray,
    region: np.ndarray,
    is_new: np.ndarray,
    layout: Layout,
) -> tuple[np.ndarray, ...]:  # pragma: no cover - compiled
    """One walk along rows ordered by subscriber, time and cell (each subscriber's carried rows
    first) counting what :class:`spreadwatch.fusion.running.RunningFlows` counts:

    * ``begin``, ``final``: each row's span of presence hours, from its hour (no earlier than
      the hour of the subscriber's last carried row, up to which they were counted before) to
      the last hour it covers (until one second before the next event, at most ``gap_us``
      later), cut before the hour of the subscriber's last row (the watermark);
    * ``keep``: whether the row covers the watermark (still needed later);
    * packed keys of trips into new rows (KST day, origin, destination), of new rows at night
      (subscriber, region) and of new rows by day (subscriber, KST date, region), the last
      two with counts: a subscriber's consecutive rows of the same key come as one."""
    n = who.size
    h = layout.hour_us
    begin = np.empty(n, np.int64)
    final = np.empty(n, np.int64)
    keep = np.empty(n, np.bool_)
    trips = np.empty(n, np.int64)
    nights = np.empty(n, np.int64)
    night_counts = np.empty(n, np.int64)
    days = np.empty(n, np.int64)
    day_counts = np.empty(n, np.int64)
    t = nn = nd = 0
    start = 0
    while start < n:
        first_night, first_day = nn, nd  # this subscriber's keys start there
        end = start + 1
        while end < n and who[end] == who[start]:
            end += 1
        watermark = micros[end - 1] // h
        previous = np.iinfo(np.int64).min  # the hour of the last carried row (they come first)
        for i in range(start, end):
            if not is_new[i]:
                previous = micros[i] // h
        for i in range(start, end):
            hour = micros[i] // h
            reach = micros[i] + layout.gap_us
            if i + 1 < end and micros[i + 1] < reach:
                reach = micros[i + 1]
            last = max(micros[i], reach - 1_000_000) // h
            begin[i] = max(hour, previous)
            final[i] = min(last, watermark - 1)
            keep[i] = last >= watermark
            if not is_new[i]:
                continue
            local = hour + layout.offset_hours
            if i > start and region[i] != region[i - 1]:
                trips[t] = (
                    ((local // 24) << (2 * layout.region_bits))
                    | (region[i - 1] << layout.region_bits)
                    | region[i]
                )
                t += 1
            of_day = local % 24
            if of_day >= layout.night_from or of_day < layout.night_until:
                key = (who[i] << layout.region_bits) | region[i]
                nn = _tallied(nights, night_counts, nn, first_night, key)
            if layout.day_from <= of_day < layout.day_until:
                key = (
                    (who[i] << layout.day_region_bits)
                    | ((local // 24) << layout.region_bits)
                    | region[i]
                )
                nd = _tallied(days, day_counts, nd, first_day, key)
        start = end
    return (
        begin,
        final,
        keep,
        trips[:t],
        nights[:nn],
        night_counts[:nn],
        days[:nd],
        day_counts[:nd],
    )


@numba.njit(nogil=True, cache=True)
def grouped_modal(
    groups: np.ndarray, region: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per run of equal ``groups`` (non-decreasing), the group and the ``region`` with most
    ``rows``, ties to the smallest region: one walk instead of a sort."""
    n = groups.size
    out_groups = np.empty(n, np.int64)
    out_region = np.empty(n, np.int64)
    count = 0
    i = 0
    while i < n:
        best, most = region[i], rows[i]
        j = i + 1
        while j < n and groups[j] == groups[i]:
            if rows[j] > most or (rows[j] == most and region[j] < best):
                best, most = region[j], rows[j]
            j += 1
        out_groups[count], out_region[count] = groups[i], best
        count += 1
        i = j
    return out_groups[:count], out_region[:count]
