"""Flows of a growing store, updated day by day, equal the flows computed from scratch."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spreadwatch.fusion import flows as planner
from spreadwatch.fusion import incremental, running
from spreadwatch.fusion.flows import INCREMENTAL_TABLES, STATE_FILE, build_flows
from spreadwatch.ingest import Store, ingest
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

RING = KeyRing(bytes(range(32)))


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(SynthConfig(seed=8, subscribers=2500, days=5), out)
    return out / "raw"


@pytest.fixture
def recounted(monkeypatch):
    """Flows recount the store's events, as without the ingest's running counts."""
    monkeypatch.setattr(planner, "_counted_tables", lambda store, plan, k: None)


def _days(raw: Path, dates: list[str]) -> list[Path]:
    return sorted(p for d in dates for p in (raw / "location_events").glob(f"*/{d}.csv"))


def _ingest(store_dir: Path, raw: Path, files: list[Path]) -> None:
    with Store(store_dir) as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        ingest("location", files, store, RING, follow=running.follow)


def _tables(folder: Path) -> dict[str, list[dict]]:
    return {
        name: pq.read_table(folder / f"{name}.parquet").to_pylist() for name in INCREMENTAL_TABLES
    }


@pytest.mark.parametrize(
    "batches",
    [
        [["2020-02-01", "2020-02-02"], ["2020-02-03"], ["2020-02-04", "2020-02-05"]],
        [["2020-02-01", "2020-02-03", "2020-02-04"], ["2020-02-02"], ["2020-02-05"]],  # late day
    ],
)
def test_updates_equal_a_full_recomputation(raw, tmp_path, batches, monkeypatch, recounted):
    store, flows = tmp_path / "store", tmp_path / "flows"
    cutoffs = []
    since = incremental.events_since
    monkeypatch.setattr(
        incremental, "events_since", lambda e, c, u=None: cutoffs.append(c) or since(e, c, u)
    )
    for batch in batches:
        _ingest(store, raw, _days(raw, batch))
        build_flows(store, flows, k=2)
    # the first build reads every event; each later one only from the day before its first
    # new day on (once for both tables)
    firsts = [dt.date.fromisoformat(min(b)) for b in batches[1:]]
    assert [c.date() for c in cutoffs] == [d - dt.timedelta(days=2) for d in firsts]
    state = json.loads((flows / STATE_FILE).read_text())
    assert len(state["location_files"]) == 15
    full = tmp_path / "full"
    _ingest(tmp_path / "store2", raw, _days(raw, [d for b in batches for d in b]))
    build_flows(tmp_path / "store2", full, k=2)
    assert _tables(flows) == _tables(full)
    assert len({r["date"] for r in _tables(full)["od_flows"]}) >= 5


def test_unchanged_store_keeps_the_files_and_a_new_k_recomputes(raw, tmp_path):
    store, flows = tmp_path / "store", tmp_path / "flows"
    _ingest(store, raw, _days(raw, ["2020-02-01", "2020-02-02"]))
    build_flows(store, flows, k=2)
    stamp = (flows / "od_flows.parquet").stat().st_mtime_ns
    build_flows(store, flows, k=2)
    assert (flows / "od_flows.parquet").stat().st_mtime_ns == stamp
    build_flows(store, flows, k=50)
    suppressed = pq.read_table(flows / "od_flows.parquet")["suppressed"].to_pylist()
    assert all(suppressed)  # every pair of 2,500 subscribers is below 50
    shutil.rmtree(flows)


def test_day_by_day_windows_equal_one_pass(raw, tmp_path, monkeypatch, recounted):
    store = tmp_path / "store"
    _ingest(store, raw, _days(raw, ["2020-02-01", "2020-02-02", "2020-02-03", "2020-02-04"]))
    build_flows(store / "location", tmp_path / "one-pass", k=2)  # a folder: all events at once
    monkeypatch.setattr(planner, "WINDOW_EVENTS", 1)  # one day per window
    windows = []
    since = incremental.events_since
    monkeypatch.setattr(
        incremental, "events_since", lambda e, c, u=None: windows.append((c, u)) or since(e, c, u)
    )
    build_flows(store, tmp_path / "windows", k=2)
    assert len(windows) >= 4  # four or five KST days, each read once for both tables
    assert _tables(tmp_path / "windows") == _tables(tmp_path / "one-pass")


@pytest.mark.parametrize("counts", ["running", "recounted"])
def test_presence_after_the_last_day_is_not_kept_when_all_events_fit(
    raw, tmp_path, request, counts
):
    """Presence runs up to 12 hours past an event: events in the Korean evening of the last day
    spill into the next day, which is not the data's (nor a full recomputation's) to report."""
    if counts == "recounted":
        request.getfixturevalue("recounted")
    cells = [line.split(",") for line in (raw / "cells.csv").read_text().splitlines()[1:6]]
    days = []
    for n, date in enumerate(["2020-02-01", "2020-02-02"]):
        path = tmp_path / f"evening-{n}.csv"
        rows = ["carrier,subscriber_id,ts,cell_id"]
        for i in range(20):  # 10:00-19:00 UTC is 19:00-04:00 KST
            carrier, cell = cells[i % 5][0], cells[i % 5][1]
            rows.append(f"{carrier},u{i},{date}T{10 + i % 5:02d}:00:00Z,{cell}")
        path.write_text("\n".join(rows) + "\n")
        days.append(path)
    store, flows = tmp_path / "store", tmp_path / "flows"
    _ingest(store, raw, days[:1])
    build_flows(store, flows, k=1)
    _ingest(store, raw, days[1:])
    build_flows(store, flows, k=1)
    full = tmp_path / "full"
    _ingest(tmp_path / "store2", raw, days)
    build_flows(tmp_path / "store2", full, k=1)
    assert _tables(flows) == _tables(full)
    last = max(r["date"] for r in _tables(full)["presence"])
    assert last == dt.date(2020, 2, 2)  # KST dates of the events, not the day after


def test_a_row_dated_9999_in_an_old_store_does_not_break_the_plan(tmp_path):
    """Stores written before ingest kept to its plausible window may hold such a row: the
    flow plan's dates stay inside the window (no OverflowError, no century of windows)."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from spreadwatch.fusion.flows import _kst_dates
    from spreadwatch.ingest.sources import PLAUSIBLE_FROM, PLAUSIBLE_UNTIL

    times = [dt.datetime(2020, 2, 1, tzinfo=dt.UTC), dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)]
    part = tmp_path / "part.parquet"
    pq.write_table(pa.table({"ts": pa.array(times, pa.timestamp("us", "UTC"))}), part)
    first, last = _kst_dates(part)
    assert first == dt.date(2020, 2, 1)
    assert PLAUSIBLE_FROM.date() <= last <= PLAUSIBLE_UNTIL.date()
