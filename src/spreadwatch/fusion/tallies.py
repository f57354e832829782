"""The running flows' bookkeeping: counts per integer key merged in batches, and string
columns as codes, runs and raw buffers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from spreadwatch.interning import StringIds
from spreadwatch.ordering import (
    combined,
    dense_unique,
    distinct,
    run_starts,
)


class Counts:
    """Counts per non-negative integer key: each batch summed as it is added (its keys mostly
    in order already), the batches merged when asked for or when many are held."""

    def __init__(self, keys: np.ndarray | None = None, counts: np.ndarray | None = None) -> None:
        self._keys = [] if keys is None else [keys]
        self._counts = [] if counts is None else [counts]
        self._held = 0 if keys is None else keys.size
        self._merged = self._held

    @property
    def held(self) -> int:
        """Keys held, counting a key once per batch it is in."""
        return self._held

    def add(self, keys: np.ndarray, counts: np.ndarray | None = None) -> None:
        keys, counts = summed(keys, np.ones(keys.size, np.int64) if counts is None else counts)
        self._keys.append(keys)
        self._counts.append(counts)
        self._held += keys.size
        if self._held > max(2_000_000, 2 * self._merged):
            self.total()

    def total(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct keys, sorted, and their summed counts."""
        if len(self._keys) != 1:
            keys, counts = summed(
                np.concatenate(self._keys or [no_keys()]),
                np.concatenate(self._counts or [no_keys()]),
            )
            self._keys, self._counts = [keys], [counts]
            self._held = self._merged = keys.size
        return self._keys[0], self._counts[0]


class ClosedDays:
    """One region number per subscriber and date (2 bytes each; ``NONE`` where the subscriber
    has none): each subscriber's modal daytime region of the dates no later event can fall on.
    Ten million subscribers over two weeks take 280 MB."""

    NONE = 0xFFFF

    def __init__(self) -> None:
        self._dates: dict[int, np.ndarray] = {}

    def add(self, who: np.ndarray, date: np.ndarray, region: np.ndarray) -> None:
        """Each ``who``'s ``region`` on ``date`` (regions below ``NONE``)."""
        if not who.size:
            return
        order = np.argsort(date, kind="stable")
        who, date, region = who[order], date[order], region[order]
        for part in np.split(np.arange(date.size), np.flatnonzero(np.diff(date)) + 1):
            regions = self._dates.get(int(date[part[0]]), np.empty(0, np.uint16))
            size = int(who[part].max()) + 1
            if size > regions.size:
                bigger = np.full(max(size, regions.size + regions.size // 2), self.NONE, np.uint16)
                bigger[: regions.size] = regions
                regions = bigger
            regions[who[part]] = region[part]
            self._dates[int(date[part[0]])] = regions

    def dates(self) -> list[int]:
        return sorted(self._dates)

    def of(self, date: int) -> tuple[np.ndarray, np.ndarray]:
        """The subscribers with a region on ``date``, in order, and their regions."""
        regions = self._dates.get(date, np.empty(0, np.uint16))
        who = np.flatnonzero(regions != self.NONE)
        return who, regions[who].astype(np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (see :meth:`from_arrays`)."""
        dates = self.dates()
        arrays = {f"closed_day_{i}": self._dates[d] for i, d in enumerate(dates)}
        return {"closed_dates": np.array(dates, np.int64), **arrays}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ClosedDays:
        closed = cls()
        for i, date in enumerate(arrays["closed_dates"].tolist()):
            closed._dates[int(date)] = arrays[f"closed_day_{i}"].astype(np.uint16)
        return closed


def summed(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys``, sorted, and the sum of their ``counts``."""
    order = np.argsort(keys, kind="stable")  # sorted runs are merged, not sorted again
    keys, counts = keys[order], counts[order]
    first = run_starts(keys)
    return keys[first], np.add.reduceat(counts, first) if first.size else counts


def no_keys() -> np.ndarray:
    return np.empty(0, np.int64)


def coded(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A string column as values and, per row, the position of its value: a dictionary
    column's own (whose values may repeat), else its distinct values."""
    if pa.types.is_dictionary(column.type):
        whole = combined(column)
        return whole.dictionary, whole.indices.to_numpy(zero_copy_only=False)
    return distinct(column)


def numbered_values(interned: StringIds, column: pa.ChunkedArray) -> np.ndarray:
    """Per row, the number of its value in ``interned``; only values the rows hold are taken
    (a chunk's dictionary may also hold its quarantined rows' values)."""
    values, at = coded(column)
    used, where = dense_unique(at.astype(np.int64), len(values))
    return interned.ids(values.take(pa.array(used)))[where]


def runs(same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the number of its run of equal subscribers (``same``: row i+1 is row i's), and
    each run's first and last row."""
    first = np.ones(same.size + 1, dtype=bool)
    first[1:] = ~same
    starts = np.flatnonzero(first)
    return np.cumsum(first) - 1, starts, np.append(starts[1:], same.size + 1) - 1


def string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array as its offsets (from 0) and UTF-8 bytes."""
    values = values.cast(pa.large_string())
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset :][: len(values) + 1]
    data = values.buffers()[2]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8)
    return offsets - offsets[0], raw[offsets[0] : offsets[-1]].copy()


def string_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    values = pa.LargeStringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data)
    )
    return values.cast(pa.string())
