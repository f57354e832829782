"""Strings numbered in the order first seen, by a hash table that lasts.

Arrow's ``index_in`` builds a hash table of its value set on every call: looking a chunk's
subscribers up among every subscriber seen so far costs as much as hashing all of those again,
chunk after chunk. :class:`StringIds` keeps its table: a chunk costs what its own strings do.
Strings are compared byte for byte on a hash match, so two strings never share a number.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_EMPTY = -1
_MIN_SLOTS = 1 << 10
#: Slots are 32-bit (4 bytes per slot, not 8): at most this many strings.
_MAX_STRINGS = 1 << 30


class StringIds:
    """Distinct strings numbered ``0, 1, ...`` in the order first seen."""

    def __init__(self, values: pa.Array | None = None) -> None:
        self._offsets = np.zeros(1, np.int64)
        self._data = np.empty(0, np.uint8)
        self._hashes = np.empty(0, np.uint64)
        self._slots = np.full(_MIN_SLOTS, _EMPTY, np.int32)
        self._count = 0
        if values is not None and len(values):
            self.ids(values)

    def __len__(self) -> int:
        return self._count

    @property
    def values(self) -> pa.Array:
        """The strings, in number order."""
        n = self._count
        offsets = self._offsets[: n + 1]
        values = pa.LargeStringArray.from_buffers(
            n, pa.py_buffer(offsets), pa.py_buffer(self._data[: offsets[-1]])
        )
        return values.cast(pa.string())

    def take(self, ids: np.ndarray) -> pa.Array:
        """The strings numbered ``ids`` (a string array)."""
        offsets = self._offsets
        lengths = offsets[ids + 1] - offsets[ids]
        out_offsets = np.zeros(ids.size + 1, np.int64)
        np.cumsum(lengths, out=out_offsets[1:])
        data = _gathered(offsets, self._data, ids, out_offsets)
        values = pa.LargeStringArray.from_buffers(
            ids.size, pa.py_buffer(out_offsets), pa.py_buffer(data)
        )
        return values.cast(pa.string())

    def ids(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The number of each of ``values`` (which may repeat; no nulls), numbering those not
        seen before."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if values.null_count:
            raise ValueError("strings to number must not be null")
        offsets, data = _buffers(values)
        self._reserve(len(values), int(offsets[-1] - offsets[0]))
        ids, self._count = _number(
            offsets,
            data,
            self._offsets,
            self._data,
            self._hashes,
            self._slots,
            self._count,
        )
        return ids

    def _reserve(self, more: int, more_bytes: int) -> None:
        """Room for ``more`` new strings of ``more_bytes`` bytes, the table at most half full."""
        need = self._count + more
        if need + 1 > self._offsets.size:
            self._offsets = grown(self._offsets, need + 1)
            self._hashes = grown(self._hashes, need)
        used = int(self._offsets[self._count])
        if used + more_bytes > self._data.size:
            self._data = grown(self._data, used + more_bytes)
        size = _slots_for(need, self._slots.size)
        if size:
            self._slots = _rehashed(self._hashes, self._count, size)


def _slots_for(need: int, slots: int) -> int:
    """The number of slots for ``need`` entries, the table at most half full, when ``slots``
    are too few (else 0); 32-bit slots number at most ``_MAX_STRINGS``."""
    if need >= _MAX_STRINGS:
        raise OverflowError(f"more than {_MAX_STRINGS} distinct values to number")
    if 2 * need <= slots:
        return 0
    while 2 * need > slots:
        slots *= 2
    return slots


def grown(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` with room for ``size`` values at least (half as many again), the new ones
    zero; ``array`` itself when it has the room."""
    if size <= array.size:
        return array
    bigger = np.zeros(max(size, array.size + array.size // 2), array.dtype)
    bigger[: array.size] = array
    return bigger


def _buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's offsets (64-bit, as they are: not from 0) and its UTF-8 bytes."""
    if not pa.types.is_large_string(values.type):
        values = values.cast(pa.large_string())
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset :][: len(values) + 1]
    data = values.buffers()[2]
    return offsets, (np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8))


