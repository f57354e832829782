"""The privacy-budget ledger: sums, refusals, persistence, concurrency and crash order."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

from spreadwatch.privacy import dp
from spreadwatch.privacy.ledger import (
    DEFAULT_TOTAL_BUDGET,
    BudgetExceeded,
    Ledger,
    default_ledger_path,
)
from tests.limits import TIMEOUT
from tests.privacy.conftest import START

DATA = "sha256:" + "ab" * 32


def test_charges_sum_per_data_set_and_refusal_names_spent_requested_total(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.charge(DATA, {"od_flows": 0.5, "presence": 0.5}, budget=2.0, note="first")
    ledger.charge(DATA, {"od_flows": 0.25}, note="second")
    ledger.charge("other", {"presence": 4.0})
    assert ledger.spent(DATA) == pytest.approx(1.25)
    assert ledger.status(DATA).remaining == pytest.approx(0.75)
    assert ledger.status("other").total_budget == DEFAULT_TOTAL_BUDGET
    before = ledger.entries()
    with pytest.raises(BudgetExceeded) as error:
        ledger.charge(DATA, {"od_flows": 0.5, "presence": 0.5})
    message = str(error.value)
    for part in ("spent 1.25", "requested 1", "total 2", DATA, "nothing was released"):
        assert part in message
    assert ledger.entries() == before  # nothing written
    assert [e.note for e in ledger.entries(DATA)] == ["first", "first", "second"]
    # what is left can still be spent, exactly
    ledger.charge(DATA, {"od_flows": 0.75})
    assert ledger.spent(DATA) == pytest.approx(2.0)


def test_floating_point_sums_fit_the_budget(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    for _ in range(3):
        ledger.charge(DATA, {"od_flows": 0.1}, budget=0.3)
    with pytest.raises(BudgetExceeded):
        ledger.charge(DATA, {"od_flows": 1e-6})


def test_check_writes_nothing_and_a_first_refusal_creates_no_file(tmp_path):
    path = tmp_path / "sub" / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.check(DATA, 1.0)
    with pytest.raises(BudgetExceeded, match="spent 0 \\+ requested 6"):
        ledger.check(DATA, 6.0)
    with pytest.raises(BudgetExceeded):
        ledger.charge(DATA, {"od_flows": 6.0})
    assert not path.exists() or Ledger(path).entries() == []
    assert ledger.datasets() == []


def test_budget_changes_are_recorded(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.charge(DATA, {"od_flows": 1.0}, budget=1.5)
    with pytest.raises(BudgetExceeded, match=r"total 1\.5"):
        ledger.charge(DATA, {"od_flows": 1.0})
    ledger.charge(DATA, {"od_flows": 1.0}, budget=3.0)
    import sqlite3

    with sqlite3.connect(ledger.path) as con:
        changes = con.execute("SELECT old_budget, new_budget FROM budget_changes").fetchall()
    assert changes == [(None, 1.5), (1.5, 3.0)]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_epsilon_or_budget_is_refused(tmp_path, bad):
    ledger = Ledger(tmp_path / "l.sqlite")
    with pytest.raises(ValueError, match="epsilon must be"):
        ledger.charge(DATA, {"od_flows": bad})
    with pytest.raises(ValueError, match="budget must be"):
        ledger.charge(DATA, {"od_flows": 0.1}, budget=bad)


_CHARGE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from spreadwatch.privacy.ledger import BudgetExceeded, Ledger
    try:
        Ledger(Path(sys.argv[1])).charge(sys.argv[2], {"od_flows": float(sys.argv[3])},
                                         budget=5.0, note=sys.argv[4])
    except BudgetExceeded:
        sys.exit(3)
    """
)


def test_persists_across_processes_and_concurrent_charges_never_overspend(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).charge(DATA, {"presence": 1.0}, budget=5.0, note="parent")
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHARGE, str(path), DATA, "1.0", f"child {i}"])
        for i in range(8)
    ]
    codes = sorted(p.wait(timeout=TIMEOUT) for p in procs)
    assert codes == [0] * 4 + [3] * 4  # 1 + 4 x 1.0 fills a budget of 5 exactly
    fresh = Ledger(path)  # a new instance reads what the other processes wrote
    assert fresh.spent(DATA) == pytest.approx(5.0)
    notes = [e.note for e in fresh.entries(DATA)]
    assert notes[0] == "parent" and len(notes) == 5


# ---- the release's order of operations


