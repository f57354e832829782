"""Sorting rows by several integer keys at once, and ranks that keep strings' order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def ranks(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Per row, the rank of its value among the sorted distinct values (so integer order is
    the values' order); and those sorted values. Nulls are not allowed."""
    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_dictionary(column.type):  # as read from Parquet: one dictionary a chunk
            column = column.unify_dictionaries()
        column = column.combine_chunks()
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    values = encoded.dictionary
    rank_of = value_ranks(values)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return rank_of[indices], values.take(pa.array(np.argsort(rank_of)))


def value_ranks(values: pa.Array) -> np.ndarray:
    """The rank of each of ``values`` (distinct) in their sorted order."""
    order = np.asarray(pc.sort_indices(values), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def dense_unique(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` of non-negative integers below ``size``: by a
    table of marks (linear) when ``size`` is not much more than the number of keys."""
    if size > 4 * keys.size + 4096:
        return np.unique(keys, return_inverse=True)
    seen = np.zeros(size, dtype=bool)
    seen[keys] = True
    slot = np.cumsum(seen, dtype=np.int64) - 1
    return np.flatnonzero(seen), slot[keys]


def lexical_order(*keys: np.ndarray) -> np.ndarray:
    """The permutation sorting by ``keys[0]``, then ``keys[1]``, ... (non-negative integers):
    one sort of packed 64-bit keys when they fit, else a lexicographic sort. Rows equal in
    every key come in no particular order."""
    if not keys or not keys[0].size:
        return np.empty(0, dtype=np.int64)
    bits = [max(int(k.max()).bit_length(), 1) for k in keys]
    if sum(bits) > 63:
        return np.lexsort(keys[::-1])
    packed = np.zeros(keys[0].size, dtype=np.int64)
    for key, width in zip(keys, bits, strict=True):
        packed = (packed << width) | key
    return np.argsort(packed)


def time_key(micros: np.ndarray) -> np.ndarray:
    """Times (microseconds) as small non-negative integers of the same order: offset from the
    earliest, in whole seconds when every time is a whole second."""
    if not micros.size:
        return micros
    offset = micros - micros.min()
    return offset // 1_000_000 if not np.any(offset % 1_000_000) else offset
