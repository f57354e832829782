"""The running flows' bookkeeping: counts per integer key merged in batches, and string
columns as codes, runs and raw buffers."""

from __future__ import annotations

import numba
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
    in order already). The batches since the last merge are merged into the sorted counts when
    they hold an eighth as many keys (or :data:`MERGE_KEYS`), by one linear pass over both,
    from the end, in place: the sorted arrays grow by ``ndarray.resize`` (the allocator remaps
    large blocks rather than copying them), so a merge holds the sorted counts once, not twice.
    Arrays :meth:`total` handed out are never changed: the next merge writes new ones."""

    def __init__(self, keys: np.ndarray | None = None, counts: np.ndarray | None = None) -> None:
        self._sorted_keys = no_keys() if keys is None else keys
        self._sorted_counts = no_keys() if counts is None else counts
        self._owned = False  # whether only this object refers to the sorted arrays
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._recent = 0

    @property
    def held(self) -> int:
        """Keys held, counting a key once per batch it is in."""
        return self._sorted_keys.size + self._recent

    def add(self, keys: np.ndarray, counts: np.ndarray | None = None) -> None:
        keys, counts = summed(keys, np.ones(keys.size, np.int64) if counts is None else counts)
        self._keys.append(keys)
        self._counts.append(counts)
        self._recent += keys.size
        if self._recent > max(MERGE_KEYS, self._sorted_keys.size // 8):
            self._merge()

    def total(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct keys, sorted, and their summed counts."""
        if self._keys:
            self._merge()
        self._owned = False  # the caller may keep them
        return self._sorted_keys, self._sorted_counts

    def _merge(self) -> None:
        if len(self._keys) == 1:
            recent_keys, recent_counts = self._keys[0], self._counts[0]
        else:
            recent_keys, recent_counts = summed(
                np.concatenate(self._keys), np.concatenate(self._counts)
            )
        self._keys, self._counts, self._recent = [], [], 0
        recent_counts = recent_counts.astype(np.int64)
        held = self._sorted_keys.size
        if not self._owned:  # new arrays of the merged size, owned from now on
            keys = np.empty(held + recent_keys.size, np.int64)
            counts = np.empty(held + recent_keys.size, np.int64)
            keys[:held], counts[:held] = self._sorted_keys, self._sorted_counts
            self._sorted_keys, self._sorted_counts, self._owned = keys, counts, True
        else:
            self._sorted_keys.resize(held + recent_keys.size, refcheck=False)
            self._sorted_counts.resize(held + recent_keys.size, refcheck=False)
        size = _merged_in_place(
            self._sorted_keys, self._sorted_counts, held, recent_keys, recent_counts
        )
        self._sorted_keys.resize(size, refcheck=False)
        self._sorted_counts.resize(size, refcheck=False)


#: Keys added before they are merged into the sorted counts, at least.
MERGE_KEYS = 1_000_000


@numba.njit(nogil=True, cache=True)
def _merged_in_place(
    keys: np.ndarray, counts: np.ndarray, held: int, more_keys: np.ndarray, more_counts: np.ndarray
) -> int:  # pragma: no cover - compiled
    """Merge ``more_keys`` (distinct, sorted) and their counts into the first ``held`` of
    ``keys`` (distinct, sorted; room for all of both after them), counts of a key in both
    summed; returns the number of keys. Written from the end, so no key is overwritten
    before it is read; keys in both leave a gap, closed at the end."""
    i, j, at = held - 1, more_keys.size - 1, held + more_keys.size - 1
    while j >= 0:
        if i >= 0 and keys[i] > more_keys[j]:
            keys[at], counts[at] = keys[i], counts[i]
            i -= 1
        elif i >= 0 and keys[i] == more_keys[j]:
            keys[at], counts[at] = keys[i], counts[i] + more_counts[j]
            i -= 1
            j -= 1
        else:
            keys[at], counts[at] = more_keys[j], more_counts[j]
            j -= 1
        at -= 1
    # keys[: i + 1] are in place; the merged ones start at at + 1
    gap = at - i
    if gap:
        for k in range(at + 1, held + more_keys.size):
            keys[k - gap], counts[k - gap] = keys[k], counts[k]
    return held + more_keys.size - gap


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
