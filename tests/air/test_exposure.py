"""Exposure arithmetic against hand computations: people from presence, day parts in Korean
time, shares of people above a threshold, commuting shares."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from spreadwatch.air import exposure as ex

CODES = np.array(["11010", "11020", "11030"], dtype=object)
CENSUS = np.array([1000.0, 2000.0, 3000.0])
START = np.datetime64("2020-02-01T15", "h")  # 00 KST on 2 February


def _presence(rows):
    date_, hour, region, people = zip(*rows, strict=True)
    return pa.table(
        {
            "date": pa.array(date_, pa.date32()),
            "hour": pa.array(hour, pa.int8()),
            "region_code": pa.array(region, pa.string()),
            "people": pa.array(people, pa.int64()),
            "suppressed": pa.array([False] * len(rows)),
        }
    )


def test_people_are_presence_expanded_by_night_residents_and_scaled_to_the_census():
    day = date(2020, 2, 2)
    night = [(day, h, c, n) for h in range(6) for c, n in zip(CODES, (10, 20, 30), strict=True)]
    # 09 KST: a third of 11030's counted people are in 11010
    rows = [*night, (day, 9, "11010", 20), (day, 9, "11020", 20), (day, 9, "11030", 20)]
    rows.append((day, 9, "99999", 5))  # an unknown code: ignored
    people = ex.hourly_people(_presence(rows), START, 12, CODES, CENSUS)
    assert people[:6] == pytest.approx(np.tile(CENSUS, (6, 1)))  # residents at night
    expanded = np.array([20 * 1000 / 10, 20 * 2000 / 20, 20 * 3000 / 30])
    assert people[9] == pytest.approx(expanded * CENSUS.sum() / expanded.sum())
    assert people[9].sum() == pytest.approx(CENSUS.sum())
    assert people[7] == pytest.approx(CENSUS)  # an hour without counts keeps the census


def test_day_parts_follow_korean_local_days():
    values = np.arange(9 + 48, dtype=float)[:, None] * np.ones((1, 2))  # from 00 UTC
    parts = ex.day_parts(values, np.datetime64("2020-02-01T00", "h"))
    # 00 UTC is 09 KST: the first local midnight is at row 15, two whole days follow
    assert parts.dates.tolist() == [date(2020, 2, 2)]  # 15 + 48 > 57 rows: one whole day
    local = 15 + np.arange(24)
    assert parts.day[0, 0] == pytest.approx(local[9:18].mean())
    assert parts.rest[0, 0] == pytest.approx(np.r_[local[:9], local[18:]].mean())


def test_share_above_counts_residents_by_where_they_spend_the_day():
    parts = ex.DayParts(
        dates=np.array(["2020-02-02"], "datetime64[D]"),
        day=np.array([[50.0, 10.0]]),
        rest=np.array([[20.0, 10.0]]),
    )
    census = np.array([100.0, 300.0])
    where = np.array([[[0.5, 0.5], [0.2, 0.8]]])  # residents of 1 go to 0 with 0.2
    # daily means: home 0 in 0: 9/24*50 + 15/24*20 = 31.25; home 0 in 1: 16.25;
    # home 1 in 0: 9/24*50 + 15/24*10 = 25; home 1 in 1: 10
    assert ex.share_above(parts, where, census, 30.0)[0] == pytest.approx(50 / 400)
    assert ex.share_above(parts, where, census, 20.0)[0] == pytest.approx((50 + 60) / 400)
    assert ex.share_above(parts, where, census, 5.0)[0] == pytest.approx(1.0)


def test_commuting_shares_normalise_each_home_and_keep_the_rest_at_home():
    table = pa.table(
        {
            "date": pa.array([date(2020, 2, 2)] * 3, pa.date32()),
            "home_region": ["11010", "11010", "11020"],
            "day_region": ["11010", "11030", "11020"],
            "people": pa.array([30, 10, 50], pa.int64()),
            "suppressed": [False] * 3,
        }
    )
    dates = np.array(["2020-02-02", "2020-02-03"], "datetime64[D]")
    where = ex.commuting_shares(table, dates, CODES, CENSUS)
    assert where[0, 0].tolist() == pytest.approx([0.75, 0.0, 0.25])
    assert where[0, 1].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert where[0, 2].tolist() == pytest.approx([0.0, 0.0, 1.0])  # no counts: at home
    assert where[1] == pytest.approx(np.eye(3))  # a date without counts


def test_exposure_weights_people_and_breathed_air():
    people = np.array([[100.0, 300.0]])
    outdoor = np.array([[40.0, 20.0]])
    breathed = ex.breathed(outdoor, np.array([[0.5, 0.5]]), 0.9)
    assert breathed == pytest.approx(np.array([[40 * 0.55, 20 * 0.55]]))
    result = ex.Exposure(START, CODES[:2], people, np.array([200.0, 200.0]), outdoor, breathed)
    dynamic, static = result.weighted()
    assert dynamic[0] == pytest.approx((100 * 22 + 300 * 11) / 400)
    assert static[0] == pytest.approx((200 * 40 + 200 * 20) / 400)
    assert ex.relative_error(np.array([90.0, 110.0]), np.array([100.0, 100.0])) == 0.1
    table = result.table()
    assert table.column("exposure").to_pylist() == pytest.approx([2200.0, 3300.0])