@numba.njit(inline="always", cache=True)
def _hash(data: np.ndarray, start: int, end: int) -> np.uint64:  # pragma: no cover - compiled
    """FNV-1a over the bytes, then a finalizer spreading them over all 64 bits."""
    h = np.uint64(14695981039346656037)
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * np.uint64(1099511628211)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@numba.njit(inline="always", cache=True)
def _place(slots: np.ndarray, h: np.uint64, i: int) -> None:  # pragma: no cover - compiled
    """Put entry ``i`` of hash ``h`` in the first free slot from its own."""
    mask = np.uint64(slots.size - 1)
    slot = h & mask
    while slots[slot] != _EMPTY:
        slot = (slot + np.uint64(1)) & mask
    slots[slot] = np.int32(i)


@numba.njit(nogil=True, cache=True)
def _rehashed(hashes: np.ndarray, count: int, size: int) -> np.ndarray:  # pragma: no cover
    slots = np.full(size, _EMPTY, np.int32)
    for i in range(count):
        _place(slots, hashes[i], i)
    return slots


@numba.njit(nogil=True, cache=True)
def _number(
    offsets: np.ndarray,
    data: np.ndarray,
    known_offsets: np.ndarray,
    known_data: np.ndarray,
    hashes: np.ndarray,
    slots: np.ndarray,
    count: int,
) -> tuple[np.ndarray, int]:  # pragma: no cover - compiled
    """Per string, its number; new strings appended to the known ones (room reserved)."""
    mask = np.uint64(slots.size - 1)
    ids = np.empty(offsets.size - 1, np.int64)
    for i in range(offsets.size - 1):
        start, end = offsets[i], offsets[i + 1]
        h = _hash(data, start, end)
        slot = h & mask
        while True:
            known = slots[slot]
            if known == _EMPTY:
                break
            if hashes[known] == h:
                k0, k1 = known_offsets[known], known_offsets[known + 1]
                if k1 - k0 == end - start:
                    same = True
                    for j in range(end - start):
                        if known_data[k0 + j] != data[start + j]:
                            same = False
                            break
                    if same:
                        break
            slot = (slot + np.uint64(1)) & mask
        if known == _EMPTY:
            known = count
            at = known_offsets[count]
            length = end - start
            known_data[at : at + length] = data[start:end]
            known_offsets[count + 1] = at + length
            hashes[count] = h
            slots[slot] = np.int32(count)
            count += 1
        ids[i] = known
    return ids, count


