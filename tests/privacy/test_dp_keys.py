"""The released key set is complete and does not depend on the data."""

from __future__ import annotations

import datetime as dt
import itertools

import ibis
import pyarrow as pa
import pytest

from spreadwatch.release import bounding, dp
from tests.privacy.test_dp_bounding import random_events, to_table

REGIONS = ("39010", "11010", "21090", "11020")  # given unsorted on purpose
START, END = dt.date(2020, 1, 31), dt.date(2020, 2, 3)


def test_od_keys_are_every_ordered_pair_of_distinct_regions_every_date():
    keys = dp.KeySpace(REGIONS, START, END)
    table = keys.od_keys()
    assert table.num_rows == keys.od_size == 4 * 4 * 3
    rows = list(zip(*(table[c].to_pylist() for c in ("date", "origin", "dest")), strict=True))
    dates = [START + dt.timedelta(days=i) for i in range(4)]
    want = [
        (d, o, t) for d in dates for o, t in itertools.product(sorted(REGIONS), repeat=2) if o != t
    ]
    assert rows == want  # complete, no diagonal, in (date, origin, dest) order


def test_presence_keys_are_every_region_hour_every_date():
    keys = dp.KeySpace(REGIONS, START, END)
    table = keys.presence_keys()
    assert table.num_rows == keys.presence_size == 4 * 24 * 4
    assert table.schema.field("hour").type == pa.int8()
    rows = list(zip(*(table[c].to_pylist() for c in ("date", "hour", "region_code")), strict=True))
    dates = [START + dt.timedelta(days=i) for i in range(4)]
    assert rows == [(d, h, r) for d in dates for h in range(24) for r in sorted(REGIONS)]


def test_dense_vectors_put_counts_at_their_keys():
    keys = dp.KeySpace(REGIONS, START, END)
    counts = pa.table(
        {
            "date": pa.array([dt.date(2020, 2, 2), START], pa.date32()),
            "origin": ["21090", "11010"],
            "dest": ["11010", "39010"],
            "trips": [5, 7],
        }
    )
    vector = keys.dense_od(counts, "trips")
    table = keys.od_keys().append_column("trips", pa.array(vector))
    nonzero = [r for r in table.to_pylist() if r["trips"]]
    assert [(r["date"], r["origin"], r["dest"], r["trips"]) for r in nonzero] == [
        (START, "11010", "39010", 7),
        (dt.date(2020, 2, 2), "21090", "11010", 5),
    ]
    presence = pa.table(
        {
            "date": pa.array([END], pa.date32()),
            "hour": pa.array([23], pa.int8()),
            "region_code": ["39010"],
            "people": [3],
        }
    )
    assert keys.dense_presence(presence, "people").tolist()[-1] == 3


def test_released_keys_do_not_depend_on_the_data():
    keys = dp.KeySpace(REGIONS, START, END)
    empty = ibis.memtable(
        pa.table(
            {
                "carrier": pa.array([], pa.string()),
                "subscriber_pseudo": pa.array([], pa.string()),
                "ts": pa.array([], pa.timestamp("us", tz="UTC")),
                "region_code": pa.array([], pa.string()),
                "cell_id": pa.array([], pa.string()),
            }
        )
    )
    for table, count in (("od_flows", "trips"), ("presence", "people")):
        released = []
        for events in (empty, to_table(random_events(1)), to_table(random_events(2, 60))):
            exact = dp.exact_counts(events, keys, table, 3)
            out, _ = dp.release_counts(exact, 1.0)
            released.append(out)
        key_columns = released[0].column_names[:3]
        assert released[0].column_names == [*key_columns, count, "suppressed", "epsilon"]
        for out in released[1:]:
            assert out.select(key_columns).equals(released[0].select(key_columns))
        assert released[0].num_rows == (keys.od_size if table == "od_flows" else keys.presence_size)
        for out in released:
            assert (out[count].to_numpy() >= 0).all()
            assert not any(out["suppressed"].to_pylist())
            assert set(out["epsilon"].to_pylist()) == {1.0}
        # an empty input still gets noise: zero counts are released as noise clamped at 0
        assert released[0][count].to_numpy().sum() > 0


def test_events_outside_the_key_set_are_dropped_before_bounding():
    """A trip to a region outside the key set does not use up the subscriber's bound."""
    t0 = dt.datetime(2020, 2, 1, 1, tzinfo=dt.UTC)
    hop = dt.timedelta(minutes=30)
    path = ["11010", "99999", "11010", "11020"]  # first two trips leave the key set
    events = [("SKT", "a", t0 + i * hop, r, f"c{r}") for i, r in enumerate(path)]
    keys = dp.KeySpace(REGIONS, dt.date(2020, 2, 1), dt.date(2020, 2, 1))
    counts = bounding.od_counts(to_table(events), keys, 1).to_pyarrow().to_pylist()
    assert [(r["origin"], r["dest"], r["trips"]) for r in counts] == [("11010", "11020", 1)]


@pytest.mark.parametrize(
    ("regions", "start", "end", "message"),
    [
        ((), START, END, "at least one region"),
        (("1", "1"), START, END, "unique"),
        (REGIONS, END, START, "ends"),
    ],
)
def test_key_space_is_validated(regions, start, end, message):
    with pytest.raises(ValueError, match=message):
        dp.KeySpace(regions, start, end)
