"""Sorting rows by several integer keys at once, and ranks that keep strings' order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.interning import string_words


def combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as one array. A dictionary column's chunks that share one dictionary (slices
    of one array, as the readers hand them over) are joined without hashing its values again;
    chunks with dictionaries of their own are unified."""
    if isinstance(column, pa.Array):
        return column
    if pa.types.is_dictionary(column.type) and column.num_chunks > 1:
        first = column.chunk(0).dictionary
        if all(_same_array(chunk.dictionary, first) for chunk in column.chunks[1:]):
            indices = pa.concat_arrays([chunk.indices for chunk in column.chunks])
            return pa.DictionaryArray.from_arrays(indices, first)
        column = column.unify_dictionaries()
    return column.combine_chunks()


def _same_array(a: pa.Array, b: pa.Array) -> bool:
    """Whether ``a`` and ``b`` are views of the same memory (not merely equal values)."""
    addresses = [[None if x is None else x.address for x in c.buffers()] for c in (a, b)]
    return len(a) == len(b) and a.offset == b.offset and addresses[0] == addresses[1]


def ranks(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Per row, the rank of its value among the sorted distinct values (so integer order is
    the values' order); and those sorted values. Nulls are not allowed."""
    column = combined(column)
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    values = encoded.dictionary
    rank_of = value_ranks(values)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return rank_of[indices], values.take(pa.array(np.argsort(rank_of)))


def codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Per row, a number for its value: equal values, equal numbers; in no particular order
    (cheaper than :func:`ranks`: no sort, and Arrow's own indices when it can). Nulls are not
    allowed."""
    return distinct(column)[1]


def distinct(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of a column, in no particular order, and per row the position of
    its value (Arrow's own dictionary when it can). Nulls are not allowed."""
    column = combined(column)
    repeats = pa.types.is_dictionary(column.type) and len(pc.unique(column.dictionary)) < len(
        column.dictionary
    )
    if repeats:  # a value twice in the dictionary
        column = column.cast(column.type.value_type)
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    return encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False)


#: Strings ranked by their first eight bytes first, from this many on.
PREFIX_RANKED = 4096


def value_ranks(values: pa.Array) -> np.ndarray:
    """The rank of each of ``values`` (distinct) in their sorted order. Many strings are
    sorted by their first eight bytes as integers, then only those sharing them by their
    whole text (the order is the same: bytes compare as unsigned numbers, a shorter string's
    missing bytes as zeros, which only ties it)."""
    if len(values) >= PREFIX_RANKED and (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    ):
        order = _prefix_order(values)
    else:
        order = np.asarray(pc.sort_indices(values), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _prefix_order(values: pa.Array) -> np.ndarray:
    """The sorting permutation of strings by their bytes eight at a time as integers (the
    first eight for all, the next ones only among strings tied so far), the few still tied
    after 32 bytes by their whole text."""
    if not pa.types.is_large_string(values.type):
        values = values.cast(pa.large_string())  # once, not for every eight bytes
    words: dict[int, np.ndarray] = {}

    def word(k: int) -> np.ndarray:
        if k not in words:
            words[k] = string_words(values, k)
        return words[k]

    order = np.argsort(word(0))
    # equal to the next string in the first bytes so far; reordering within a run of equal
    # ones keeps the runs where they are, so this only narrows, word after word
    same = np.ones(len(order) - 1, dtype=bool)
    for k in range(4):
        ordered = word(k)[order]
        same &= ordered[1:] == ordered[:-1]
        tied, run = _tied(same)
        if not tied.size:
            break
        if k == 3:  # the same 32 first bytes: by the whole text, run by run
            for r in np.unique(run):
                at = tied[run == r]
                part = order[at]
                order[at] = part[np.asarray(pc.sort_indices(values.take(pa.array(part))))]
            break
        order[tied] = order[tied][np.lexsort((word(k + 1)[order[tied]], run))]
    return order


def _tied(same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions equal to a neighbour (``same[i]``: position ``i + 1`` equals ``i``), and per
    position the number of its run of equal ones."""
    tied = np.zeros(same.size + 1, dtype=bool)
    tied[:-1] |= same
    tied[1:] |= same
    positions = np.flatnonzero(tied)
    starts = np.ones(positions.size, dtype=bool)  # not equal to the one before
    inner = positions > 0
    starts[inner] = ~same[positions[inner] - 1]
    return positions, np.cumsum(starts)


def dense_unique(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` of non-negative integers below ``size``: by a
    table of marks (linear) when ``size`` is not much more than the number of keys."""
    if size > 4 * keys.size + 4096:
        return np.unique(keys, return_inverse=True)
    seen = np.zeros(size, dtype=bool)
    seen[keys] = True
    slot = np.cumsum(seen, dtype=np.int64) - 1
    return np.flatnonzero(seen), slot[keys]


def run_starts(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``keys`` (sorted) starts."""
    if not keys.size:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.append(True, keys[1:] != keys[:-1]))


def _packed(keys: tuple[np.ndarray, ...]) -> tuple[np.ndarray, list[int]] | None:
    """``keys`` (non-negative integers) packed into one 64-bit integer per row, most significant
    first, and each key's width in bits; ``None`` when they need more than 63 bits."""
    bits = [max(int(k.max(initial=0)).bit_length(), 1) for k in keys]
    if sum(bits) > 63:
        return None
    packed = np.zeros(keys[0].size, dtype=np.int64)
    for key, width in zip(keys, bits, strict=True):
        packed <<= width
        packed |= key
    return packed, bits


def lexical_order(*keys: np.ndarray) -> np.ndarray:
    """The permutation sorting by ``keys[0]``, then ``keys[1]``, ... (non-negative integers):
    one sort of packed 64-bit keys when they fit, else a lexicographic sort. Rows equal in
    every key keep their order."""
    if not keys or not keys[0].size:
        return np.empty(0, dtype=np.int64)
    packed = _packed(keys)
    # stable: rows mostly in order already (deliveries come by time) are merged, not sorted
    return np.lexsort(keys[::-1]) if packed is None else np.argsort(packed[0], kind="stable")


def distinct_lexical_order(*keys: np.ndarray) -> np.ndarray:
    """The positions of the distinct rows of ``keys`` (non-negative integers; the first of
    equal rows), in the order of :func:`lexical_order`: equal packed keys compared once
    when they fit in 63 bits, else key by key."""
    if not keys or not keys[0].size:
        return np.empty(0, dtype=np.int64)
    packed = _packed(keys)
    if packed is None:
        order = np.lexsort(keys[::-1])
        ordered = [key[order] for key in keys]
        repeat = np.ones(order.size - 1, dtype=bool)
        for key in ordered:
            repeat &= key[1:] == key[:-1]
    else:
        order = np.argsort(packed[0], kind="stable")
        ordered_packed = packed[0][order]
        repeat = ordered_packed[1:] == ordered_packed[:-1]
    return order[np.concatenate([[True], ~repeat])]


def sorted_keys(*keys: np.ndarray) -> list[np.ndarray] | None:
    """The rows' ``keys`` (non-negative integers) sorted by ``keys[0]``, then ``keys[1]``, ...:
    one sort of packed 64-bit values, no permutation to apply; ``None`` when they need more
    than 63 bits."""
    packed = _packed(keys)
    if packed is None:
        return None
    values, bits = packed
    values.sort()
    shift, out = sum(bits), []
    for width in bits:
        shift -= width
        key = values >> shift
        key &= (1 << width) - 1
        out.append(key)
    return out


def sorted_rows(*keys: np.ndarray) -> list[np.ndarray]:
    """The rows' ``keys`` sorted as by :func:`sorted_keys`, through a permutation when they need
    more than 63 bits."""
    done = sorted_keys(*keys)
    if done is not None:
        return done
    order = lexical_order(*keys)
    return [key[order] for key in keys]


def whole_seconds(micros: np.ndarray) -> np.ndarray | None:
    """Times (microseconds) as whole seconds after the earliest; ``None`` unless every one is a
    whole second."""
    offset = micros - (micros.min() if micros.size else 0)
    seconds = offset // 1_000_000
    return seconds if np.array_equal(seconds * 1_000_000, offset) else None


def time_key(micros: np.ndarray) -> np.ndarray:
    """Times (microseconds) as small non-negative integers of the same order: offset from the
    earliest, in whole seconds when every time is a whole second."""
    if not micros.size:
        return micros
    seconds = whole_seconds(micros)
    return micros - micros.min() if seconds is None else seconds
