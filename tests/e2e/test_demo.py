"""The demo end to end on a small synthetic Korea: report, row accounting, and no raw IDs."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
    args = ["demo", "--out", str(out), "--subscribers", "3000", "--days", "7", "--horizon", "40"]
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
        "states.parquet",
        "report.html",
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


def test_model_conserves_population_and_follows_seeds(demo_out):
    states = pq.read_table(demo_out / "model" / "states.parquet").to_pandas()
    people = states[states["compartment"].isin(["S", "E", "I", "R"])]
    totals = people.groupby("date")["value"].sum()
    assert totals.max() - totals.min() < 1e-6 * totals.iloc[0]
    config = (demo_out / "model" / "run.toml").read_text()
    seeded = set(re.findall(r'region = "(\d{5})"', config))
    assert seeded
    incidence = states[states["compartment"] == "incidence"].pivot_table(
        index="date", columns="region_code", values="value"
    )
    first_day = incidence.iloc[0]
    assert first_day.idxmax() in seeded  # the epidemic starts where it was seeded


def _plotted_traces(html: str) -> list[dict]:
    """The data arrays of every ``Plotly.newPlot(id, data, layout)`` call in the page."""
    decoder = json.JSONDecoder()
    traces = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', html):
        data, _ = decoder.raw_decode(html, match.end())
        traces += data
    return traces


def test_report_is_one_offline_file_with_every_section(demo_out):
    html = (demo_out / "report.html").read_text(encoding="utf-8")
    for title in (
        "Epidemic by si-gun-gu",
        "Attack rate by si-gun-gu",
        "Main origin-destination flows",
        "Data quality",
        "Model and reported cases",
    ):
        assert title in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"?https?://", html)
    # map traces that fetch tiles or topojson from the network, or need WebGL, are not used
    used = {trace.get("type", "scatter") for trace in _plotted_traces(html)}
    assert "scatter" in used
    assert not used & {"choropleth", "scattergeo", "choroplethmap", "scattermap"}
    quality = json.loads((demo_out / "ingest" / "quality.json").read_text())
    assert f"{quality['location']['rows_in']:,}" in html
