"""Exposure tracing checked against a hand-worked case and a brute-force count of seconds."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadwatch.ingest.sources import CELLS, LOCATION
from spreadwatch.tracing import TraceError, TraceQuery, trace

T0 = dt.datetime(2020, 2, 20, 9, 0, tzinfo=dt.UTC)
LAT, LON = 37.5665, 126.9780
METRES_LAT = 6_371_008.8 * math.pi / 180


def _offset(north_m: float, east_m: float) -> tuple[float, float]:
    return LAT + north_m / METRES_LAT, LON + east_m / (METRES_LAT * math.cos(math.radians(LAT)))


def _write_store(root: Path, cells: list[tuple], events: list[tuple]) -> Path:
    """cells: (carrier, cell_id, north_m, east_m); events: (carrier, pseudo, seconds, cell)."""
    placed = [(c, i, *_offset(n, e)) for c, i, n, e in cells]
    cell_table = pa.table(
        {
            "carrier": [c[0] for c in placed],
            "cell_id": [c[1] for c in placed],
            "lat": [c[2] for c in placed],
            "lon": [c[3] for c in placed],
            "region_code": ["11010"] * len(placed),
        },
        schema=CELLS.schema,
    )
    (root / "cells").mkdir(parents=True)
    pq.write_table(cell_table, root / "cells" / "a-00000.parquet")
    rows = sorted(events, key=lambda r: r[2])
    half = len(rows) // 2  # two parts, as two ingested files would give
    (root / "location").mkdir()
    for n, chunk in enumerate((rows[:half], rows[half:])):
        table = pa.table(
            {
                "carrier": [r[0] for r in chunk],
                "subscriber_pseudo": [r[1] for r in chunk],
                "ts": [T0 + dt.timedelta(seconds=r[2]) for r in chunk],
                "region_code": ["11010"] * len(chunk),
                "cell_id": [r[3] for r in chunk],
            },
            schema=LOCATION.schema,
        )
        pq.write_table(table, root / "location" / f"b-{n:05d}.parquet", row_group_size=7)
    return root


def _query(**kw) -> TraceQuery:
    base = {
        "subscriber": "idx",
        "start": T0,
        "end": T0 + dt.timedelta(hours=3),
        "tolerance": dt.timedelta(minutes=15),
        "radius_m": 250.0,
        "max_dwell": dt.timedelta(minutes=30),
    }
    return TraceQuery(**{**base, **kw})


def test_hand_worked_contacts_across_carriers(tmp_path: Path) -> None:
    cells = [
        ("SKT", "A", 0, 0),
        ("KT", "B", 100, 0),  # 100 m from A: the same place
        ("LGU", "C", 0, 400),  # 400 m from A: another place
        ("SKT", "FAR", 5000, 5000),
    ]
    events = [
        ("SKT", "idx", 3600, "A"),  # index at A 10:00-10:20, then far away
        ("SKT", "idx", 4800, "FAR"),
        ("KT", "near", 5100, "B"),  # 10:25, stays 30 min: contact 10:25-10:35 (tolerance)
        ("LGU", "aside", 3700, "C"),  # too far
        ("SKT", "late", 4800 + 900 + 1800, "A"),  # after the index left A by > tolerance
        ("KT", "late", 0, "B"),  # 09:00 at B for at most 30 min: before the index came
    ]
    result = trace(_write_store(tmp_path, cells, events), _query())
    rows = result.contacts.to_pylist()
    assert [r["contact_pseudo"] for r in rows] == ["near"]
    near = rows[0]
    assert near["carrier"] == "KT"
    assert near["contact_seconds"] == pytest.approx(600.0)
    assert near["first_contact"] == T0 + dt.timedelta(seconds=5100)
    assert near["last_contact"] == T0 + dt.timedelta(seconds=5700)
    assert near["nearest_m"] == pytest.approx(100.0, abs=0.5)
    assert (result.index_stays, result.index_places) == (2, 2)


def _brute_force(cells, events, query: TraceQuery) -> dict[str, int]:
    """Seconds of contact per pseudonym, by checking every second of the day."""
    where = {c[1]: _offset(c[2], c[3]) for c in cells}

    def metres(a: str, b: str) -> float:
        (la1, lo1), (la2, lo2) = where[a], where[b]
        p1, p2 = math.radians(la1), math.radians(la2)
        h = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lo2 - lo1) / 2) ** 2
        )
        return 2 * 6_371_008.8 * math.asin(math.sqrt(h))

    dwell = int(query.max_dwell.total_seconds())
    tol = int(query.tolerance.total_seconds())
    t1 = int((query.start - T0).total_seconds())
    t2 = int((query.end - T0).total_seconds())

    def stays(who: str) -> list[tuple[str, int, int]]:
        mine = sorted((e[2], e[3]) for e in events if e[1] == who)
        out = []
        for k, (t, cell) in enumerate(mine):
            nxt = mine[k + 1][0] if k + 1 < len(mine) else t + dwell
            out.append((cell, t, min(nxt, t + dwell)))
        return out

    index = [(c, max(s, t1), min(e, t2)) for c, s, e in stays("idx") if min(e, t2) > max(s, t1)]
    horizon = max(e[2] for e in events) + 2 * dwell + tol
    found = {}
    for who in {e[1] for e in events} - {"idx"}:
        hit = np.zeros(horizon, dtype=bool)
        for cell, s, e in stays(who):
            for icell, s1, e1 in index:
                if metres(cell, icell) <= query.radius_m:
                    lo, hi = max(s, s1 - tol), min(e, e1 + tol)
                    hit[max(lo, 0) : max(hi, 0)] = True
        if hit.any():
            found[who] = int(hit.sum())
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_contact_seconds_match_brute_force(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    carriers = ["SKT", "KT", "LGU"]
    cells = [
        (carriers[k % 3], f"c{k}", float(rng.uniform(-800, 800)), float(rng.uniform(-800, 800)))
        for k in range(25)
    ]
    events = []
    for n in range(40):
        who = "idx" if n == 0 else f"p{n}"
        carrier = carriers[n % 3]
        mine = [c for c in cells if c[0] == carrier]
        for t in rng.integers(0, 4 * 3600, size=rng.integers(3, 25)):
            events.append((carrier, who, int(t), mine[rng.integers(len(mine))][1]))
    query = _query(
        start=T0 + dt.timedelta(minutes=40),
        end=T0 + dt.timedelta(hours=3, minutes=10),
        tolerance=dt.timedelta(minutes=int(rng.integers(0, 20))),
    )
    result = trace(_write_store(tmp_path, cells, events), query)
    got = {r["contact_pseudo"]: r["contact_seconds"] for r in result.contacts.to_pylist()}
    truth = _brute_force(cells, events, query)
    assert len(truth) > 3  # the case is not empty
    assert got.keys() == truth.keys()
    for who, seconds in truth.items():
        assert got[who] == pytest.approx(seconds), who
    ordered = [r["contact_seconds"] for r in result.contacts.to_pylist()]
    assert ordered == sorted(ordered, reverse=True)


def test_bad_queries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="must be after start"):
        _query(end=T0)
    with pytest.raises(TraceError, match="with a zone"):
        _query(start=dt.datetime(2020, 2, 20))
    with pytest.raises(TraceError, match="radius_m"):
        _query(radius_m=-1)
    with pytest.raises(TraceError, match="no location in this store"):
        trace(tmp_path, _query())


def test_index_is_rebuilt_when_the_store_changes(tmp_path: Path) -> None:
    from spreadwatch.tracing import is_current

    cells = [("SKT", "A", 0, 0), ("KT", "B", 30, 0)]
    store = _write_store(tmp_path, cells, [("SKT", "idx", 60, "A"), ("KT", "one", 90, "B")])
    first = trace(store, _query())
    assert first.contacts.column("contact_pseudo").to_pylist() == ["one"]
    assert is_current(store)
    late = pa.table(
        {
            "carrier": ["KT"],
            "subscriber_pseudo": ["two"],
            "ts": [T0 + dt.timedelta(seconds=100)],
            "region_code": ["11010"],
            "cell_id": ["B"],
        },
        schema=LOCATION.schema,
    )
    pq.write_table(late, store / "location" / "c-00000.parquet")  # a newly ingested file
    assert not is_current(store)
    second = trace(store, _query())
    assert sorted(second.contacts.column("contact_pseudo").to_pylist()) == ["one", "two"]
    assert not list(store.glob("trace_index.tmp*")) and not (store / "trace_index.old").exists()


def test_opening_the_store_keeps_the_tracing_index(tmp_path: Path) -> None:
    from spreadwatch.ingest import Store

    index = tmp_path / "trace_index" / "by_place" / "day=2020-02-20"
    index.mkdir(parents=True)
    (index / "part.parquet").write_bytes(b"PAR1")
    Store(tmp_path).close()  # removes uncommitted parts of sources, nothing else
    assert (index / "part.parquet").exists()