@numba.njit(nogil=True, cache=True)
def _gathered(
    offsets: np.ndarray, data: np.ndarray, ids: np.ndarray, out_offsets: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    out = np.empty(out_offsets[-1], np.uint8)
    for i in range(ids.size):
        start, at = offsets[ids[i]], out_offsets[i]
        out[at : out_offsets[i + 1]] = data[start : start + out_offsets[i + 1] - at]
    return out


def string_words(values: pa.Array, word: int) -> np.ndarray:
    """Per string, its bytes ``8 * word`` to ``8 * word + 8`` as a big-endian unsigned integer
    (missing bytes as zeros): integer order is the strings' order, up to ties."""
    offsets, data = _buffers(values)
    return _words(offsets, data, 8 * word)


@numba.njit(nogil=True, cache=True)
def _words(offsets: np.ndarray, data: np.ndarray, skip: int) -> np.ndarray:  # pragma: no cover
    out = np.zeros(offsets.size - 1, np.uint64)
    for i in range(offsets.size - 1):
        key = np.uint64(0)
        start, end = offsets[i] + skip, offsets[i + 1]
        for j in range(8):
            byte = np.uint64(data[start + j]) if start + j < end else np.uint64(0)
            key = (key << np.uint64(8)) | byte
        out[i] = key
    return out


#: Between a carrier and a pseudonym in a pair's key text (never in a carrier name).
SEPARATOR = "\x1f"
_HEX_DIGITS = 16
_DECIMAL_DIGITS = 19  # below 2**64
_FORMS = ("hex", "decimal")
#: A pair's group: its carrier's number times this, plus the identifier's length.
_GROUP_LENGTHS = 32
_MAX_CARRIERS = (1 << 31) // _GROUP_LENGTHS
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


class PairIds:
    """Distinct ``(carrier, identifier)`` pairs numbered ``0, 1, ...`` in the order first seen.

    Identifiers of the expected ``form`` are held as 64-bit numbers: about 20 bytes a pair
    instead of some 60 as text, which counts at ten million subscribers. The forms: ``"hex"``,
    16 lowercase hex digits (pseudonyms, as the keyring makes them); ``"decimal"``, 1 to 19
    decimal digits (subscriber numbers; leading zeros kept apart by the length). Once another
    identifier comes, every pair is held as ``carrier<US>identifier`` text
    (:class:`StringIds`), numbers unchanged."""

    def __init__(self, form: str = "hex") -> None:
        if form not in _FORMS:
            raise ValueError(f"form {form!r}: expected one of {', '.join(_FORMS)}")
        self._decimal = form == "decimal"
        self._carriers = StringIds()
        self._values = np.empty(0, np.uint64)
        self._groups = np.empty(0, np.int32)
        self._slots = np.full(_MIN_SLOTS, _EMPTY, np.int32)
        self._count = 0
        self._text: StringIds | None = None

    def __len__(self) -> int:
        return len(self._text) if self._text is not None else self._count

    def ids(self, carriers: pa.Array, pseudonyms: pa.Array) -> np.ndarray:
        """The number of each ``(carriers[i], pseudonyms[i])`` (strings, no nulls), numbering
        pairs not seen before."""
        if self._text is None:
            offsets, data = _buffers(pseudonyms)
            values, lengths, ok = _compact_values(offsets, data, self._decimal)
            if ok:
                carrier = self._carriers.ids(carriers)
                if len(self._carriers) <= _MAX_CARRIERS:
                    groups = (carrier * _GROUP_LENGTHS + lengths).astype(np.int32)
                    return self._numbered(groups, values)
            self._text = StringIds(self.keys())
        return self._text.ids(_joined(carriers, pseudonyms))

    def pseudonyms(self, ids: np.ndarray) -> pa.Array:
        """The pseudonyms of pairs ``ids``."""
        if self._text is not None:
            return _after_separator(self._text.take(ids))
        lengths = self._groups[ids] % _GROUP_LENGTHS
        return _digits_text(self._values[ids], lengths, self._decimal)

    def keys(self) -> pa.Array:
        """Every pair as ``carrier<US>pseudonym``, in number order."""
        if self._text is not None:
            return self._text.values
        ids = np.arange(self._count)
        carrier = self._groups[: self._count] // _GROUP_LENGTHS
        carriers = self._carriers.values.take(pa.array(carrier))
        return _joined(carriers, self.pseudonyms(ids))

    def arrays(self) -> dict[str, np.ndarray] | None:
        """The pairs as arrays, without copying them: ``groups`` and ``values`` in number
        order and the carriers' text (``carrier_offsets``, ``carrier_data``); ``None`` once they
        are held as text (:meth:`keys` then). See :meth:`from_arrays`."""
        if self._text is not None:
            return None
        offsets, data = _buffers(self._carriers.values)
        return {
            "groups": self._groups[: self._count],
            "values": self._values[: self._count],
            "carrier_offsets": offsets - offsets[0],
            "carrier_data": data[offsets[0] : offsets[-1]],
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], form: str = "hex") -> PairIds:
        """The pairs of :meth:`arrays`, numbered as they were."""
        pairs = cls(form)
        offsets = arrays["carrier_offsets"].astype(np.int64)
        data = arrays["carrier_data"].astype(np.uint8)
        carriers = pa.LargeStringArray.from_buffers(
            offsets.size - 1, pa.py_buffer(offsets), pa.py_buffer(data)
        )
        pairs._carriers = StringIds(carriers.cast(pa.string()))
        pairs._groups = np.asarray(arrays["groups"], np.int32)
        pairs._values = np.asarray(arrays["values"], np.uint64)
        pairs._count = pairs._values.size
        size = _slots_for(pairs._count, _MIN_SLOTS) or _MIN_SLOTS
        pairs._slots = _pairs_rehashed(pairs._groups, pairs._values, pairs._count, size)
        return pairs

    @classmethod
    def from_keys(cls, keys: pa.Array, form: str = "hex") -> PairIds:
        """The pairs of :meth:`keys`, numbered in their order."""
        pairs = cls(form)
        if len(keys):
            parts = pc.split_pattern(keys, SEPARATOR, max_splits=1)
            carriers = pc.list_element(parts, 0)
            pseudonyms = pc.list_element(parts, 1)
            pairs.ids(carriers, pseudonyms)
        return pairs

    def _numbered(self, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
        need = self._count + groups.size
        if need > self._values.size:
            self._values = grown(self._values, need)
            self._groups = grown(self._groups, need)
        size = _slots_for(need, self._slots.size)
        if size:
            self._slots = _pairs_rehashed(self._groups, self._values, self._count, size)
        ids, self._count = _pair_numbers(
            groups, values, self._groups, self._values, self._slots, self._count
        )
        return ids


def _joined(carriers: pa.Array, pseudonyms: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(carriers, pseudonyms, SEPARATOR)


def _after_separator(keys: pa.Array) -> pa.Array:
    return pc.list_element(pc.split_pattern(keys, SEPARATOR, max_splits=1), 1)


def _digits_text(values: np.ndarray, lengths: np.ndarray, decimal: bool) -> pa.Array:
    """Each value written in ``lengths`` digits (decimal or lowercase hex)."""
    offsets = np.zeros(values.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = _written(values, offsets, np.uint64(10 if decimal else 16), _HEX)
    text = pa.LargeStringArray.from_buffers(values.size, pa.py_buffer(offsets), pa.py_buffer(data))
    return text.cast(pa.string())


@numba.njit(nogil=True, cache=True)
def _compact_values(
    offsets: np.ndarray, data: np.ndarray, decimal: bool
) -> tuple[np.ndarray, np.ndarray, bool]:  # pragma: no cover - compiled
    """Per string, the number its digits write and their count: 1 to 19 decimal digits, or
    16 lowercase hex digits; ``False`` when a string is not of that form."""
    values = np.empty(offsets.size - 1, np.uint64)
    lengths = np.empty(offsets.size - 1, np.int64)
    base = np.uint64(10 if decimal else 16)
    for i in range(offsets.size - 1):
        start, length = offsets[i], offsets[i + 1] - offsets[i]
        if decimal:
            if length < 1 or length > _DECIMAL_DIGITS:
                return values, lengths, False
        elif length != _HEX_DIGITS:
            return values, lengths, False
        value = np.uint64(0)
        for j in range(length):
            byte = data[start + j]
            if 48 <= byte <= 57:
                digit = byte - 48
            elif not decimal and 97 <= byte <= 102:
                digit = byte - 87
            else:
                return values, lengths, False
            value = value * base + np.uint64(digit)
        values[i], lengths[i] = value, length
    return values, lengths, True


@numba.njit(nogil=True, cache=True)
def _written(
    values: np.ndarray, offsets: np.ndarray, base: np.uint64, digits: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    out = np.empty(offsets[-1], np.uint8)
    for i in range(values.size):
        value = values[i]
        for j in range(offsets[i + 1] - 1, offsets[i] - 1, -1):
            out[j] = digits[value % base]
            value //= base
    return out


@numba.njit(inline="always", cache=True)
def _pair_hash(group: np.int32, value: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    h = value ^ (np.uint64(group) * np.uint64(0x9E3779B97F4A7C15))
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@numba.njit(nogil=True, cache=True)
def _pairs_rehashed(
    groups: np.ndarray, values: np.ndarray, count: int, size: int
) -> np.ndarray:  # pragma: no cover - compiled
    """The slots of the first ``count`` pairs (their hashes computed again, not kept)."""
    slots = np.full(size, _EMPTY, np.int32)
    for i in range(count):
        _place(slots, _pair_hash(groups[i], values[i]), i)
    return slots


@numba.njit(nogil=True, cache=True)
def _pair_numbers(
    groups_in: np.ndarray,
    values_in: np.ndarray,
    groups: np.ndarray,
    values: np.ndarray,
    slots: np.ndarray,
    count: int,
) -> tuple[np.ndarray, int]:  # pragma: no cover - compiled
    mask = np.uint64(slots.size - 1)
    ids = np.empty(groups_in.size, np.int64)
    for i in range(groups_in.size):
        group, value = groups_in[i], values_in[i]
        slot = _pair_hash(group, value) & mask
        while True:
            known = slots[slot]
            if known == _EMPTY or (values[known] == value and groups[known] == group):
                break
            slot = (slot + np.uint64(1)) & mask
        if known == _EMPTY:
            known = count
            values[count], groups[count] = value, group
            slots[slot] = np.int32(count)
            count += 1
        ids[i] = known
    return ids, count
