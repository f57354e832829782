"""Cell sites of each carrier, placed by population at random points inside the regions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely

from spreadwatch.synth import ids
from spreadwatch.synth.geography import Geography

COORDINATE_DECIMALS = 6  # ~0.1 m; points are checked inside their region after rounding
_OVERSAMPLE = 4


@dataclass(frozen=True, eq=False)
class CarrierCells:
    """One carrier's cells; position ``k`` is the cell numbered ``k`` (id ``ids[k]``)."""

    carrier: str
    ids: pa.StringArray
    region: np.ndarray  # true region index of each cell
    lat: np.ndarray  # true WGS84 latitude
    lon: np.ndarray
    width: int  # digits of the cell numbers
    by_region: np.ndarray  # cell numbers grouped by region
    offsets: np.ndarray  # by_region[offsets[r]:offsets[r + 1]] are the cells of region r

    @property
    def size(self) -> int:
        return len(self.region)

    def random_in(self, region: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """A uniformly chosen cell of each ``region`` entry (``uniform`` in [0, 1))."""
        start = self.offsets[region]
        count = self.offsets[region + 1] - start
        return self.by_region[start + (uniform * count).astype(np.int64)]


def cells_per_region(geo: Geography, per_10k_people: float) -> np.ndarray:
    """Cells of one carrier in each region: proportional to population, at least one."""
    return np.maximum(1, np.rint(geo.population / 10_000 * per_10k_people)).astype(np.int64)


def random_points(
    geo: Geography, region: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random (lat, lon) inside the polygon of each ``region`` entry.

    Rejection sampling in the region's bounding box, all regions at once with
    ``shapely.contains_xy``; coordinates are rounded before the test so the written values are
    inside too.
    """
    bounds = shapely.bounds(geo.geometry)
    lat = np.empty(region.size)
    lon = np.empty(region.size)
    todo = np.arange(region.size)
    while todo.size:
        candidate = np.repeat(todo, _OVERSAMPLE)
        r = region[candidate]
        x = np.round(rng.uniform(bounds[r, 0], bounds[r, 2]), COORDINATE_DECIMALS)
        y = np.round(rng.uniform(bounds[r, 1], bounds[r, 3]), COORDINATE_DECIMALS)
        inside = shapely.contains_xy(geo.geometry[r], x, y)
        hit_points, first = np.unique(candidate[inside], return_index=True)
        hit = np.flatnonzero(inside)[first]
        lon[hit_points], lat[hit_points] = x[hit], y[hit]
        todo = np.setdiff1d(todo, hit_points, assume_unique=True)
    return lat, lon


def place_cells(
    carrier: str, geo: Geography, per_10k_people: float, rng: np.random.Generator
) -> CarrierCells:
    """Place one carrier's cells and number them in random order (numbers reveal no region)."""
    counts = cells_per_region(geo, per_10k_people)
    region = np.repeat(np.arange(geo.size), counts)
    lat, lon = random_points(geo, region, rng)
    order = rng.permutation(region.size)  # cell number k is point order[k]
    region, lat, lon = region[order], lat[order], lon[order]
    width = ids.cell_width(region.size)
    by_region = np.argsort(region, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(region, minlength=geo.size))])
    return CarrierCells(
        carrier=carrier,
        ids=ids.cell_ids(carrier, np.arange(region.size), width),
        region=region,
        lat=lat,
        lon=lon,
        width=width,
        by_region=by_region,
        offsets=offsets,
    )
