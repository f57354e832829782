"""Vectorised building of fixed-width ASCII strings (ids, ISO timestamps) as Arrow arrays.

Strings are assembled as rows of a NumPy byte matrix and handed to Arrow without a Python loop per
value: about 10 M timestamps per second instead of ~0.4 M with ``pyarrow.compute.strftime``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import pyarrow as pa

_DIGITS = np.frombuffer(b"0123456789", dtype="S1")
_SECONDS_PER_DAY = 86_400


def decimal(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal strings (NumPy ``S{width}``) of non-negative integers."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() >= 10**width):
        raise ValueError(f"values do not fit in {width} decimal digits")
    out = np.empty((values.size, width), dtype="S1")
    rest = values.copy()
    for column in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, column] = _DIGITS[digit]
    return out.view(f"S{width}").ravel()


@cache
def _hex_pairs(upper: bool) -> np.ndarray:
    alphabet = "0123456789ABCDEF" if upper else "0123456789abcdef"
    return np.array([a + b for a in alphabet for b in alphabet], dtype="S2")


def hexadecimal(raw: np.ndarray, upper: bool = False) -> np.ndarray:
    """Hex strings (NumPy ``S{2k}``) of the rows of an ``(n, k)`` uint8 matrix."""
    raw = np.asarray(raw, dtype=np.uint8)
    pairs = np.ascontiguousarray(_hex_pairs(upper)[raw])
    return pairs.view(f"S{2 * raw.shape[1]}").ravel()


def concat(parts: Sequence[np.ndarray | bytes], n: int) -> pa.StringArray:
    """Concatenate fixed-width parts row by row into an Arrow string array of length ``n``.

    Each part is a ``bytes`` constant or a NumPy ``S`` array whose every value fills its width.
    """
    fields = []
    for k, part in enumerate(parts):
        width = len(part) if isinstance(part, bytes) else np.asarray(part).dtype.itemsize
        fields.append((f"f{k}", f"S{width}"))
    rows = np.empty(n, dtype=fields)
    for (name, _), part in zip(fields, parts, strict=True):
        rows[name] = part
    width = rows.dtype.itemsize
    if n * width >= 2**31:
        raise ValueError("string column too large for one chunk; lower chunk_rows")
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(rows.view(np.uint8)))


@cache
def _time_of_day() -> np.ndarray:
    """``HH:MM:SSZ`` for every second of a day (``S9``)."""
    hour, rest = np.divmod(np.arange(_SECONDS_PER_DAY), 3600)
    minute, second = np.divmod(rest, 60)
    cols = [decimal(hour, 2), decimal(minute, 2), decimal(second, 2)]
    rows = np.empty(_SECONDS_PER_DAY, dtype=[(f"f{i}", f"S{w}") for i, w in enumerate((2, 1) * 3)])
    for i, (col, sep) in enumerate(zip(cols, (b":", b":", b"Z"), strict=True)):
        rows[f"f{2 * i}"] = col
        rows[f"f{2 * i + 1}"] = sep
    return rows.view("S9")


def iso_dates(days_since_epoch: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` (``S10``) of day numbers since 1970-01-01."""
    days = np.asarray(days_since_epoch, dtype=np.int64)
    return np.datetime_as_string(days.astype("datetime64[D]")).astype("S10")


def iso_utc(epoch_seconds: np.ndarray) -> pa.StringArray:
    """ISO-8601 UTC strings like ``2020-02-01T08:15:42Z`` of integer seconds since the epoch."""
    seconds = np.asarray(epoch_seconds, dtype=np.int64)
    days, second_of_day = np.divmod(seconds, _SECONDS_PER_DAY)
    if days.size == 0:
        return pa.array([], type=pa.string())
    first = int(days.min())
    table = iso_dates(np.arange(first, int(days.max()) + 1))
    return concat([table[days - first], b"T", _time_of_day()[second_of_day]], days.size)
