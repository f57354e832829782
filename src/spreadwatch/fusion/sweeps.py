"""Compiled linear passes of the fusion counts, where NumPy would sort.

Both replace a sort of the rows by a single pass: :func:`grouped_order` orders rows by
subscriber (a counting sort), and :func:`presence_changes` finds each subscriber's distinct
(hour, region) boundary cells by walking their spans in order instead of sorting their keys.
Compiled once and cached beside the code (``cache=True``); they release the GIL.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def grouped_order(groups: np.ndarray, count: int) -> np.ndarray:  # pragma: no cover - compiled
    """The stable order of rows by ``groups`` (integers ``0 <= g < count``): rows of group 0 in
    their order, then those of group 1, ... A counting sort: linear in rows plus ``count``."""
    starts = np.zeros(count + 1, np.int64)
    for g in groups:
        starts[g + 1] += 1
    for g in range(count):
        starts[g + 1] += starts[g]
    order = np.empty(groups.size, np.int64)
    for i in range(groups.size):
        g = groups[i]
        order[starts[g]] = i
        starts[g] += 1
    return order


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
