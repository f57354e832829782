"""Opaque identifiers in the formats carriers and platforms use, unique and seeded.

Formats (all fixed width):

- SKT subscribers ``skt:`` + 16 lower-case hex (a hashed-looking pseudonym)
- KT subscribers: 15-digit IMSI ``45008`` + 10 digits
- LG U+ subscribers: ``LGU`` + 16 upper-case hex
- other carriers: lower-cased name + ``:`` + 16 hex
- inbound visitors: 15-digit IMSI of their home network (MCC + MNC + 10 digits)
- cells: ``{CARRIER}-`` + zero-padded number (``SKT-000123``)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from spreadwatch.synth import strings

# MCC + MNC of one home network per visiting country (ITU E.212), for visitor IMSIs.
VISITOR_NETWORKS: dict[str, str] = {
    "AUS": "50501",
    "CHN": "46000",
    "DEU": "26201",
    "FRA": "20801",
    "GBR": "23410",
    "HKG": "45400",
    "IRN": "43211",
    "ITA": "22201",
    "JPN": "44010",
    "PHL": "51502",
    "RUS": "25001",
    "SGP": "52501",
    "THA": "52003",
    "TWN": "46692",
    "USA": "31026",
    "VNM": "45204",
}
_IMSI_DIGITS = 10


def unique_integers(rng: np.random.Generator, n: int, high: int) -> np.ndarray:
    """``n`` distinct uniform integers in ``[0, high)`` (uint64), redrawing collisions."""
    if n > high:
        raise ValueError(f"cannot draw {n} distinct values below {high}")
    values = rng.integers(0, high, n, dtype=np.uint64)
    while True:
        _, first = np.unique(values, return_index=True)
        if first.size == n:
            return values
        again = np.ones(n, dtype=bool)
        again[first] = False
        values[again] = rng.integers(0, high, int(again.sum()), dtype=np.uint64)


def opaque(
    prefix: str | np.ndarray, n: int, rng: np.random.Generator, upper: bool = False
) -> pa.StringArray:
    """``prefix`` (one, or a same-width ``S`` array of one per id) + 16 hex digits of distinct
    random 64-bit values."""
    head = prefix.encode() if isinstance(prefix, str) else np.asarray(prefix)
    raw = unique_integers(rng, n, 2**64).view(np.uint8).reshape(n, 8)
    return strings.concat([head, strings.hexadecimal(raw, upper=upper)], n)


def imsi(network: str | np.ndarray, n: int, rng: np.random.Generator) -> pa.StringArray:
    """Distinct 15-digit IMSI-like ids: home ``network`` (5-digit MCC+MNC, one or per id)."""
    prefix = network.encode() if isinstance(network, str) else np.asarray(network, dtype="S5")
    numbers = unique_integers(rng, n, 10**_IMSI_DIGITS).astype(np.int64)
    return strings.concat([prefix, strings.decimal(numbers, _IMSI_DIGITS)], n)


def subscriber_ids(carrier: str, n: int, rng: np.random.Generator) -> pa.StringArray:
    """Distinct subscriber ids in the carrier's own format."""
    if carrier == "SKT":
        return opaque("skt:", n, rng)
    if carrier == "KT":
        return imsi("45008", n, rng)
    if carrier == "LGU":
        return opaque("LGU", n, rng, upper=True)
    return opaque(f"{carrier.lower()}:", n, rng)


def cell_width(n_cells: int) -> int:
    """Digits of a carrier's cell numbers, leaving room for unknown (never issued) numbers."""
    return max(6, len(str(2 * n_cells)))


def cell_ids(carrier: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """``{carrier}-{number:0{width}d}`` for each number."""
    numbers = np.asarray(numbers, dtype=np.int64)
    return strings.concat([f"{carrier}-".encode(), strings.decimal(numbers, width)], numbers.size)
