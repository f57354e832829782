"""Run config loading: valid files parse, and every kind of mistake names the file and the field."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from spreadwatch.model import ConfigError, load_config

REGIONS_CSV = "code,name,population\nAAA,Alpha,1000\nBBB,Beta,2500\nCCC,Gamma,400\n"

BASE = """\
[run]
start_date = 2024-01-01
days = 30

[disease]
r0 = 2.0
latent_days = 3
infectious_days = 5

[regions]
csv = "data/regions.csv"

[[seed]]
region = "AAA"
infected = 10
"""


def write(folder: Path, text: str, name: str = "run.toml", csv: str = REGIONS_CSV) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "regions.csv").write_text(csv)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_valid_config_with_defaults(tmp_path, monkeypatch):
    path = write(tmp_path, BASE)
    monkeypatch.chdir("/")  # relative paths resolve against the config's folder, not the cwd
    config = load_config(path)
    assert config.run.start_date == dt.date(2024, 1, 1)
    assert config.run.steps == 8 and config.run.steps_per_day is None
    assert config.disease.transmission_rate == pytest.approx(0.4)
    assert config.regions.csv == (tmp_path / "data" / "regions.csv").resolve()
    assert config.mobility.kind == "none"
    assert config.seed[0].region == "AAA" and config.seed_day(config.seed[0]) == 0
    assert config.output_compartments == ["S", "E", "I", "R", "incidence"]


def test_yaml_and_toml_give_the_same_config(tmp_path):
    toml = load_config(write(tmp_path, BASE))
    yaml_text = """\
    run: {start_date: 2024-01-01, days: 30}
    disease: {r0: 2.0, latent_days: 3, infectious_days: 5}
    regions: {csv: data/regions.csv}
    seed:
      - {region: AAA, infected: 10}
    """
    assert load_config(write(tmp_path, yaml_text, "run.yaml")) == toml


def test_negative_r0_names_file_field_and_expectation(tmp_path):
    path = write(tmp_path, BASE.replace("r0 = 2.0", "r0 = -1"))
    assert error_of(path) == f"{path}: disease.r0: expected a number > 0, got -1"


def test_unknown_key_is_an_error_listing_the_known_ones(tmp_path):
    message = error_of(write(tmp_path, BASE.replace("r0 = 2.0", "r0 = 2.0\nr00 = 3")))
    assert "disease.r00: unknown key" in message
    assert "latent_days" in message
    message = error_of(write(tmp_path, BASE + "\n[modle]\nx = 1\n"))
    assert "modle: unknown key" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("days = 30", "days = 0", "run.days: expected an integer > 0, got 0"),
        ("days = 30", "days = 2.5", "run.days: expected an integer, got 2.5"),
        ("days = 30", 'days = "30"', "run.days: expected an integer, got '30'"),
        ("start_date = 2024-01-01", "start_date = 5", "run.start_date: expected a date"),
        ("latent_days = 3", 'latent_days = "x"', "disease.latent_days: expected a number"),
        ("latent_days = 3\n", "", "disease.latent_days: missing required key"),
        ("r0 = 2.0", "beta = 0.4\nr0 = 2.0", "disease.r0: give exactly one of r0 and beta"),
        ("r0 = 2.0", "", "disease.r0: give exactly one of r0 and beta"),
        ("r0 = 2.0", "r0 = nan", "disease.r0: expected a finite number"),
        ("infected = 10", "infected = 0", "seed[0].infected: expected an integer > 0, got 0"),
        ('region = "AAA"', 'region = "ZZZ"', "seed[0].region: unknown region 'ZZZ'"),
        ("infected = 10", "infected = 1001", "seed[0].infected: expected at most the population"),
        ("infected = 10", "infected = 1\ndate = 2024-03-01", "seed[0].date: expected a date from"),
        ('csv = "data/regions.csv"', 'csv = "nope.csv"', "regions.csv: file or folder not found"),
        (
            'csv = "data/regions.csv"',
            'csv = "data/regions.csv"\nsource = "korea-sigungu"',
            "regions.csv: give either source or csv, not both",
        ),
    ],
)
def test_field_errors(tmp_path, old, new, expected):
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new))
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_unknown_seed_region_suggests_a_close_code(tmp_path):
    message = error_of(write(tmp_path, BASE.replace('region = "AAA"', 'region = "AAB"')))
    assert "seed[0].region: unknown region 'AAB'" in message
    assert "AAA (Alpha)" in message


@pytest.mark.parametrize(
    ("mobility", "expected"),
    [
        ('kind = "od"', "mobility.od_flows: missing required key"),
        (
            'kind = "teleport"',
            "mobility.kind: expected one of 'none', 'commuting', 'od', 'gravity', got 'teleport'",
        ),
        (
            "away_fraction = 0.2",
            "mobility.away_fraction: unknown key for kind = 'none' (used with kind = 'gravity')",
        ),
        ('kind = "gravity"\naway_fraction = 1.5', "mobility.away_fraction: expected a number <= 1"),
        ('kind = "gravity"', "mobility.kind: 'gravity' needs region coordinates"),
        (
            'kind = "od"\nod_flows = "od"\npresence = "p.parquet"',
            "mobility.od_flows: file or folder not found",
        ),
    ],
)
def test_mobility_errors(tmp_path, mobility, expected):
    message = error_of(write(tmp_path, BASE + f"\n[mobility]\n{mobility}\n"))
    assert expected in message


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("code,population\nAAA,10\nBBB,20\nAAA,30\n", "row 3, column code: duplicate code 'AAA'"),
        ("code,population\nAAA,10\nBBB,abc\n", "row 2, column population: expected a positive"),
        ("code,population\nAAA,-5\n", "row 1, column population: expected a positive integer"),
        ("code,population\nAAA,10\nBBB,1.5\n", "row 2, column population"),
        ("code,population\nAAA,0\n", "row 1, column population"),
        ("code,population\nAAA,10\n,5\n", "row 2, column code: expected a non-empty code"),
        ("code,population,lat,lon\nAAA,10,91,0\n", "row 1, column lat"),
        ("code,population,lat\nAAA,10,1\n", "give both lat and lon"),
        ("code,pop\nAAA,10\n", "unknown column 'pop'"),
        ("code,name\nAAA,x\n", "missing column 'population'"),
    ],
)
def test_csv_region_errors_name_row_and_column(tmp_path, csv, expected):
    path = write(tmp_path, BASE.replace('region = "AAA"', 'region = "AAA"'), csv=csv)
    message = error_of(path)
    assert message.startswith(f"{path}: regions.csv: ")
    assert "regions.csv" in message.split(": regions.csv: ", 1)[1]  # the CSV file is named too
    assert expected in message


def test_unreadable_files(tmp_path):
    assert "not valid TOML" in error_of(write(tmp_path, "[run\n"))
    assert "expected a .toml" in error_of(write(tmp_path, BASE, "run.ini"))
    assert "cannot read" in error_of(tmp_path / "missing.toml")
