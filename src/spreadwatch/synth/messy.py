"""Messy rows as real deliveries have them, injected into clean data and counted exactly.

Location events: about ``messy_fraction`` of the rows get one defect each, the kinds disjoint so an
independent check finds exactly the counted number of each:

- ``bad_timestamp``: ``ts`` empty, text (``yesterday``) or impossible (``2020-02-30T...``,
  ``...T25:61:07Z``, month 13); never strictly parseable as ``%Y-%m-%dT%H:%M:%SZ``
- ``unknown_cell``: a cell number of the carrier's format that is not in ``cells.csv``
- ``blank_subscriber``: empty ``subscriber_id``
- ``duplicate_row``: an exact copy of a clean row, next to it (counted once per extra copy)

A bad timestamp or blank id is only used when the resulting row cannot equal any other row of the
whole delivery, so ``duplicate_row`` stays the exact number of duplicated rows. Blank ids are
written as empty fields.

Cells: a few cells get coordinates outside Korea (``cell_*`` kinds): latitude and longitude
swapped, a point at sea, or ``0, 0``. Their events still reference them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from spreadwatch.synth import ids, strings
from spreadwatch.synth.cells import CarrierCells
from spreadwatch.synth.events import EventBatch, RowDefects

ROW_KINDS = ("bad_timestamp", "unknown_cell", "blank_subscriber", "duplicate_row")
TIMESTAMP_VARIANTS = ("empty", "text", "impossible")
TEXT_TIMESTAMPS = ("yesterday", "unknown", "#VALUE!")
CELL_KINDS = ("cell_swapped_coords", "cell_at_sea", "cell_zero_coords")
# Open sea, far from any island (checked against the region polygons in the tests).
SEA_POINTS = np.array([[35.0, 124.0], [36.0, 131.0], [37.0, 124.5], [34.0, 128.5], [33.0, 125.0]])
SEA_JITTER_DEG = 0.1


@dataclass
class LocationMess:
    """Plans the messy rows of location-event batches; ``counts`` accumulates over batches."""

    fraction: float
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROW_KINDS, 0))
    timestamp_variants: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(TIMESTAMP_VARIANTS, 0)
    )
    _used: dict[str, np.ndarray] = field(default_factory=dict)

    def plan(
        self,
        batch: EventBatch,
        cells: CarrierCells,
        day_start: int,
        rng: np.random.Generator,
    ) -> RowDefects:
        """Choose disjoint rows of ``batch`` for each defect kind and their bad values."""
        n = batch.size
        total = int(rng.binomial(n, self.fraction)) if n else 0
        if total == 0:
            return RowDefects.clean(n)
        split = rng.multinomial(total, [1 / len(ROW_KINDS)] * len(ROW_KINDS))
        rows = rng.choice(n, size=total, replace=False)
        bad_ts, unknown, blank, duplicate = (
            np.sort(part) for part in np.split(rows, np.cumsum(split)[:-1])
        )
        epoch = day_start + batch.second
        values, variant = _bad_timestamps(strings.iso_utc(epoch[bad_ts]), rng)
        keep = self._unused(cells.carrier, batch.subscriber[bad_ts].astype(str), values)
        bad_ts, values, variant = bad_ts[keep], values.filter(keep), variant[keep]
        keep = self._unused(cells.carrier, np.full(blank.size, ""), epoch[blank].astype(str))
        blank = blank[keep]
        numbers = rng.integers(cells.size, 10**cells.width, unknown.size)

        for kind, chosen in zip(ROW_KINDS, (bad_ts, unknown, blank, duplicate), strict=True):
            self.counts[kind] += int(chosen.size)
        for k, name in enumerate(TIMESTAMP_VARIANTS):
            self.timestamp_variants[name] += int((variant == k).sum())
        blank_mask = np.zeros(n, dtype=bool)
        blank_mask[blank] = True
        return RowDefects(
            order=np.sort(np.concatenate([np.arange(n), duplicate]), kind="stable"),
            blank=blank_mask,
            unknown=unknown,
            unknown_ids=ids.cell_ids(cells.carrier, numbers, cells.width),
            bad_ts=bad_ts,
            bad_ts_values=values,
        )

    def _unused(self, carrier: str, who: np.ndarray, ts: pa.Array | np.ndarray) -> np.ndarray:
        """Mask of rows whose (subscriber, ts) text is new to the carrier's delivery; records
        them, so two defective rows can never be equal (the cell is not even needed)."""
        text = ts.to_numpy(zero_copy_only=False) if isinstance(ts, pa.Array) else ts
        key = np.char.add(np.char.add(who.astype(str), "|"), text.astype(str))
        used = self._used.get(carrier, np.array([], dtype=str))
        _, first = np.unique(key, return_index=True)
        keep = np.zeros(key.size, dtype=bool)
        keep[first] = True
        keep &= ~np.isin(key, used)
        self._used[carrier] = np.concatenate([used, key[keep]])
        return keep


def _bad_timestamps(ts: pa.StringArray, rng: np.random.Generator) -> tuple[pa.Array, np.ndarray]:
    """Unparseable replacements for valid ISO timestamps, and their variant codes.

    Impossible ones keep the original's other fields and break either the clock (hour 24-29,
    minute 60-99) or the date (February 30 or 31, month 13).
    """
    n = len(ts)
    raw = ts.cast(pa.binary()).to_numpy(zero_copy_only=False).astype("S20")
    chars = raw.view("S1").reshape(n, 20).copy()  # YYYY-MM-DDTHH:MM:SSZ
    clock = rng.random(n) < 0.5
    rows = np.flatnonzero(clock)
    chars[rows, 11:13] = _chars(strings.decimal(24 + rng.integers(0, 6, rows.size), 2))
    chars[rows, 14:16] = _chars(strings.decimal(60 + rng.integers(0, 40, rows.size), 2))
    rows = np.flatnonzero(~clock)
    kind = rng.integers(0, 3, rows.size)  # February 30, February 31, month 13
    february = rows[kind < 2]
    chars[february, 5:10] = _chars(np.array([b"02-30", b"02-31"], dtype="S5")[kind[kind < 2]])
    chars[rows[kind == 2], 5:7] = np.array([b"1", b"3"], dtype="S1")
    impossible = strings.concat([chars.view("S20").ravel()], n)

    variant = rng.integers(0, len(TIMESTAMP_VARIANTS), n)
    text = rng.integers(0, len(TEXT_TIMESTAMPS), n)
    pick = np.where(variant == 0, n, np.where(variant == 1, n + 1 + text, np.arange(n)))
    constants = pa.array(["", *TEXT_TIMESTAMPS])
    return pa.concat_arrays([impossible, constants]).take(pick), variant


def _chars(values: np.ndarray) -> np.ndarray:
    """``S{k}`` strings as an ``(n, k)`` ``S1`` matrix."""
    return values.view("S1").reshape(values.size, values.dtype.itemsize)


@dataclass(frozen=True, eq=False)
class DeliveredCoordinates:
    """Coordinates as written to ``cells.csv`` and the defect of each cell (``""`` if good)."""

    lat: np.ndarray
    lon: np.ndarray
    defect: np.ndarray  # object array of str


def corrupt_cells(
    cells: list[CarrierCells], fraction: float, rng: np.random.Generator
) -> tuple[list[DeliveredCoordinates], dict[str, int]]:
    """Give ``fraction`` of all cells (at least one when ``fraction > 0``) bad coordinates."""
    sizes = np.array([c.size for c in cells])
    total = int(sizes.sum())
    n_bad = min(total, max(1, round(fraction * total))) if fraction > 0 else 0
    chosen = np.zeros(total, dtype=bool)
    chosen[rng.choice(total, size=n_bad, replace=False)] = True
    kind = rng.integers(0, len(CELL_KINDS), total)
    sea = SEA_POINTS[rng.integers(0, len(SEA_POINTS), total)]
    sea = np.round(sea + rng.uniform(-SEA_JITTER_DEG, SEA_JITTER_DEG, sea.shape), 6)
    lat = np.concatenate([c.lat for c in cells])
    lon = np.concatenate([c.lon for c in cells])
    bad_lat = np.choose(kind, [lon, sea[:, 0], np.zeros(total)])
    bad_lon = np.choose(kind, [lat, sea[:, 1], np.zeros(total)])
    lat = np.where(chosen, bad_lat, lat)
    lon = np.where(chosen, bad_lon, lon)
    defect = np.where(chosen, np.array(CELL_KINDS, dtype=object)[kind], "")
    counts = {name: int((chosen & (kind == k)).sum()) for k, name in enumerate(CELL_KINDS)}
    bounds = np.cumsum(sizes)[:-1]
    delivered = [
        DeliveredCoordinates(la, lo, de)
        for la, lo, de in zip(
            np.split(lat, bounds), np.split(lon, bounds), np.split(defect, bounds), strict=True
        )
    ]
    return delivered, counts
