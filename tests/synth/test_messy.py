"""Messy rows: what truth/messy.json counts equals what a brute-force scan of the files finds."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from tests.synth.conftest import Run

KINDS = ("bad_timestamp", "unknown_cell", "blank_subscriber", "duplicate_row")
TEXT_TIMESTAMP = re.compile(r"[A-Za-z#].*")
ISO_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def brute_force_counts(run: Run) -> tuple[dict[str, int], dict[str, int]]:
    """Defects found by scanning every location-event file row by row."""
    known = set(zip(run.cells_raw["carrier"], run.cells_raw["cell_id"], strict=True))
    counts = dict.fromkeys(KINDS, 0)
    variants = {"empty": 0, "text": 0, "impossible": 0}
    for (_carrier, _day), rows in run.events.groupby(["file_carrier", "file_date"]):
        seen: dict[tuple[str, ...], int] = {}
        for row in rows[["carrier", "subscriber_id", "ts", "cell_id"]].itertuples(index=False):
            seen[tuple(row)] = seen.get(tuple(row), 0) + 1
        counts["duplicate_row"] += sum(n - 1 for n in seen.values())
    e = run.events
    bad_ts = e["t"].isna()
    counts["bad_timestamp"] = int(bad_ts.sum())
    counts["blank_subscriber"] = int((e["subscriber_id"] == "").sum())
    pairs = zip(e["carrier"], e["cell_id"], strict=True)
    counts["unknown_cell"] = sum((c, i) not in known for c, i in pairs)
    for ts in e.loc[bad_ts, "ts"]:
        if ts == "":
            variants["empty"] += 1
        elif TEXT_TIMESTAMP.fullmatch(ts):
            variants["text"] += 1
        else:
            assert ISO_SHAPE.fullmatch(ts), ts
            variants["impossible"] += 1
    return counts, variants


@pytest.mark.parametrize("name", ["base", "messy_run"])
def test_messy_counts_equal_a_brute_force_scan(name, request):
    run: Run = request.getfixturevalue(name)
    counts, variants = brute_force_counts(run)
    stored = json.loads((run.root / "truth" / "messy.json").read_text())
    assert stored["location_events"] == counts
    assert stored["bad_timestamp_variants"] == variants
    assert {k: run.manifest.messy[k] for k in KINDS} == counts
    assert stored["messy"] == run.manifest.messy
    assert all(v > 0 for v in counts.values()), counts


@pytest.mark.parametrize("name", ["base", "messy_run"])
def test_each_messy_row_has_exactly_one_defect(name, request):
    run: Run = request.getfixturevalue(name)
    e = run.events
    known = set(zip(run.cells_raw["carrier"], run.cells_raw["cell_id"], strict=True))
    unknown = pd.Series(
        [(c, i) not in known for c, i in zip(e["carrier"], e["cell_id"], strict=True)],
        index=e.index,
    )
    defects = e["t"].isna().astype(int) + (e["subscriber_id"] == "") + unknown
    assert defects.max() == 1
    # duplicates are copies of clean rows, next to them in the file
    duplicated = e.duplicated(subset=["file_date", "carrier", "subscriber_id", "ts", "cell_id"])
    assert defects[duplicated].sum() == 0
    copies = e[duplicated]
    previous = e.loc[copies.index - 1]
    assert (
        previous[["subscriber_id", "ts", "cell_id"]].to_numpy()
        == copies[["subscriber_id", "ts", "cell_id"]].to_numpy()
    ).all()
    # unknown cells look like real ones of that carrier
    cells = run.cells_raw
    odd = e[unknown]
    for carrier, ids in odd.groupby("carrier")["cell_id"]:
        width = cells.loc[cells["carrier"] == carrier, "cell_id"].str.len().max() - len(carrier) - 1
        assert ids.str.fullmatch(rf"{carrier}-[0-9]{{{width}}}").all(), carrier


@pytest.mark.parametrize("name", ["base", "messy_run"])
def test_share_of_messy_rows_is_the_configured_fraction(name, request):
    run: Run = request.getfixturevalue(name)
    f = run.config.messy_fraction
    messy = sum(run.manifest.messy[k] for k in KINDS)
    clean_rows = len(run.events) - run.manifest.messy["duplicate_row"]
    expected = f * clean_rows
    assert abs(messy - expected) < 4 * math.sqrt(clean_rows * f * (1 - f))
    # the four kinds are about equally common
    for kind in KINDS:
        share = expected / len(KINDS)
        assert abs(run.manifest.messy[kind] - share) < 5 * math.sqrt(share)
