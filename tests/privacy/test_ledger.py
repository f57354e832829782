"""The privacy-budget ledger: sums, refusals, persistence, concurrency, crash order, and that
it notices tampering."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

from spreadwatch.release import dp
from spreadwatch.release.chain import ledger_key
from spreadwatch.release.ledger import (
    DEFAULT_TOTAL_BUDGET,
    BudgetExceeded,
    Ledger,
    LedgerError,
    LedgerTampered,
    default_ledger_path,
)
from tests.limits import TIMEOUT
from tests.privacy.conftest import KEY, START

DATA = "sha256:" + "ab" * 32
LKEY = ledger_key(KEY)


def Ledger_(path) -> Ledger:
    return Ledger(path, LKEY)


def test_charges_sum_per_data_set_and_refusal_names_spent_requested_total(tmp_path):
    ledger = Ledger_(tmp_path / "ledger.sqlite")
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
    ledger = Ledger_(tmp_path / "l.sqlite")
    for _ in range(3):
        ledger.charge(DATA, {"od_flows": 0.1}, budget=0.3)
    with pytest.raises(BudgetExceeded):
        ledger.charge(DATA, {"od_flows": 1e-6})


def test_check_writes_nothing_and_a_first_refusal_creates_no_file(tmp_path):
    path = tmp_path / "sub" / "ledger.sqlite"
    ledger = Ledger_(path)
    ledger.check(DATA, 1.0)
    with pytest.raises(BudgetExceeded, match="spent 0 \\+ requested 6"):
        ledger.check(DATA, 6.0)
    with pytest.raises(BudgetExceeded):
        ledger.charge(DATA, {"od_flows": 6.0})
    assert not path.exists() or Ledger_(path).entries() == []
    assert ledger.datasets() == []


def test_a_release_cannot_raise_a_budget_an_administrator_can_and_both_are_recorded(tmp_path):
    ledger = Ledger_(tmp_path / "l.sqlite")
    ledger.charge(DATA, {"od_flows": 1.0}, budget=1.5)
    with pytest.raises(BudgetExceeded, match=r"total 1\.5"):
        ledger.charge(DATA, {"od_flows": 1.0})
    with pytest.raises(LedgerError, match=r"cannot raise it to 100.*spreadwatch budget raise"):
        ledger.charge(DATA, {"od_flows": 1.0}, budget=100)
    with pytest.raises(LedgerError, match="cannot raise"):
        ledger.check(DATA, 1.0, budget=100)
    assert ledger.spent(DATA) == 1.0
    with pytest.raises(LedgerError, match="needs a reason"):
        ledger.set_budget(DATA, 3.0, " ", "kim")
    with pytest.raises(LedgerError, match="no data set nope"):
        ledger.set_budget("nope", 3.0, "more", "kim")
    change = ledger.set_budget(DATA, 3.0, "second wave: weekly flows approved by the IRB", "kim")
    ledger.charge(DATA, {"od_flows": 1.0})
    ledger.charge(DATA, {"od_flows": 0.25}, budget=2.5)  # lowering at a release is recorded
    changes = [(c.old_budget, c.new_budget, c.by, c.reason) for c in ledger.budget_changes()]
    assert changes == [
        (1.5, 3.0, "kim", "second wave: weekly flows approved by the IRB"),
        (3.0, 2.5, "release", "lowered at a release"),
    ]
    assert change.id < ledger.entries()[-1].id
    assert ledger.status(DATA).total_budget == 2.5 and ledger.spent(DATA) == 2.25


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_epsilon_or_budget_is_refused(tmp_path, bad):
    ledger = Ledger_(tmp_path / "l.sqlite")
    with pytest.raises(ValueError, match="epsilon must be"):
        ledger.charge(DATA, {"od_flows": bad})
    with pytest.raises(ValueError, match="budget must be"):
        ledger.charge(DATA, {"od_flows": 0.1}, budget=bad)


_CHARGE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from spreadwatch.release.ledger import BudgetExceeded, Ledger
    try:
        Ledger(Path(sys.argv[1]), bytes.fromhex(sys.argv[5])).charge(
            sys.argv[2], {"od_flows": float(sys.argv[3])}, budget=5.0, note=sys.argv[4])
    except BudgetExceeded:
        sys.exit(3)
    """
)