@pytest.fixture
def keys(busy_regions):
    from spreadwatch.model.geography import load_regions

    return dp.KeySpace(load_regions(busy_regions).codes, START, START + dt.timedelta(days=1))


def test_release_is_charged_and_published(small_store, keys, tmp_path):
    out = tmp_path / "rel"
    result = dp.release(small_store, out, 1.0, keys, note="weekly")
    assert result.ledger == default_ledger_path(out) == tmp_path / "privacy-ledger.sqlite"
    entries = Ledger(result.ledger).entries()
    assert [(e.table_name, e.epsilon, e.status, e.note) for e in entries] == [
        ("od_flows", 0.5, "published", "weekly"),
        ("presence", 0.5, "published", "weekly"),
    ]
    assert entries[0].dataset_id == dp.dataset_id(dp.event_files(small_store))
    assert sorted(p.name for p in out.iterdir()) == [
        "od_flows.parquet",
        "presence.parquet",
        "release.json",
    ]
    meta = dp.read_metadata(out / "od_flows.parquet")
    assert meta["release_id"] == entries[0].release_id == result.release_id
    assert json.loads((out / "release.json").read_text())["release_id"] == result.release_id


def test_refused_release_writes_nothing(small_store, keys, tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    dp.release(small_store, tmp_path / "a", 4.0, keys, tables=["od_flows"], ledger_path=ledger)
    with pytest.raises(BudgetExceeded, match="spent 4 \\+ requested 2 = 6 > total 5"):
        dp.release(small_store, tmp_path / "b", 2.0, keys, ledger_path=ledger)
    assert not (tmp_path / "b").exists()
    assert len(Ledger(ledger).entries()) == 1


def test_refusal_at_charge_time_removes_the_temporary_files(small_store, keys, tmp_path):
    """Another process spends the budget between the check and the charge."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    data = dp.dataset_id(dp.event_files(small_store))
    original = Ledger.charge

    def racing_charge(self, *args, **kwargs):
        original(self, data, {"od_flows": 4.5})  # the other release gets there first
        return original(self, *args, **kwargs)

    Ledger.charge = racing_charge  # type: ignore[method-assign]
    try:
        with pytest.raises(BudgetExceeded):
            dp.release(small_store, tmp_path / "out", 1.0, keys, ledger_path=ledger.path)
    finally:
        Ledger.charge = original  # type: ignore[method-assign]
    assert not (tmp_path / "out").exists()
    assert [e.epsilon for e in ledger.entries()] == [4.5]


def test_a_crash_after_the_charge_leaves_budget_spent_and_nothing_visible(
    small_store, keys, tmp_path, monkeypatch
):
    import os

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(os, "replace", crash)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with pytest.raises(KeyboardInterrupt):
        dp.release(small_store, tmp_path / "out", 1.0, keys, ledger_path=ledger.path)
    # charged (the safe side) but never published, and no table is visible
    assert [e.status for e in ledger.entries()] == ["charged", "charged"]
    assert not list((tmp_path / "out").glob("*.parquet"))


def test_output_folder_holding_a_release_is_refused(small_store, keys, tmp_path):
    dp.release(small_store, tmp_path / "out", 0.5, keys, tables=["presence"])
    with pytest.raises(FileExistsError, match="already holds a release"):
        dp.release(small_store, tmp_path / "out", 0.5, keys, tables=["presence"])
    assert len(Ledger(tmp_path / "privacy-ledger.sqlite").entries()) == 1


def test_released_tables_follow_the_fusion_contracts(small_store, keys, tmp_path):
    result = dp.release(small_store, tmp_path / "out", 2.0, keys, dataset="feed-2020")
    od = pq.read_table(result.paths["od_flows"])
    assert od.column_names == ["date", "origin", "dest", "trips", "suppressed", "epsilon"]
    assert [str(t) for t in od.schema.types] == [
        "date32[day]",
        "string",
        "string",
        "int64",
        "bool",
        "double",
    ]
    presence = pq.read_table(result.paths["presence"])
    assert presence.column_names == [
        "date",
        "hour",
        "region_code",
        "people",
        "suppressed",
        "epsilon",
    ]
    assert str(presence.schema.field("hour").type) == "int8"
    assert od.num_rows == keys.od_size and presence.num_rows == keys.presence_size
    meta = dp.read_metadata(result.paths["presence"])
    assert meta["dataset_id"] == "feed-2020"
    assert meta["sensitivity_l1"] == 24 and meta["scale"] == pytest.approx(24.0)
    assert meta["unit_of_privacy"] == "subscriber-day"
