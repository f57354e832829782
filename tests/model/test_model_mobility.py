"""Mixing matrices against values computed by hand from small fusion tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadwatch.model import (
    gravity_mixing,
    mixing_from_fusion,
    mixing_from_matrix,
    mixing_from_trips,
    mobility,
)
from spreadwatch.model.mobility import great_circle_km, mean_trips

CODES = ["11010", "11020", "11030"]  # A, B, C
D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)

OD_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("origin", pa.string()),
        ("dest", pa.string()),
        ("trips", pa.int64()),
        ("suppressed", pa.bool_()),
    ]
)
PRESENCE_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("hour", pa.int32()),
        ("region_code", pa.string()),
        ("people", pa.int64()),
        ("suppressed", pa.bool_()),
    ]
)


def od_table(rows) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(OD_SCHEMA.names, r, strict=True)) for r in rows], schema=OD_SCHEMA
    )


def presence_table(rows) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(PRESENCE_SCHEMA.names, r, strict=True)) for r in rows], schema=PRESENCE_SCHEMA
    )


A, B, C = CODES
OD_DAY1 = [
    (D1, A, B, 100, False),
    (D1, A, C, 0, True),  # withheld: unknown, not zero
    (D1, B, A, 30, False),
]
OD_DAY2 = [
    (D2, A, B, 200, False),
    (D2, A, C, 40, False),
    (D2, C, A, 0, True),  # C -> A known on day 1 only (absent row = 0 trips)
    (D2, B, B, 999, False),  # not a trip: ignored
]
PRESENCE = [
    (D1, 0, A, 1000, False),
    (D1, 3, A, 1200, False),
    (D1, 12, A, 5000, False),  # daytime: not used
    (D2, 1, A, 0, True),  # withheld
    (D1, 2, B, 300, False),
    (D2, 4, C, 0, True),  # C has no usable night-time presence: stays home
    (D2, 14, C, 700, False),
]


def hand_matrix() -> np.ndarray:
    # Mean trips over the 2 dates, suppressed pair-dates left out of that pair's mean:
    # A->B (100 + 200) / 2 = 150;  A->C 40 / 1 = 40;  B->A (30 + 0) / 2 = 15;  C->A 0 / 1 = 0.
    # Night presence (hours 0-5, not suppressed): A (1000 + 1200) / 2 = 1100;  B 300;  C none.
    return np.array(
        [
            [1 - 190 / 1100, 150 / 1100, 40 / 1100],
            [15 / 300, 1 - 15 / 300, 0.0],
            [0.0, 0.0, 1.0],
        ]
    )


def test_matrix_from_fusion_tables_matches_hand_computation():
    od = od_table(OD_DAY1 + OD_DAY2)
    m = mixing_from_fusion(od, presence_table(PRESENCE), CODES)
    np.testing.assert_allclose(m, hand_matrix(), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-15)


@pytest.mark.parametrize("layout", ["files", "hive"])
def test_matrix_from_parquet_folder_and_file(tmp_path, layout):
    folder = tmp_path / "od_flows"
    if layout == "hive":  # date=YYYY-MM-DD/ folders, as a date-partitioned writer leaves them
        pq.write_to_dataset(od_table(OD_DAY1 + OD_DAY2), folder, partition_cols=["date"])
    else:
        folder.mkdir()
        pq.write_table(od_table(OD_DAY1), folder / "part-0.parquet")
        pq.write_table(od_table(OD_DAY2), folder / "part-1.parquet")
    presence = tmp_path / "presence.parquet"
    pq.write_table(presence_table(PRESENCE), presence)
    m = mixing_from_fusion(folder, presence, CODES)
    np.testing.assert_allclose(m, hand_matrix(), rtol=1e-15, atol=1e-15)


def test_suppressed_rows_are_skipped_not_counted_as_zero():
    od = od_table([(D1, A, C, 0, True), (D2, A, C, 40, False), (D2, A, B, 10, False)])
    trips = mean_trips(od, CODES)
    assert trips[0, 2] == 40.0  # mean over the one known date, not (0 + 40) / 2
    assert trips[0, 1] == 5.0  # absent on D1 -> 0 trips that day
    everything_withheld = od_table([(D1, A, C, 0, True), (D2, A, B, 10, False)])
    assert mean_trips(everything_withheld, CODES)[0, 2] == 0.0


def test_rows_over_the_cap_are_scaled_to_max_away():
    trips = np.array([[0.0, 300.0, 100.0], [10.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    m = mixing_from_trips(trips, [200.0, 100.0, 50.0])
    # Row 0: 2.0 away in total > 0.95: scaled to 0.95 keeping the 3:1 split.
    np.testing.assert_allclose(m[0], [0.05, 0.95 * 0.75, 0.95 * 0.25])
    np.testing.assert_allclose(m[1], [0.1, 0.9, 0.0])
    np.testing.assert_allclose(m[2], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(mixing_from_trips(trips, [200.0, 100.0, 50.0], 0.5)[0, 0], 0.5)
    # Unknown (NaN) or zero residents: stays home.
    np.testing.assert_allclose(mixing_from_trips(trips, [np.nan, 0.0, 50.0]), np.eye(3))


def test_unknown_region_codes_in_fusion_data_are_named():
    od = od_table([(D1, A, "99999", 5, False)])
    with pytest.raises(ValueError, match="99999"):
        mixing_from_fusion(od, presence_table(PRESENCE), CODES)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "od.parquet"
    pq.write_table(od_table(OD_DAY1).drop_columns(["suppressed"]), path)
    with pytest.raises(ValueError, match="suppressed"):
        mean_trips(path, CODES)


def test_gravity_model_matches_hand_computation():
    # Three points on the equator at longitudes 0, 1 and 3 degrees.
    km_per_degree = 6371.0088 * np.pi / 180
    population = np.array([1000.0, 2000.0, 4000.0])
    m = gravity_mixing(population, [0, 0, 0], [0, 1, 3], away_fraction=0.1, distance_exponent=2)
    w0 = np.array([0.0, 2000 / (1 * km_per_degree) ** 2, 4000 / (3 * km_per_degree) ** 2])
    np.testing.assert_allclose(m[0], [0.9, *(0.1 * w0[1:] / w0.sum())], rtol=1e-12)
    np.testing.assert_allclose(np.diag(m), 0.9)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(gravity_mixing([5.0], [37.5], [127.0]), [[1.0]])


def test_great_circle_distance_of_known_points():
    km = great_circle_km([0.0, 0.0, 90.0], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(km[0, 1], 111.195, rtol=1e-4)  # one degree on the equator
    np.testing.assert_allclose(km[0, 2], 6371.0088 * np.pi / 2, rtol=1e-12)
    np.testing.assert_allclose(km, km.T)


def test_dense_matrix_is_checked():
    good = [[0.9, 0.1], [0.0, 1.0]]
    np.testing.assert_array_equal(mixing_from_matrix(good), good)
    for bad in ([[0.9, 0.2], [0.0, 1.0]], [[1.1, -0.1], [0.0, 1.0]], [[1.0, 0.0]]):
        with pytest.raises(ValueError):
            mixing_from_matrix(bad)


def test_mixing_from_commuting_matches_hand_computation():
    commuting = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-02-01"] * 4 + ["2020-02-02"] * 3).date,
            "home_region": ["A", "A", "B", "B", "A", "A", "B"],
            "day_region": ["A", "B", "B", "A", "A", "B", "B"],
            "people": [60, 20, 30, 0, 50, 30, 99],
            "suppressed": [False, False, False, True, False, False, True],
        }
    )
    m = mobility.mixing_from_commuting(commuting, ["A", "B", "C"])
    # A: 110 stay, 50 go to B; B: 30 stay, the suppressed rows are unknown; C: no data.
    expected = np.array([[110 / 160, 50 / 160, 0], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(m, expected)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    # suppressed rows counted as 5 people each: B has 30 + 5 staying and 5 going to A
    imputed = mobility.mixing_from_commuting(commuting, ["A", "B", "C"], suppressed_people=5)
    expected[1] = [5 / 40, 35 / 40, 0]
    np.testing.assert_allclose(imputed, expected)
