"""Contribution bounding equals brute-force pure Python, and the fusion definitions."""

from __future__ import annotations

import datetime as dt
import random

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spreadwatch import fusion
from spreadwatch.release import bounding, dp
from tests.privacy import reference_dp

REGIONS = ("11010", "11020", "21090", "39010")
CELL_REGION = {  # two cells per region, and one cell outside the key set's regions
    "c0": "11010",
    "c1": "11010",
    "c2": "11020",
    "c3": "11020",
    "c4": "21090",
    "c5": "21090",
    "c6": "39010",
    "c7": "39010",
    "c8": "99999",
}
START, END = dt.date(2020, 2, 1), dt.date(2020, 2, 2)
KEYS = dp.KeySpace(REGIONS, START, END)


def random_events(seed: int, subscribers: int = 30) -> list[tuple]:
    """Events from 2020-01-31 12:00Z to 2020-02-03 (outside the date range at both ends), on a
    10-minute grid so that many share a time, with busy subscribers and exact duplicates."""
    rng = random.Random(seed)
    base = dt.datetime(2020, 1, 31, 12, tzinfo=dt.UTC)
    events = []
    for sub in range(subscribers):
        carrier = rng.choice(("SKT", "KT"))
        for _ in range(rng.choice((2, 5, 15, 40))):
            ts = base + dt.timedelta(minutes=10 * rng.randrange(3 * 24 * 6))
            cell = rng.choice(list(CELL_REGION))
            events.append((carrier, f"p{sub:03d}", ts, CELL_REGION[cell], cell))
    # the same pseudonym at another carrier is another subscriber; and exact duplicates
    events += [("LGU", "p000", e[2], e[3], e[4]) for e in events[:10]]
    events += events[20:25]
    return events


def to_table(events: list[tuple]):
    table = pa.table(
        {
            "carrier": [e[0] for e in events],
            "subscriber_pseudo": [e[1] for e in events],
            "ts": pa.array([e[2] for e in events], pa.timestamp("us", tz="UTC")),
            "region_code": [e[3] for e in events],
            "cell_id": [e[4] for e in events],
        }
    )
    return ibis.memtable(table)


def _as_dict(table: pa.Table, keys: list[str], column: str) -> dict[tuple, int]:
    rows = table.to_pylist()
    return {tuple(r[k] for k in keys): r[column] for r in rows if r[column]}


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("bound", [1, 2, 3, 1000])
def test_od_bounding_equals_brute_force(seed, bound):
    events = random_events(seed)
    got = bounding.od_counts(to_table(events), KEYS, bound).to_pyarrow()
    want_bounded, want_unbounded = reference_dp.od_counts(events, set(REGIONS), START, END, bound)
    keys = ["date", "origin", "dest"]
    assert _as_dict(got, keys, "trips") == want_bounded
    assert _as_dict(got, keys, "trips_unbounded") == want_unbounded
    if bound == 1:  # the bound binds on this data
        assert sum(want_bounded.values()) < sum(want_unbounded.values())


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("bound", [1, 5, 24, 1000])
def test_presence_bounding_equals_brute_force(seed, bound):
    events = random_events(seed)
    got = bounding.presence_counts(to_table(events), KEYS, bound).to_pyarrow()
    want_bounded, want_unbounded = reference_dp.presence_counts(
        events, set(REGIONS), START, END, bound
    )
    keys = ["date", "hour", "region_code"]
    assert _as_dict(got, keys, "people") == want_bounded
    assert _as_dict(got, keys, "people_unbounded") == want_unbounded
    if bound == 24:  # busy subscribers are in two regions in some hours
        assert sum(want_bounded.values()) < sum(want_unbounded.values())


def test_each_subscriber_day_contributes_at_most_the_bound():
    table = to_table(random_events(3, subscribers=50))
    who = ["carrier", "subscriber_pseudo", "date"]
    trips = bounding.bounded_trips(table, KEYS, 2)
    kept = trips.filter(trips.kept)
    assert kept.group_by(who).agg(n=kept.count()).n.max().execute() == 2
    cells = bounding.bounded_presence(table, KEYS, 7)
    kept = cells.filter(cells.kept)
    assert kept.group_by(who).agg(n=kept.count()).n.max().execute() == 7


def _in_range(table: pa.Table) -> pa.Table:
    return table.filter(
        pc.and_(pc.greater_equal(table["date"], START), pc.less_equal(table["date"], END))
    )


def test_unbounded_counts_are_the_fusion_tables():
    """With bounds that never bind, the counts are fusion.od_flows / presence with k = 1."""
    events = random_events(4)
    table = to_table(events)
    keys = dp.KeySpace((*REGIONS, "99999"), START, END)
    exact = dp.exact_counts(table, keys, "od_flows", 10_000)
    flows = _in_range(fusion.od_flows(table, k=1).to_pyarrow())
    assert np.array_equal(keys.dense_od(flows, "trips"), exact.bounded)
    assert np.array_equal(exact.bounded, exact.unbounded)
    exact = dp.exact_counts(table, keys, "presence", 10_000)
    presence = _in_range(fusion.presence(table, k=1).to_pyarrow())
    assert np.array_equal(keys.dense_presence(presence, "people"), exact.bounded)


def test_unbounded_counts_match_fusion_on_synthetic_korea(small_store):
    con = fusion.connect()
    table = con.read_parquet([str(f) for f in dp.event_files(small_store)])
    keys = dp.KeySpace.korea(START, END)
    flows = _in_range(fusion.od_flows(table, k=1).to_pyarrow())
    exact = dp.exact_counts(table, keys, "od_flows", 4)
    assert np.array_equal(keys.dense_od(flows, "trips"), exact.unbounded)
    assert exact.unbounded.sum() > 50


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bounds_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match="max_trips_per_day must be an integer of at least 1"):
        dp.Bounds(max_trips_per_day=bad)
    with pytest.raises(ValueError, match="max_hours_per_day"):
        dp.Bounds(max_hours_per_day=bad)
