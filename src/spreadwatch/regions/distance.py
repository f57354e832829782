"""Distances over Korea: great circles, and a plane for kilometre-scale geometry."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

#: The mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = np.pi * EARTH_RADIUS_KM / 180
#: The latitude of the plane's tangent point, the peninsula's middle.
MID_LAT = 36.5
_MID_LON = 127.5


def great_circle_km(
    lat: npt.ArrayLike, lon: npt.ArrayLike, to_lat: npt.ArrayLike, to_lon: npt.ArrayLike
) -> np.ndarray:
    """Haversine distances (km) from each point to each target, ``(points, targets)``;
    coordinates in degrees."""
    lat1 = np.radians(np.asarray(lat, np.float64))[:, None]
    lon1 = np.radians(np.asarray(lon, np.float64))[:, None]
    lat2 = np.radians(np.asarray(to_lat, np.float64))[None, :]
    lon2 = np.radians(np.asarray(to_lon, np.float64))[None, :]
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def planar_km(lat: npt.ArrayLike, lon: npt.ArrayLike) -> np.ndarray:
    """Points as ``(east, north)`` kilometres on a plane tangent at the peninsula's middle
    (distances within 0.5% of great circles over Korea)."""
    east = (np.asarray(lon, float) - _MID_LON) * KM_PER_DEGREE * np.cos(np.radians(MID_LAT))
    north = (np.asarray(lat, float) - MID_LAT) * KM_PER_DEGREE
    return np.stack([east, north], axis=1)


def points_inside(
    geometry: np.ndarray, district: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(lat, lon)`` of a random point of each given district's polygon (``geometry``:
    shapely polygons in lon/lat, indexed by ``district``), by rejection sampling in its
    bounds."""
    lat, lon = np.empty(district.size), np.empty(district.size)
    bounds = shapely.bounds(geometry)  # minx, miny, maxx, maxy
    todo = np.arange(district.size)
    while todo.size:
        b = bounds[district[todo]]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        inside = shapely.contains_xy(geometry[district[todo]], x, y)
        lon[todo[inside]], lat[todo[inside]] = x[inside], y[inside]
        todo = todo[~inside]
    return lat, lon
