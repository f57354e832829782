"""Importations and household signals equal a brute-force pure-Python computation."""

from __future__ import annotations

import datetime as dt
import random

import ibis
import pyarrow as pa
import pytest

from spreadwatch.fusion import connect
from spreadwatch.fusion.signals import SCHEMAS, household_signals, importations
from tests import fusion_signals_reference as reference

UTC = dt.UTC
START = dt.datetime(2020, 2, 1, tzinfo=UTC)
REGIONS = ["11010", "11020", "21090", "39010"]
COUNTRIES = ["JPN", "CHN", "USA"]


def _events(rng: random.Random) -> list[dict]:
    rows = []
    for s in range(60):
        for _ in range(rng.randint(0, 25)):
            rows.append(
                {
                    "carrier": rng.choice(["SKT", "KT"]),
                    "subscriber_pseudo": f"p{s}",
                    "ts": START + dt.timedelta(seconds=rng.randrange(4 * 86400)),
                    "region_code": rng.choice(REGIONS),
                    "cell_id": f"c{rng.randrange(9)}",
                }
            )
    return rows


def _roaming(rng: random.Random) -> list[dict]:
    return [
        {
            "carrier": rng.choice(["SKT", "KT"]),
            "subscriber_pseudo": f"p{rng.randrange(80)}",  # some have no location events
            "ts": START + dt.timedelta(seconds=rng.randrange(4 * 86400)),
            "country": rng.choice(COUNTRIES),
            "event": rng.choice(["attach", "detach"]),
            "direction": rng.choice(["outbound", "inbound"]),
        }
        for _ in range(300)
    ]


def _telemetry(rng: random.Random) -> tuple[list[dict], list[dict]]:
    households = [
        {"platform": p, "household_pseudo": f"h{i}", "region_code": rng.choice(REGIONS)}
        for i in range(40)
        for p in ["thinq"] * (i % 2) + ["gigagenie"] * (1 - i % 2)
    ]
    rows = []
    for h in [*households, {"platform": "thinq", "household_pseudo": "unregistered"}]:
        for _ in range(rng.randint(0, 40)):
            kind = rng.choice(["presence", "appliance_on", "body_temp", "pm25"])
            value = {
                "presence": rng.choice([0.0, 1.0]),
                "appliance_on": rng.choice([0.0, 1.0, 1.0]),
                "body_temp": rng.choice([36.4, 36.9, 37.5, 38.3]),
                "pm25": rng.uniform(5, 60),
            }[kind]
            rows.append(
                {
                    "platform": h["platform"],
                    "device_pseudo": f"d-{h['household_pseudo']}-{kind}",
                    "household_pseudo": h["household_pseudo"],
                    "ts": START + dt.timedelta(seconds=rng.randrange(4 * 86400)),
                    "kind": kind,
                    "value": value,
                }
            )
    return rows, households


def _table(rows: list[dict], timestamps: bool = True) -> ibis.Table:
    table = pa.Table.from_pylist(rows)
    if timestamps:
        table = table.set_column(
            table.schema.get_field_index("ts"), "ts", table["ts"].cast(pa.timestamp("us", "UTC"))
        )
    return ibis.memtable(table)


@pytest.fixture(scope="module")
def data():
    connect()
    rng = random.Random(11)
    events, roaming = _events(rng), _roaming(rng)
    telemetry, households = _telemetry(rng)
    return events, roaming, telemetry, households


def test_importations_equal_brute_force(data):
    events, roaming, _, _ = data
    table = importations(_table(roaming), _table(events), k=1).to_pyarrow()
    assert table.schema == SCHEMAS["importations"]
    got = {
        (r["date"], r["country"], r["region_code"], r["direction"]): r["arrivals"]
        for r in table.to_pylist()
    }
    expected = reference.importations(roaming, events)
    assert got == expected
    assert any(region == "unknown" for _, _, region, _ in got)
    assert any(region != "unknown" for _, _, region, _ in got)


def test_household_signals_equal_brute_force(data):
    _, _, telemetry, households = data
    table = household_signals(_table(telemetry), _table(households, False), k=1).to_pyarrow()
    assert table.schema == SCHEMAS["household_signals"]
    counts = ("measured", "fever_households", "persistent_fever")
    got = {
        (r["date"], r["region_code"]): (
            r["households"],
            r["stay_home_index"],
            r["fever_rate"],
            *(r[c] for c in counts),
        )
        for r in table.to_pylist()
    }
    expected = reference.household_signals(telemetry, households)
    assert got.keys() == expected.keys()
    assert sum(e[5] for e in expected.values()) > 3  # lasting fevers are in the data
    for key, (count, stay, fever, *tallies) in expected.items():
        assert got[key][0] == count
        assert list(got[key][3:]) == tallies, key
        assert (
            got[key][1] == pytest.approx(stay, abs=1e-12)
            if stay is not None
            else got[key][1] is None
        )
        assert (
            got[key][2] == pytest.approx(fever, abs=1e-12)
            if fever is not None
            else got[key][2] is None
        )


def test_small_household_counts_are_suppressed_with_their_indices(data):
    _, _, telemetry, households = data
    plain = household_signals(_table(telemetry), _table(households, False), k=1).to_pandas()
    k = int(plain["households"].median()) + 1
    frame = household_signals(_table(telemetry), _table(households, False), k=k).to_pandas()
    small = plain["households"] < k
    assert small.any() and (~small).any()
    assert (frame["suppressed"] == small).all()
    assert frame.loc[small, ["stay_home_index", "fever_rate"]].isna().all().all()
    assert (frame.loc[small, "households"] == 0).all()
    assert (frame.loc[small, ["measured", "fever_households", "persistent_fever"]] == 0).all().all()
