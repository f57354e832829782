"""Every way spreadwatch counts the fusion tables, against the definition, on the same awkward
cases: the ibis expressions on DuckDB are the definition; the NumPy kernels (what ``flows``
runs on events that fit in memory) and the running counts (what ``ingest`` keeps as events
arrive, chunk by chunk) must give exactly their tables, row for row."""

from __future__ import annotations

import datetime as dt
import itertools

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spreadwatch import fusion
from spreadwatch.fusion import kernels
from spreadwatch.fusion.running import RunningFlows
from tests.fusion.events import EVENTS_SCHEMA, make_events

TABLES = ("od_flows", "presence", "commuting")


def _edge_events() -> pa.Table:
    """Hand-made awkward subscribers: one lone event; a trip across KST midnight (15:00 UTC);
    a gap longer than presence carries a region over; two cells at one instant; a subscriber
    back after months; a pseudonym two carriers use; many regions in one hour."""
    start = dt.datetime(2020, 2, 1, tzinfo=dt.UTC)
    rows = []

    def add(carrier, who, hours, region, cell):
        rows.append((carrier, who, start + dt.timedelta(hours=hours), region, f"{region}-{cell}"))

    add("SKT", "lone", 3.0, "11010", 0)
    for h, r in ((14.5, "11010"), (15.0, "21010"), (15.5, "11010"), (16.0, "22010")):
        add("SKT", "midnight", h, r, 0)  # 14:30-16:00 UTC crosses midnight KST
    for h, r in ((1.0, "11010"), (13.0, "21010"), (40.0, "21010")):
        add("KT", "gappy", h, r, 1)  # gaps of 12 and 27 hours
    add("LGU", "twins", 5.0, "11010", 0)
    add("LGU", "twins", 5.0, "23010", 1)  # the same instant, another cell and region
    add("LGU", "twins", 6.0, "11010", 0)
    add("SKT", "returner", 2.0, "11010", 0)
    add("SKT", "returner", 2.0 + 24 * 120, "24010", 0)  # back four months later
    add("SKT", "returner", 3.0 + 24 * 120, "11010", 0)
    for carrier in ("SKT", "KT"):  # one pseudonym, two carriers: two people
        add(carrier, "shared", 7.0, "11010", 0)
        add(carrier, "shared", 9.0, "21010", 0)
    for minute, region in enumerate(["11010", "21010", "22010", "23010", "11010"]):
        add("KT", "busy", 20 + minute / 60, region, minute % 2)
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {name: pa.array(values) for name, values in zip(EVENTS_SCHEMA.names, columns, strict=True)},
        schema=EVENTS_SCHEMA,
    )


CASES = {
    "synthetic, k 1": (lambda: make_events(300, 3, seed=1), 1),
    "synthetic, k 3": (lambda: make_events(500, 5, seed=2, regions=12), 3),
    "edge cases, k 1": (_edge_events, 1),
    "edge cases within synthetic, k 2": (
        lambda: pa.concat_tables([make_events(200, 2, seed=3), _edge_events()]),
        2,
    ),
}


def _kernels(events: pa.Table, k: int) -> dict[str, pa.Table]:
    return {name: getattr(kernels, name)(events, k=k) for name in TABLES}


def _running(events: pa.Table, k: int, pieces: int = 5) -> dict[str, pa.Table]:
    """Counted as an ingest would: time-ordered chunks (each subscriber's later events in later
    chunks), rows shuffled within a chunk."""
    events = events.sort_by([("ts", "ascending")])
    micros = pc.cast(events["ts"], pa.int64()).to_numpy()
    changes = np.flatnonzero(micros[1:] != micros[:-1]) + 1
    rng = np.random.default_rng(k)
    cuts = np.sort(rng.choice(changes, min(pieces - 1, changes.size), replace=False))
    flows = RunningFlows()
    for low, high in itertools.pairwise([0, *cuts.tolist(), events.num_rows]):
        chunk = events.slice(low, high - low)
        flows.add(chunk.take(pa.array(rng.permutation(chunk.num_rows))))
    assert flows.broken is None
    return flows.tables(k)


IMPLEMENTATIONS = {"kernels": _kernels, "running counts": _running}


@pytest.fixture(scope="module")
def definition():
    """The expressions' tables of each case (on DuckDB), computed once."""
    with fusion.connected("duckdb") as con:
        yield {
            case: {
                name: fusion.collect(
                    con, getattr(fusion, name)(ibis.memtable(make()), k=k), fusion.SCHEMAS[name]
                )
                for name in TABLES
            }
            for case, (make, k) in CASES.items()
        }


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_implementation_gives_the_definitions_tables(definition, implementation, case):
    make, k = CASES[case]
    got = IMPLEMENTATIONS[implementation](make(), k)
    for name in TABLES:
        expected = definition[case][name]
        assert got[name].schema == fusion.SCHEMAS[name], name
        assert expected.num_rows > 0, name
        assert got[name].equals(expected), f"{implementation}, {case}: {name}"


def test_the_edge_cases_reach_what_they_are_for(definition):
    """The hand-made subscribers produce what they were written to test (so a change of the
    definition that made them trivial would show)."""
    tables = definition["edge cases, k 1"]
    od = tables["od_flows"].to_pandas()
    assert {"2020-02-01", "2020-02-02"} <= set(od["date"].astype(str))  # both sides of midnight
    presence = tables["presence"].to_pandas()
    assert presence["hour"].nunique() > 5
