"""The demo end to end on a small synthetic Korea: the brief (what a reader sees in both
editions, against the data), the calibration against the synthetic truth, row accounting, and
no raw IDs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app

TOKEN = re.compile(r"[A-Za-z0-9:_\-]+")


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    key = tmp_path_factory.mktemp("key") / "pseudonym.key"
    args = ["demo", "--out", str(out), "--subscribers", "3000", "--days", "28"]
    args += ["--measure-day", "18", "--projection", "14", "--particles", "60", "--lang", "en"]
    result = CliRunner().invoke(app, [*args, "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    return out


def _strings(path: Path) -> set[str]:
    """Every token of every string in a Parquet file, or of a text file."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        values = [
            str(v)
            for column in table.columns
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            for v in column.to_pylist()
        ]
        text = "\n".join(values)
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
    return set(TOKEN.findall(text))


def _raw_ids(synth: Path) -> set[str]:
    subscribers = pq.read_table(synth / "truth" / "subscribers.parquet")
    households = pq.read_table(synth / "truth" / "households.parquet")
    ids = set(subscribers["subscriber_id"].to_pylist())
    for name in ("household_id", "device_id", "subscriber_id"):
        if name in households.column_names:
            column = households[name]
            values = column.combine_chunks().flatten() if pa.types.is_list(column.type) else column
            ids |= set(values.to_pylist())
    return {i for i in ids if i}


def test_no_raw_subscriber_or_device_id_leaves_the_raw_inputs(demo_out):
    ids = _raw_ids(demo_out / "synth")
    assert len(ids) > 3000
    # the scanner finds them where they are expected: the carriers' raw files
    raw_hits = set()
    for path in (demo_out / "synth" / "raw" / "location_events").rglob("*.csv"):
        raw_hits |= _strings(path) & ids
    assert len(raw_hits) > 2500
    outputs = [
        p for p in demo_out.rglob("*") if p.is_file() and (demo_out / "synth") not in p.parents
    ]
    names = {p.relative_to(demo_out).parts[:2] for p in outputs}
    for source in ("location", "roaming", "telemetry", "cells", "cases", "household_members"):
        assert ("ingest", source) in names
    assert ("ingest", "quarantine") in names
    assert {p.name for p in outputs} >= {
        "od_flows.parquet",
        "commuting.parquet",
        "importations.parquet",
        "household_signals.parquet",
        "posterior.parquet",
        "curves.parquet",
        "report.html",
        "report.ko.html",
        "running-flows.npz",  # the ingest's running flow counts: pseudonyms, cells, counts
    }
    leaks = {str(p.relative_to(demo_out)): _strings(p) & ids for p in outputs}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_every_row_is_accounted_for(demo_out):
    manifest = json.loads((demo_out / "synth" / "manifest.json").read_text())
    quality = json.loads((demo_out / "ingest" / "quality.json").read_text())
    delivered = {
        "location": manifest["totals"]["location_events"],
        "roaming": manifest["totals"]["roaming_events"],
        "telemetry": manifest["totals"]["device_readings"],
        "cells": manifest["totals"]["cells"],
        "household_members": manifest["files"]["raw/household_members.csv"],
    }
    for source, rows in delivered.items():
        q = quality[source]
        assert q["rows_in"] == rows, source
        assert q["rows_in"] == q["rows_kept"] + q["rows_quarantined"] + q["duplicates_removed"]
        folder = demo_out / "ingest" / "quarantine" / source
        quarantined = pq.read_table(folder).num_rows if folder.exists() else 0
        assert quarantined == q["rows_quarantined"]
    planted = manifest["messy"]
    location = quality["location"]
    assert location["quarantined_by_reason"]["blank subscriber_id"] == planted["blank_subscriber"]
    assert (
        location["quarantined_by_reason"]["expected a UTC timestamp like 2020-02-01T08:15:42Z"]
        == planted["bad_timestamp"]
    )
    assert location["duplicates_removed"] == planted["duplicate_row"]
    assert quality["cells"]["rows_quarantined"] == planted["bad_cell_coords"]


def _truth(demo_out: Path) -> pd.Series:
    table = pq.read_table(demo_out / "synth" / "truth" / "epidemic.parquet").to_pandas()
    return table.groupby("date")["new_infections"].sum()