def test_persists_across_processes_and_concurrent_charges_never_overspend(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger_(path).charge(DATA, {"presence": 1.0}, budget=5.0, note="parent")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHARGE, str(path), DATA, "1.0", f"child {i}", LKEY.hex()]
        )
        for i in range(8)
    ]
    codes = sorted(p.wait(timeout=TIMEOUT) for p in procs)
    assert codes == [0] * 4 + [3] * 4  # 1 + 4 x 1.0 fills a budget of 5 exactly
    fresh = Ledger_(path)  # a new instance reads what the other processes wrote
    assert fresh.spent(DATA) == pytest.approx(5.0)
    notes = [e.note for e in fresh.entries(DATA)]
    assert notes[0] == "parent" and len(notes) == 5
    assert fresh.verify() == 1 + 5  # the data set's opening and five charges, in one chain


# ---- the release's order of operations


@pytest.fixture
def keys(busy_regions):
    from spreadwatch.model.geography import load_regions

    return dp.KeySpace(load_regions(busy_regions).codes, START, START + dt.timedelta(days=1))


def test_release_is_charged_and_published(loose_events, keys, tmp_path):
    out = tmp_path / "rel"
    result = dp.release(loose_events, out, 1.0, keys, KEY, note="weekly")
    assert result.ledger == default_ledger_path(out) == tmp_path / "privacy-ledger.sqlite"
    entries = Ledger_(result.ledger).entries()
    assert [(e.table_name, e.epsilon, e.status, e.note) for e in entries] == [
        ("od_flows", 0.5, "published", "weekly"),
        ("presence", 0.5, "published", "weekly"),
    ]
    assert entries[0].dataset_id == dp.dataset_id(dp.event_files(loose_events))
    assert sorted(p.name for p in out.iterdir()) == [
        "od_flows.parquet",
        "presence.parquet",
        "release.json",
    ]
    meta = dp.read_metadata(out / "od_flows.parquet")
    assert meta["release_id"] == entries[0].release_id == result.release_id
    assert json.loads((out / "release.json").read_text())["release_id"] == result.release_id


