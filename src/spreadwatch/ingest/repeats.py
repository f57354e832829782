"""What an ingest run has stored so far, per subscriber: enough to tell most new rows apart
from stored ones without reading the store back.

A carrier's file is rarely ordered by time as a whole, but each subscriber's events mostly
come in time order: a new event later than every stored event of its subscriber cannot repeat
one. :class:`RunRows` keeps, per carrier and pseudonym, the first and last stored time and the
cell of the last one (when only one stored row has that time). A new row is then

* *new* when its time falls outside its subscriber's stored span;
* decided here when its time is the last stored time: a repeat exactly when that one row had
  its cell (rows are compared whole, and pseudonyms stand for carrier and subscriber);
* otherwise *unsure*: only these are compared with the store's parts.

So the parts written earlier in a run are read back only for unordered deliveries, not for
every chunk of a day whose file spans the day.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import pyarrow as pa

from spreadwatch.interning import PairIds, StringIds, grown

_NONE = -1
_NEVER_LATE = np.iinfo(np.int64).min
_NEVER_EARLY = np.iinfo(np.int64).max


class Sorted(NamedTuple):
    """New rows sorted out against a run's stored rows."""

    repeat: np.ndarray
    """Rows known to repeat a stored row."""
    unsure: np.ndarray
    """Rows to compare with the stored rows of the same time."""


class RunRows:
    """The rows stored so far in one run, per carrier and pseudonym: first and last time,
    last cell."""

    def __init__(self) -> None:
        self._who = PairIds()
        self._cells = StringIds()
        self._first = np.empty(0, np.int64)
        self._last = np.empty(0, np.int64)
        self._last_cell = np.empty(0, np.int32)

    def __len__(self) -> int:
        return len(self._who)

    def numbers(self, carriers: pa.Array, pseudonyms: pa.Array) -> np.ndarray:
        """The run's number of each carrier's pseudonym, numbering new ones."""
        numbers = self._who.ids(carriers, pseudonyms)
        known = self._first.size
        if len(self._who) > known:
            self._first = _grown_with(self._first, len(self._who), _NEVER_EARLY)
            self._last = _grown_with(self._last, len(self._who), _NEVER_LATE)
            self._last_cell = _grown_with(self._last_cell, len(self._who), _NONE)
        return numbers

    def pseudonyms(self, numbers: np.ndarray) -> pa.Array:
        """The pseudonyms numbered ``numbers``."""
        return self._who.pseudonyms(numbers)

    def cell_numbers(self, cells: pa.Array) -> np.ndarray:
        """The run's number of each cell ID."""
        return self._cells.ids(cells)

    def sort_out(self, who: np.ndarray, micros: np.ndarray, cell: np.ndarray) -> Sorted:
        """Which of the rows (pseudonym and cell numbers, times in microseconds; distinct
        rows) repeat stored ones, and which need comparing with the store to tell."""
        repeat, unsure = _sorted_out(who, micros, cell, self._first, self._last, self._last_cell)
        return Sorted(repeat, unsure)

    def add(self, who: np.ndarray, micros: np.ndarray, cell: np.ndarray) -> None:
        """Rows now stored (distinct, none stored before)."""
        _added(who, micros, cell, self._first, self._last, self._last_cell)


def _grown_with(array: np.ndarray, size: int, fill: int) -> np.ndarray:
    """``array`` with room for ``size`` values, the new ones ``fill``."""
    bigger = grown(array, size)
    bigger[array.size :] = fill
    return bigger


@numba.njit(nogil=True, cache=True)
def _sorted_out(
    who: np.ndarray,
    micros: np.ndarray,
    cell: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    last_cell: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    repeat = np.zeros(who.size, np.bool_)
    unsure = np.zeros(who.size, np.bool_)
    for i in range(who.size):
        w, t = who[i], micros[i]
        if t < first[w] or t > last[w]:
            continue
        if t == last[w] and last_cell[w] != _NONE:
            repeat[i] = cell[i] == last_cell[w]
        else:
            unsure[i] = True
    return repeat, unsure


@numba.njit(nogil=True, cache=True)
def _added(
    who: np.ndarray,
    micros: np.ndarray,
    cell: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    last_cell: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(who.size):
        w, t = who[i], micros[i]
        if t > last[w]:
            last[w] = t
            last_cell[w] = cell[i]
        elif t == last[w]:  # another stored row of that time (another cell): no single cell
            last_cell[w] = _NONE
        if t < first[w]:
            first[w] = t