def test_calibration_sees_the_measure_and_the_infections(demo_out):
    """The calibration knew the measure's date, not its effect: it finds transmission cut,
    and the projected infections to date bracket the synthetic truth."""
    posterior = pq.read_table(demo_out / "model" / "calibration" / "posterior.parquet")
    change = np.asarray(posterior["change_factor"])
    assert np.median(change) < 0.8  # the truth: 0.35 of before
    assert "change_date = 2020-02-19" in (demo_out / "model" / "calibrate.toml").read_text()
    curves = pq.read_table(demo_out / "model" / "projection" / "curves.parquet").to_pandas()
    base = curves[curves["scenario"] == "baseline"].head(28)
    truth = _truth(demo_out).sum()
    assert 0.7 * base["q0.05"].sum() <= truth <= 1.4 * base["q0.95"].sum()
    summary = pd.read_csv(demo_out / "model" / "projection" / "summary.csv")
    assert summary["scenario"].tolist()[0] == "baseline" and len(summary) == 4


def _visible(html: str) -> str:
    """The text a reader sees: no tags, no style sheet, no map geometry."""
    html = re.sub(r"<style>.*?</style>|<defs>.*?</defs>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_brief_is_small_offline_and_in_both_languages(demo_out):
    from spreadwatch.report.texts import TEXTS

    english = (demo_out / "report.html").read_text(encoding="utf-8")
    korean = (demo_out / "report.ko.html").read_text(encoding="utf-8")
    for page in (english, korean):
        assert len(page.encode()) < 3_000_000
        assert "<script" not in page and not re.search(r"(src|href)=\"?https?://", page)
    for key in ("forecast", "rt", "levels", "scenarios", "proof", "quality", "caveats"):
        assert TEXTS["en"][key] in english and TEXTS["ko"][key] in korean
    seen = _visible(korean)
    leftover = [
        value
        for key, value in TEXTS["en"].items()
        if value != TEXTS["ko"][key] and len(value) > 6 and "{" not in value and value in seen
    ]
    assert not leftover, f"English text in the Korean edition: {leftover}"
    for word in ("nan", "NaN", "inf", "None", "undefined"):
        assert not re.search(rf"\b{word}\b", _visible(english)), word
    quality = json.loads((demo_out / "ingest" / "quality.json").read_text())
    assert f"{quality['location']['rows_in']:,}" in english


def test_brief_numbers_and_map_match_the_data(demo_out):
    """The first card is the last 7 days of reported cases; every region on the risk map has
    its level's colour."""
    from spreadwatch.report.svg import LEVEL_COLOURS

    english = (demo_out / "report.html").read_text(encoding="utf-8")
    cases = pq.read_table(demo_out / "ingest" / "cases").to_pandas()
    daily = cases.groupby("date")["confirmed"].sum().sort_index()
    card = re.search(r"reported cases, last 7 days</span><b>([\d,]+)</b>", english)
    assert card and int(card.group(1).replace(",", "")) == daily.iloc[-7:].sum()
    levels = pq.read_table(demo_out / "risk" / "risk_levels.parquet").to_pandas()
    today = levels[levels["date"] == levels["date"].max()].set_index("region_code")["level"]
    first_map = english[english.index('<div class="map">') :]
    fills = dict(re.findall(r'<use href="#g(\d{5})" fill="(#[0-9a-f]{6})"', first_map)[:229])
    assert {code: fills[code] for code in today.index} == {
        code: LEVEL_COLOURS[int(level)] for code, level in today.items()
    }
    pdf = demo_out / "report.pdf"
    if shutil.which("chromium"):
        assert pdf.read_bytes()[:5] == b"%PDF-"


def test_an_outbreak_without_a_measure_gives_a_brief_without_one(tmp_path):
    """--no-measure: no change is calibrated, the brief has no measure card or marker, and
    it still reads right (no nan, every section)."""
    from spreadwatch.report.texts import TEXTS

    args = ["demo", "--out", str(tmp_path / "d"), "--subscribers", "1500", "--days", "21"]
    args += ["--no-measure", "--projection", "7", "--particles", "40", "--lang", "en"]
    result = CliRunner().invoke(app, [*args, "--key-file", str(tmp_path / "key")])
    assert result.exit_code == 0, result.output
    assert "change_date" not in (tmp_path / "d" / "model" / "calibrate.toml").read_text()
    posterior = pq.read_table(tmp_path / "d" / "model" / "calibration" / "posterior.parquet")
    assert "change_factor" not in posterior.column_names
    html = (tmp_path / "d" / "report.html").read_text(encoding="utf-8")
    assert "transmission since the measure" not in html
    for key in ("forecast", "rt", "scenarios", "proof"):
        assert TEXTS["en"][key] in html
    for word in ("nan", "NaN", "inf", "None"):
        assert not re.search(rf"\b{word}\b", _visible(html)), word
