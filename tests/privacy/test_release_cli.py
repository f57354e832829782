"""`spreadwatch release` and `spreadwatch budget` end to end on a small ingest store, and their
errors."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.release.chain import ledger_key
from spreadwatch.release.ledger import Ledger
from tests.privacy.conftest import KEY

DATES = ["--start", "2020-02-01", "--end", "2020-02-02"]
ENV = {"SPREADWATCH_QUIET": "1", "SPREADWATCH_PSEUDONYM_KEY": KEY.hex()}


def invoke(*args: str, code: int = 0, env: dict | None = None) -> str:
    result = CliRunner().invoke(app, list(args), env=env or ENV)
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())  # unwrap Rich's line breaks


def test_release_both_tables_then_refuse_over_budget_then_show_then_raise(store, tmp_path):
    out = tmp_path / "releases" / "first"
    text = invoke(
        "release", str(store), "--epsilon", "2", "--out", str(out), *DATES,
        "--budget", "3", "--note", "weekly flows",
    )  # fmt: skip
    assert "epsilon 1, sensitivity 4, discrete Laplace scale 4" in text
    assert "epsilon 1, sensitivity 24, discrete Laplace scale 24" in text
    assert "data set store: spent 2 of 3" in text
    od = pq.read_table(out / "od_flows.parquet")
    assert od.num_rows == 2 * 229 * 228
    assert pq.read_table(out / "presence.parquet").num_rows == 2 * 24 * 229
    ledger = store / "privacy-ledger.sqlite"  # the store's budget is kept in the store
    assert ledger.exists() and not (tmp_path / "releases" / "privacy-ledger.sqlite").exists()

    second = tmp_path / "releases" / "second"
    over = [
        "release", str(store), "--epsilon", "1.5", "--out", str(second), *DATES,
        "--tables", "od_flows",
    ]  # fmt: skip
    text = invoke(*over, code=2)
    assert "privacy budget exceeded" in text
    assert "spent 2 + requested 1.5 = 3.5 > total 3" in text
    for trick, message in (
        (["--budget", "100"], "a release cannot raise it to 100"),
        (["--ledger", str(tmp_path / "new.sqlite")], "budget is kept in the store"),
        (["--dataset", "fresh-name"], "--dataset names loose Parquet files"),
    ):
        assert message in invoke(*over, *trick, code=2)
    assert not second.exists()

    text = invoke("budget", "show", str(store))
    assert "4 entries, verified" in text  # the data set's opening, 2 tables, published
    assert "spent 2 of 3, 1 left" in text
    assert "od_flows epsilon 1" in text and "presence epsilon 1" in text
    assert "note: weekly flows" in text
    assert "spent 2 of 3" in invoke("release", "--ledger", str(ledger), "--show")
    assert "4 entries, every one signed" in invoke("budget", "verify", str(store))

    assert "--reason" in invoke("budget", "raise", str(store), "--to", "4", code=2)
    text = invoke("budget", "raise", str(store), "--to", "4", "--reason", "new wave", "--by", "kim")
    assert "data set store: total 3 -> 4, by kim (new wave)" in text
    invoke(*over)
    text = invoke("budget", "show", str(store))
    assert "spent 3.5 of 4" in text and "budget 3 -> 4 by kim: new wave" in text
    assert len(Ledger(ledger, ledger_key(KEY)).entries()) == 3


def test_a_tampered_ledger_refuses_releases_and_says_where(store, tmp_path):
    import sqlite3

    args = ["release", str(store), "--epsilon", "5", *DATES, "--tables", "presence"]
    invoke(*args, "--out", str(tmp_path / "a"))
    con = sqlite3.connect(store / "privacy-ledger.sqlite")
    con.execute("DELETE FROM log WHERE kind = 'charge'")
    con.commit()
    con.close()
    text = invoke(*args, "--out", str(tmp_path / "b"), code=2)
    assert "entry 2 is missing" in text and "Traceback" not in text
    assert not (tmp_path / "b").exists()
    assert "entry 2 is missing" in invoke("budget", "verify", str(store), code=2)
    assert "entry 2 is missing" in invoke("budget", "show", str(store), code=2)


def test_without_the_key_nothing_is_released(store, tmp_path):
    env = {"SPREADWATCH_QUIET": "1", "SPREADWATCH_PSEUDONYM_KEY": ""}
    missing = tmp_path / "no.key"
    text = invoke(
        "release", str(store), "--epsilon", "1", *DATES, "--out", str(tmp_path / "o"),
        "--key-file", str(missing), code=2, env=env,
    )  # fmt: skip
    assert "signed with the pseudonym key" in text and "no.key does not exist" in text
    assert not (tmp_path / "o").exists()


def test_release_with_own_regions_and_bounds(loose_events, busy_regions, tmp_path):
    out = tmp_path / "out"
    ledger = tmp_path / "budget.sqlite"
    text = invoke(
        "release", loose_events, "--epsilon", "0.5", "--out", str(out), *DATES,
        "--tables", "presence", "--regions", str(busy_regions), "--max-hours-per-day", "12",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert "sensitivity 12, discrete Laplace scale 24" in text
    assert not (out / "od_flows.parquet").exists()
    presence = pq.read_table(out / "presence.parquet")
    assert presence.num_rows == 2 * 24 * 12
    assert set(presence["epsilon"].to_pylist()) == {0.5}
    assert [e.table_name for e in Ledger(ledger, ledger_key(KEY)).entries()] == ["presence"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epsilon", "0", *DATES], "--epsilon must be a finite number greater than 0, got 0"),
        (["--epsilon", "-1", *DATES], "--epsilon must be a finite number greater than 0"),
        (["--epsilon", "nan", *DATES], "--epsilon must be a finite number"),
        (["--epsilon", "1e-300", *DATES], "--epsilon must be at least 1e-06"),
        ([*DATES], "--epsilon is required"),
        (["--epsilon", "1", "--start", "2020-02-01"], "--end is required"),
        (["--epsilon", "1"], "--start is required: the released dates are a public range"),
        (["--epsilon", "1", "--start", "Feb 1", "--end", "2020-02-02"], "--start: expected"),
        (
            ["--epsilon", "1", "--start", "2020-02-03", "--end", "2020-02-01"],
            "ends (2020-02-01) before it starts",
        ),
        (["--epsilon", "1", *DATES, "--max-trips-per-day", "0"], "max_trips_per_day must be"),
        (["--epsilon", "1", *DATES, "--budget", "0"], "--budget must be greater than 0"),
    ],
)
def test_bad_options_are_clear_errors(small_store, tmp_path, args, message):
    text = invoke("release", str(small_store), "--out", str(tmp_path / "o"), *args, code=2)
    assert message in text
    assert not (tmp_path / "o").exists()
    assert not (tmp_path / "privacy-ledger.sqlite").exists()


def test_missing_inputs_are_clear_errors(small_store, loose_events, tmp_path):
    text = invoke(
        "release", str(tmp_path / "none.parquet"), "--epsilon", "1", *DATES, code=2
    )  # fmt: skip
    assert "none.parquet: no such file" in text
    assert "give the events" in invoke("release", "--epsilon", "1", code=2)
    assert "--show needs --ledger" in invoke("release", "--show", code=2)
    assert "no such ledger" in invoke(
        "release", "--show", "--ledger", str(tmp_path / "x.sqlite"), code=2
    )
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_text("garbage{{{")
    for args in (["--show"], [loose_events, "--epsilon", "1", *DATES]):
        text = invoke(
            "release", *args, "--ledger", str(garbage), "--out", str(tmp_path / "g"), code=2
        )
        assert "garbage.sqlite: not a privacy-budget ledger" in text and "Traceback" not in text
    regions = tmp_path / "regions.csv"
    regions.write_text("code,population\n11010,-5\n")
    text = invoke(
        "release", str(small_store), "--epsilon", "1", *DATES, "--regions", str(regions),
        "--out", str(tmp_path / "o"), code=2,
    )  # fmt: skip
    assert "regions.csv: row 1, column population" in text


def test_output_folder_with_a_release_is_refused(store, busy_regions, tmp_path):
    args = [
        "release", str(store), "--epsilon", "0.2", *DATES, "--regions", str(busy_regions),
        "--out", str(tmp_path / "o"),
    ]  # fmt: skip
    invoke(*args)
    assert "already holds a release" in invoke(*args, code=2)


def test_help_lists_release():
    assert "release" in invoke("--help")
