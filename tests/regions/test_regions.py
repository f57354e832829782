"""Korean regions against independent truth: published counts and totals, geometry, geocoding."""

from __future__ import annotations

import numpy as np
import pytest

from spreadwatch import regions

# Statistics Korea, 2020 Population and Housing Census: total population (persons).
PUBLISHED_2020_POPULATION = 51_829_136


@pytest.fixture(scope="module")
def sigungu() -> regions.RegionTables:
    return regions.load("sigungu")


@pytest.fixture(scope="module")
def sido() -> regions.RegionTables:
    return regions.load("sido")


def test_counts_and_unique_codes(sigungu, sido):
    assert len(sido.regions) == 17
    assert len(sigungu.regions) == 229
    for tables in (sigungu, sido):
        frame = tables.regions
        assert frame["code"].is_unique
        assert frame["mois_code"].notna().all()
        assert frame["mois_code"].is_unique
    assert set(sigungu.regions["sido_code"]) == set(sido.regions["code"])


def test_population_adds_up_to_the_national_total(sigungu, sido):
    total = int(sigungu.regions["population"].sum())
    assert abs(total - PUBLISHED_2020_POPULATION) / PUBLISHED_2020_POPULATION < 1e-5
    assert int(sido.regions["population"].sum()) == total
    seoul = sido.regions.set_index("name_en").loc["Seoul", "population"]
    assert 9.5e6 < seoul < 9.8e6  # published 2020 census: 9,586,195


def test_age_bands_sum_to_population_and_follow_the_pyramid(sigungu):
    frame = sigungu.regions
    bands = frame[list(regions.AGE_COLUMNS)].to_numpy()
    assert bands.shape == (229, 16)
    np.testing.assert_array_equal(bands.sum(axis=1), frame["population"].to_numpy())
    national = bands.sum(axis=0) / bands.sum()
    # Korea 2020: about 12% under 15 and about 16% aged 65+ (UN WPP 2024).
    assert 0.10 < national[:3].sum() < 0.14
    assert 0.14 < national[13:].sum() < 0.18


def test_adjacency_is_symmetric_without_self_loops(sigungu, sido):
    for tables in (sigungu, sido):
        pairs = set(zip(tables.adjacency["code"], tables.adjacency["neighbor"], strict=True))
        assert pairs, "no adjacency"
        assert all((b, a) in pairs for a, b in pairs)
        assert all(a != b for a, b in pairs)


def test_known_neighbours_and_islands(sigungu, sido):
    by_name = sigungu.regions.set_index("code")["name_en"]
    pairs = set(zip(sigungu.adjacency["code"], sigungu.adjacency["neighbor"], strict=True))
    jeju_si = sigungu.regions.query("name_en == 'Jeju-si'")["code"].item()
    seogwipo = sigungu.regions.query("name_en == 'Seogwipo-si'")["code"].item()
    assert (jeju_si, seogwipo) in pairs
    assert {n for c, n in pairs if c == jeju_si} == {seogwipo}
    islands = set(by_name[sigungu.islands["code"]])
    assert {"Ulleung-gun", "Ongjin-gun", "Geoje-si", "Namhae-gun", "Jindo-gun"} <= islands
    assert "Gangnam-gu" not in islands
    sido_islands = set(sido.islands["name_en"])
    assert sido_islands == {"Jeju-do"}
    seoul_neighbours = set(
        sido.adjacency.query("code == '11'")["neighbor"].map(
            sido.regions.set_index("code")["name_en"]
        )
    )
    assert seoul_neighbours == {"Gyeonggi-do", "Incheon"}


@pytest.mark.parametrize(
    ("lat", "lon", "name_en", "mois_code"),
    [
        (37.5663, 126.9779, "Jung-gu", "11140"),  # Seoul City Hall
        (35.1587, 129.1604, "Haeundae-gu", "26350"),  # Haeundae beach, Busan
        (33.5104, 126.4914, "Jeju-si", "50110"),  # Jeju International Airport
        (37.2871, 127.0119, "Suwon-si", "41110"),  # Hwaseong Fortress, Suwon
        (35.8714, 128.6014, "Jung-gu", "27110"),  # Daegu city centre
        (36.4800, 127.2890, "Sejong-si", "36110"),  # Sejong Government Complex
        (37.5125, 127.0590, "Gangnam-gu", "11680"),  # COEX, Gangnam
        (37.4848, 130.9057, "Ulleung-gun", "47940"),  # Ulleung-do island
    ],
)
def test_known_points_reverse_geocode(lat, lon, name_en, mois_code, sigungu):
    code = regions.locate(np.array([lat]), np.array([lon]))[0]
    row = sigungu.regions.set_index("code").loc[code]
    assert row["name_en"] == name_en
    assert row["mois_code"] == mois_code


def test_points_outside_korea_are_not_located():
    codes = regions.locate(np.array([35.0, 39.9, 0.0]), np.array([131.5, 116.4, 0.0]))
    assert list(codes) == [None, None, None]


def test_label_points_locate_to_their_own_region(sigungu):
    frame = sigungu.regions
    found = regions.locate(frame["label_lat"].to_numpy(), frame["label_lon"].to_numpy())
    np.testing.assert_array_equal(found, frame["code"].to_numpy())


def test_geojson_is_valid_and_smaller_when_simplified():
    import json

    import shapely

    full = regions.to_geojson("sigungu", simplified=False)
    simple = regions.to_geojson("sigungu", simplified=True)
    assert len(simple["features"]) == 229
    assert len(json.dumps(simple)) < len(json.dumps(full)) / 3
    geoms = [shapely.geometry.shape(f["geometry"]) for f in simple["features"]]
    assert all(g.is_valid for g in geoms)
    lon_min, lat_min, lon_max, lat_max = shapely.total_bounds(geoms)
    assert 124 < lon_min < 126 and 130.5 < lon_max < 132  # west of Baengnyeong, east of Ulleung
    assert 33 < lat_min < 34 and 38 < lat_max < 39
