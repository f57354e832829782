"""``spreadwatch air assess`` end to end on a synthetic world: what a user reads back agrees
with the world's truth, and a store without air data is refused by name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.fusion import running
from spreadwatch.fusion.flows import build_flows
from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate
from spreadwatch.synth.generate import synth_sources

DAYS = 3


@pytest.fixture(scope="module")
def assessed(tmp_path_factory):
    root = tmp_path_factory.mktemp("air")
    generate(SynthConfig(subscribers=6000, days=DAYS, seed=4), root / "world")
    ingest_sources(
        root / "store",
        synth_sources(root / "world" / "raw"),
        KeyRing(bytes(range(32))),
        follow=running.follow,
    )
    build_flows(root / "store", root / "flows")
    args = ["air", "assess", str(root / "store"), "--flows", str(root / "flows")]
    result = CliRunner().invoke(app, [*args, "--out", str(root / "air")])
    assert result.exit_code == 0, result.output
    return root, result.output


def _truth(root: Path, name: str):
    return pq.read_table(root / "world" / "truth" / f"{name}.parquet").to_pandas()


def test_the_field_is_closer_to_the_truth_than_idw(assessed):
    root, output = assessed
    field = pq.read_table(root / "air" / "field.parquet").to_pandas()
    truth = _truth(root, "air")
    assert len(field) == len(truth) == DAYS * 24 * 229
    merged = field.merge(truth, on=["ts", "region_code"], suffixes=("", "_true"))
    kriged = np.sqrt(np.mean((merged["pm25"] - merged["pm25_true"]) ** 2))
    idw = np.sqrt(np.mean((merged["pm25_idw"] - merged["pm25_true"]) ** 2))
    assert kriged < 0.8 * idw
    inside = np.abs(merged["pm25"] - merged["pm25_true"]) <= 1.645 * merged["pm25_sd"]
    assert 0.75 < inside.mean() < 0.99  # nominal 90%
    assert set(field["grade"]) <= {0, 1, 2, 3}
    assert "PM2.5 field" in output and "stations" in output


def test_exposure_reads_like_the_truth(assessed):
    root, _ = assessed
    exposure = pq.read_table(root / "air" / "exposure.parquet").to_pandas()
    census = exposure.groupby("ts")["census"].sum()
    assert np.allclose(exposure.groupby("ts")["people"].sum(), census, rtol=1e-3)
    daily = pq.read_table(root / "air" / "daily.parquet").to_pandas()
    truth = _truth(root, "air_daily")
    merged = daily.merge(truth, on="date", suffixes=("", "_true"))
    assert len(merged) == DAYS - 1  # whole Korean days
    assert np.allclose(merged["pm25_weighted"], merged["pm25_weighted_true"], rtol=0.1)
    # the census at home, breathing outdoor air, overstates what people breathe
    assert (merged["pm25_weighted_static"] > 1.5 * merged["pm25_weighted_true"]).all()
    for column in ("share_above_korea", "share_above_who"):
        assert merged[column].between(0, 1).all()
    summary = json.loads((root / "air" / "air.json").read_text())
    assert summary["presence"] and summary["purifier_readings"] > 0
    assert 0.3 < summary["indoor_ratio"] < 0.7


def test_the_forecast_covers_the_next_day_of_every_district(assessed):
    root, output = assessed
    forecast = pq.read_table(root / "air" / "forecast.parquet").to_pandas()
    assert len(forecast) == 24 * 229 and forecast["horizon"].between(1, 24).all()
    assert (forecast["q0.05"] <= forecast["median"]).all()
    assert (forecast["median"] <= forecast["q0.95"]).all()
    assert "next 24 h" in output


def test_outputs_carry_no_household_or_device_ids_or_pseudonyms(assessed):
    root, _ = assessed
    telemetry = pq.read_table(root / "store" / "telemetry")
    hidden = set(telemetry["household_pseudo"].to_pylist()) | set(
        telemetry["device_pseudo"].to_pylist()
    )
    homes = pq.read_table(root / "world" / "truth" / "households.parquet")
    hidden |= set(homes["household_id"].to_pylist())
    assert len(hidden) > 100
    for path in (root / "air").glob("*.parquet"):
        table = pq.read_table(path)
        for name in table.column_names:
            if pa.types.is_string(table.schema.field(name).type):
                assert not hidden & set(table[name].to_pylist()), (path.name, name)
    text = (root / "air" / "air.json").read_text()
    assert not any(value in text for value in hidden)


def test_a_store_without_air_data_is_refused(tmp_path, assessed):
    root, _ = assessed
    ingest_sources(tmp_path / "empty", {"cases": [root / "world" / "raw" / "cases.csv"]},
                   KeyRing(bytes(range(32))))  # fmt: skip
    result = CliRunner().invoke(app, ["air", "assess", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "no air stations or readings" in result.output
    result = CliRunner().invoke(app, ["air", "assess", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not an ingest store" in result.output


def test_status_lists_the_grades_and_the_dustiest_districts(assessed):
    root, _ = assessed
    field = pq.read_table(root / "air" / "field.parquet").to_pandas()
    latest = field[field["ts"] == field["ts"].max()].sort_values("pm25", ascending=False)
    result = CliRunner().invoke(app, ["air", "status", str(root / "air"), "--top", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    counts = [int(n) for n in re.findall(r"(?:good|moderate|bad) (\d+)", lines[0])]
    assert sum(counts) == 229
    first = latest.iloc[0]
    assert (
        lines[1].startswith(f"  {first['region_code']} ")
        and f"{first['pm25']:.0f} ug/m3" in lines[1]
    )
    code = str(first["region_code"])
    ahead = CliRunner().invoke(app, ["air", "status", str(root / "air"), "--region", code])
    assert (
        ahead.exit_code == 0 and sum("median" in line for line in ahead.output.splitlines()) == 24
    )
    wrong = CliRunner().invoke(app, ["air", "status", str(root / "air"), "--region", "99999"])
    assert wrong.exit_code == 2 and "not a si-gun-gu code" in wrong.output


def test_a_day_of_data_gives_a_field_and_says_what_it_cannot_give(tmp_path):
    generate(SynthConfig(subscribers=1500, days=1, seed=5), tmp_path / "world")
    raw = synth_sources(tmp_path / "world" / "raw", ["air_stations", "air_readings"])
    ingest_sources(tmp_path / "store", raw, KeyRing(bytes(range(32))))
    (tmp_path / "air").mkdir()
    (tmp_path / "air" / "forecast.parquet").write_text("a previous run's")
    args = ["air", "assess", str(tmp_path / "store"), "--out", str(tmp_path / "air")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "no whole Korean day" in result.output and "no forecast: it needs 49 hours" in result.output
    )
    assert pq.read_table(tmp_path / "air" / "field.parquet").num_rows == 24 * 229
    assert pq.read_table(tmp_path / "air" / "daily.parquet").num_rows == 0
    assert not (tmp_path / "air" / "forecast.parquet").exists()  # not this run's: gone
    summary = json.loads((tmp_path / "air" / "air.json").read_text())
    assert summary["share_above"] == {} and summary["forecast_origin"] == ""