def test_refused_release_writes_nothing(loose_events, keys, tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    dp.release(
        loose_events, tmp_path / "a", 4.0, keys, KEY, tables=["od_flows"], ledger_path=ledger
    )
    with pytest.raises(BudgetExceeded, match="spent 4 \\+ requested 2 = 6 > total 5"):
        dp.release(loose_events, tmp_path / "b", 2.0, keys, KEY, ledger_path=ledger)
    assert not (tmp_path / "b").exists()
    assert len(Ledger_(ledger).entries()) == 1


def test_refusal_at_charge_time_removes_the_temporary_files(loose_events, keys, tmp_path):
    """Another process spends the budget between the check and the charge."""
    ledger = Ledger_(tmp_path / "ledger.sqlite")
    data = dp.dataset_id(dp.event_files(loose_events))
    original = Ledger.charge

    def racing_charge(self, *args, **kwargs):
        original(self, data, {"od_flows": 4.5})  # the other release gets there first
        return original(self, *args, **kwargs)

    Ledger.charge = racing_charge  # type: ignore[method-assign]
    try:
        with pytest.raises(BudgetExceeded):
            dp.release(loose_events, tmp_path / "out", 1.0, keys, KEY, ledger_path=ledger.path)
    finally:
        Ledger.charge = original  # type: ignore[method-assign]
    assert not (tmp_path / "out").exists()
    assert [e.epsilon for e in ledger.entries()] == [4.5]


def test_a_crash_after_the_charge_leaves_budget_spent_and_nothing_visible(
    loose_events, keys, tmp_path, monkeypatch
):
    import os

    rename = os.replace

    def crash(source, target, *args, **kwargs):
        if str(target).endswith(".parquet"):  # killed as the tables are put in place
            raise KeyboardInterrupt("killed")
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", crash)
    ledger = Ledger_(tmp_path / "ledger.sqlite")
    with pytest.raises(KeyboardInterrupt):
        dp.release(loose_events, tmp_path / "out", 1.0, keys, KEY, ledger_path=ledger.path)
    # charged (the safe side) but never published, and no table is visible
    assert [e.status for e in ledger.entries()] == ["charged", "charged"]
    assert not list((tmp_path / "out").glob("*.parquet"))


def test_output_folder_holding_a_release_is_refused(loose_events, keys, tmp_path):
    dp.release(loose_events, tmp_path / "out", 0.5, keys, KEY, tables=["presence"])
    with pytest.raises(FileExistsError, match="already holds a release"):
        dp.release(loose_events, tmp_path / "out", 0.5, keys, KEY, tables=["presence"])
    assert len(Ledger_(tmp_path / "privacy-ledger.sqlite").entries()) == 1


def test_released_tables_follow_the_fusion_contracts(loose_events, keys, tmp_path):
    result = dp.release(loose_events, tmp_path / "out", 2.0, keys, KEY, dataset="feed-2020")
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


# ---- tampering: every change outside spreadwatch is noticed, and refuses releases


def _sql(path, statement: str) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    con.execute(statement)
    con.commit()
    con.close()


def _spent_five_of_five(path) -> Ledger:
    ledger = Ledger_(path)
    ledger.charge(DATA, {"od_flows": 2.5, "presence": 2.5}, budget=5.0)
    with pytest.raises(BudgetExceeded):
        ledger.charge(DATA, {"od_flows": 1.0})
    return ledger


def _refuses_everything(ledger: Ledger, match: str) -> None:
    for attempt in (
        lambda: ledger.charge(DATA, {"od_flows": 1.0}),
        lambda: ledger.check(DATA, 1.0),
        lambda: ledger.status(DATA),
        ledger.verify,
    ):
        with pytest.raises(LedgerTampered, match=match):
            attempt()


def test_deleting_the_charges_does_not_reset_the_spend(tmp_path):
    ledger = _spent_five_of_five(tmp_path / "l.sqlite")
    _sql(ledger.path, "DELETE FROM log WHERE kind = 'charge'")
    _refuses_everything(ledger, "entry 2 is missing|records 3 entries, the ledger holds 1")
    _sql(ledger.path, "DELETE FROM log")  # everything: the head outside the file remembers
    _refuses_everything(ledger, "records 3 entries, the ledger holds 0")


def test_a_changed_entry_an_older_copy_a_deleted_file_and_the_wrong_key_are_noticed(tmp_path):
    import shutil

    path = tmp_path / "l.sqlite"
    ledger = Ledger_(path)
    ledger.charge(DATA, {"od_flows": 1.0})
    shutil.copy(path, tmp_path / "old.sqlite")
    ledger.charge(DATA, {"od_flows": 3.0})

    _sql(path, "UPDATE log SET body = replace(body, '\"epsilon\":3.0', '\"epsilon\":0.1')")
    _refuses_everything(ledger, r"entry 3 \(charge\) does not verify")

    shutil.copy(tmp_path / "old.sqlite", path)  # an older copy, valid in itself
    _refuses_everything(ledger, "records 3 entries, the ledger holds 2.*older copy")

    path.unlink()
    _refuses_everything(ledger, "the ledger is missing, but .*l.sqlite.head records 3 entries")

    other = tmp_path / "other.sqlite"
    Ledger_(other).charge(DATA, {"od_flows": 1.0})
    with pytest.raises(LedgerTampered, match="not one spreadwatch wrote with this key"):
        Ledger(other, ledger_key(b"another key, 32 bytes long......")).verify()


def test_a_crash_before_the_head_is_recorded_leaves_a_ledger_that_verifies(tmp_path, monkeypatch):
    ledger = Ledger_(tmp_path / "l.sqlite")
    ledger.charge(DATA, {"od_flows": 1.0})

    def killed(head):
        raise KeyboardInterrupt("killed between the commit and the head")

    monkeypatch.setattr(ledger.head_record, "write", killed)
    with pytest.raises(KeyboardInterrupt):
        ledger.charge(DATA, {"od_flows": 1.0})
    monkeypatch.undo()
    fresh = Ledger_(ledger.path)
    assert fresh.spent(DATA) == 2.0  # the committed charge counts (the safe side)
    fresh.charge(DATA, {"od_flows": 1.0})
    assert fresh.verify() == 4 and fresh.head_record.read().seq == 4


# ---- a store's budget is the store's


def test_a_stores_budget_lives_in_the_store_whatever_ledger_or_name_is_given(store, keys, tmp_path):
    from spreadwatch.release.chain import store_ledger_path

    dp.release(store, tmp_path / "a", 5.0, keys, KEY, tables=["od_flows"])
    own = Ledger_(store_ledger_path(store))
    assert [(s.dataset_id, s.spent, s.total_budget) for s in own.datasets()] == [
        ("store", 5.0, 5.0)
    ]
    with pytest.raises(BudgetExceeded, match="spent 5 \\+ requested 1"):
        dp.release(store, tmp_path / "b", 1.0, keys, KEY, tables=["od_flows"])
    with pytest.raises(ValueError, match=r"--ledger: .* budget is kept in the store"):
        dp.release(store, tmp_path / "b", 1.0, keys, KEY, ledger_path=tmp_path / "fresh.sqlite")
    with pytest.raises(ValueError, match=r"--dataset: .* the store's own"):
        dp.release(store, tmp_path / "b", 1.0, keys, KEY, dataset="another-name")
    with pytest.raises(LedgerError, match="cannot raise it to 100"):
        dp.release(store, tmp_path / "b", 1.0, keys, KEY, budget=100)
    assert not (tmp_path / "b").exists() and not (tmp_path / "fresh.sqlite").exists()

    # the head is kept in the store's manifest: removing the ledger file resets nothing
    store_ledger_path(store).unlink()
    with pytest.raises(LedgerTampered, match=r"manifest\.sqlite records 3 entries"):
        dp.release(store, tmp_path / "b", 1.0, keys, KEY, tables=["od_flows"])
    assert not (tmp_path / "b").exists()


def test_a_removed_forged_or_zeroed_head_refuses_releases(tmp_path):
    import json

    ledger = _spent_five_of_five(tmp_path / "l.sqlite")
    head = ledger.path.with_name("l.sqlite.head")
    recorded = json.loads(head.read_text())
    head.unlink()  # with the entries still there: removed on purpose
    _refuses_everything(ledger, "holds 3 entries but no head is recorded")
    for forged in (
        {"seq": 0, "mac": "", "tag": recorded["tag"]},  # zeroed, with the old tag
        {"seq": 0, "mac": "", "tag": "00" * 32},
        {"seq": -1, "mac": "", "tag": recorded["tag"]},
    ):
        head.write_text(json.dumps(forged))
        _refuses_everything(ledger, "not one spreadwatch wrote with this key")
    head.write_text(json.dumps(recorded))
    assert ledger.verify() == 3  # the real head back: it verifies again


def test_an_empty_ledger_file_is_an_empty_ledger(tmp_path):
    path = tmp_path / "l.sqlite"
    path.touch()
    ledger = Ledger_(path)
    assert ledger.entries() == [] and ledger.datasets() == []
    ledger.charge(DATA, {"od_flows": 1.0})
    assert ledger.spent(DATA) == 1.0


def test_a_raise_by_a_hair_is_still_no_raise(tmp_path):
    ledger = Ledger_(tmp_path / "l.sqlite")
    ledger.charge(DATA, {"od_flows": 1.0}, budget=2.0)
    ledger.charge(DATA, {"od_flows": 0.5}, budget=2.0 + 1e-10)
    assert ledger.status(DATA).total_budget == 2.0 and ledger.budget_changes() == []


def test_a_stores_parts_given_as_files_are_charged_to_the_store(store, keys, tmp_path):
    import sqlite3

    from spreadwatch.ingest.store import events_glob
    from spreadwatch.release.chain import store_ledger_path

    dp.release(events_glob(store), tmp_path / "a", 5.0, keys, KEY, tables=["od_flows"])
    assert Ledger_(store_ledger_path(store)).spent("store") == 5.0
    for path in (events_glob(store), store / "location"):
        with pytest.raises(BudgetExceeded):
            dp.release(path, tmp_path / "b", 1.0, keys, KEY, tables=["od_flows"])
        with pytest.raises(ValueError, match=r"--dataset: .* is in the ingest store"):
            dp.release(path, tmp_path / "b", 1.0, keys, KEY, dataset="fresh")
    con = sqlite3.connect(store / "manifest.sqlite")
    con.execute("DROP TABLE privacy_ledger_head")
    con.commit()
    con.close()
    with pytest.raises(LedgerTampered, match="no head is recorded"):
        dp.release(store, tmp_path / "b", 1.0, keys, KEY, tables=["od_flows"])
