"""The command line: each command on small inputs, and its errors for bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def invoke(*args: str, code: int = 0, stdout_only: bool = False) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.stdout if stdout_only else result.output


def test_help_lists_every_command():
    text = invoke("--help")
    for command in ("regions", "synth", "ingest", "flows", "simulate", "demo"):
        assert command in text


def test_regions_csv_and_geojson(tmp_path):
    rows = list(csv.DictReader(io.StringIO(invoke("regions", "--level", "sido", stdout_only=True))))
    assert len(rows) == 17
    assert sum(int(r["population"]) for r in rows) == 51_829_120
    out = tmp_path / "sigungu.geojson"
    invoke("regions", "--format", "geojson", "--out", str(out))
    features = json.loads(out.read_text())["features"]
    assert len(features) == 229
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)


def test_synth_ingest_flows_simulate_chain(tmp_path):
    synth = tmp_path / "synth"
    invoke("synth", "--out", str(synth), "--subscribers", "800", "--days", "3", "--seed", "4")
    manifest = json.loads((synth / "manifest.json").read_text())
    assert manifest["config"]["subscribers"] == 800
    key = tmp_path / "key"
    text = invoke(
        "ingest", "location", str(synth / "raw" / "location_events"),
        "--cells", str(synth / "raw" / "cells.csv"), "--out", str(tmp_path / "ingest"),
        "--key-file", str(key),
    )  # fmt: skip
    assert f"rows in {manifest['totals']['location_events']:,}" in text
    invoke(
        "ingest", "roaming", str(synth / "raw" / "roaming_*.csv"),
        "--out", str(tmp_path / "ingest"), "--key-file", str(key),
    )  # fmt: skip
    quality = json.loads((tmp_path / "ingest" / "quality.json").read_text())
    assert quality["roaming"]["rows_in"] == manifest["totals"]["roaming_events"]
    invoke(
        "flows",
        str(tmp_path / "ingest" / "location" / "*.parquet"),
        "--out",
        str(tmp_path / "flows"),
    )
    commuting = pq.read_table(tmp_path / "flows" / "commuting.parquet")
    assert commuting.column_names == ["date", "home_region", "day_region", "people", "suppressed"]
    invoke("simulate", str(EXAMPLES / "three-countries.toml"), "--out", str(tmp_path / "model"))
    states = pq.read_table(tmp_path / "model" / "states.parquet")
    assert set(states["region_code"].to_pylist()) == {"XAN", "XBL", "XCR"}


def test_synth_events_knob_sets_the_scale(tmp_path):
    invoke("synth", "--out", str(tmp_path), "--events", "30000", "--days", "2")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["totals"]["location_events"] == pytest.approx(30_000, rel=0.1)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("subscribers = -5\n", "subscribers: expected an integer >= 1"),
        ('colour = "red"\n', "colour: unknown key"),
        ("[epidemic]\nr0 = -1\n", "epidemic.r0"),
        ("days = [\n", "not valid TOML"),
        ('[epidemic]\nseed_region = "99999"\n', "epidemic.seed_region: '99999' is not a si-gun-gu"),
    ],
)
def test_synth_config_errors_name_the_file_and_field(tmp_path, config, message):
    path = tmp_path / "synth.toml"
    path.write_text(config)
    text = invoke("synth", "--config", str(path), "--out", str(tmp_path / "o"), code=2)
    assert str(path) in text.replace("\n", "")
    assert message in text


def test_simulate_reports_config_errors(tmp_path):
    bad = tmp_path / "run.toml"
    bad.write_text('[run]\nstart_date = 2020-01-01\ndays = 10\n[disease]\nr0 = "high"\n')
    text = invoke("simulate", str(bad), "--out", str(tmp_path), code=2)
    assert "disease.r0" in text


def test_flows_and_ingest_refuse_missing_files(tmp_path):
    assert "no such file" in invoke("flows", str(tmp_path / "none.parquet"), code=2)
    text = invoke(
        "ingest", "location", str(tmp_path / "nothing"), "--cells", str(tmp_path / "c.csv"),
        "--key-file", str(tmp_path / "k"), "--out", str(tmp_path / "store"), code=2,
    )  # fmt: skip
    assert "c.csv" in text
    (tmp_path / "day.csv").write_text("carrier,subscriber_id,ts,cell_id\n")
    text = invoke(
        "ingest", "location", str(tmp_path / "day.csv"), "--out", str(tmp_path / "store"),
        "--key-file", str(tmp_path / "k"), code=2,
    )  # fmt: skip
    assert "ingest the cells file first" in text


def test_command_outputs_replace_the_old_file_whole_or_not_at_all(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spreadwatch.commands import write_table

    out = tmp_path / "levels.parquet"
    write_table(pa.table({"level": [1]}), out)
    write_table(pa.table({"level": [2]}), out)
    assert pq.read_table(out)["level"].to_pylist() == [2]

    def half_written(table, where):
        where.write_bytes(b"PAR1 and then the disk filled")
        raise OSError("no space left on device")

    monkeypatch.setattr(pq, "write_table", half_written)
    with pytest.raises(OSError):
        write_table(pa.table({"level": [3]}), out)
    assert pq.read_table(out)["level"].to_pylist() == [2]  # a reader still sees the old file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["levels.parquet"]


def test_help_renders_markup_and_reflows_paragraphs():
    """``[[scenario]]`` shows as written; a docstring's paragraph is one flowing text, not
    its source lines; --version answers."""
    runner = CliRunner()
    scenarios = runner.invoke(app, ["scenarios", "--help"], terminal_width=100).output
    assert "each [[scenario]]:" in scenarios and "[]" not in scenarios
    release = runner.invoke(app, ["release", "--help"], terminal_width=100).output
    assert "presence cells per KST date" in " ".join(release.split())
    assert "presence cells\n" not in release
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("spreadwatch ")
