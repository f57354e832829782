"""Scenario comparison: paired particles, posterior draws, the command and its errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.model import ConfigError, load_config
from spreadwatch.model.scenarios import BASELINE, compare, posterior_draws

REGIONS = "code,population,lat,lon\nAAA,300000,37.5,127.0\nBBB,200000,35.1,129.0\n"
BASE = """
[run]
start_date = 2024-01-01
days = 150
engine = "stochastic"
particles = 30
random_seed = 4

[disease]
r0 = 2.0
latent_days = 3
infectious_days = 4

[regions]
csv = "regions.csv"

[mobility]
kind = "gravity"
away_fraction = 0.05

[[seed]]
region = "AAA"
infected = 20
"""


def _config(folder: Path, scenarios: str) -> Path:
    (folder / "regions.csv").write_text(REGIONS)
    path = folder / "run.toml"
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(scenarios))
    return path


SCENARIOS = """
[[scenario]]
name = "nothing changes"
[[scenario.intervention]]
kind = "contacts"
settings = ["all"]
start = 2024-01-10
reduction = 0.0

[[scenario]]
name = "nobody travels"
[[scenario.intervention]]
kind = "mobility"
regions = ["AAA", "BBB"]
start = 2024-01-01
reduction = 1.0

[[scenario]]
name = "contacts halved from day 20"
[[scenario.intervention]]
kind = "contacts"
settings = ["all"]
start = 2024-01-21
reduction = 0.5
"""


def test_paired_particles_make_a_null_scenario_avert_exactly_nothing(tmp_path):
    comparison = compare(load_config(_config(tmp_path, SCENARIOS)), particles=30)
    assert comparison.names == [BASELINE, *[
        "nothing changes", "nobody travels", "contacts halved from day 20"
    ]]  # fmt: skip
    np.testing.assert_array_equal(comparison.daily["nothing changes"], comparison.daily[BASELINE])
    closed = comparison.by_region["nobody travels"]
    assert (closed[:, 1] == 0).all()  # Beta is never reached
    summary = comparison.summary().set_index("scenario")
    assert summary.loc["nothing changes", "averted"] == 0
    halved = summary.loc["contacts halved from day 20"]
    assert halved["averted_share"] > 0.5 and halved["peak_shift_days"] != 0
    rates = comparison.attack_rates()
    assert ((rates["attack_rate"] >= 0) & (rates["attack_rate"] <= 1)).all()


def test_particles_take_posterior_draws(tmp_path):
    posterior = tmp_path / "posterior.parquet"
    pq.write_table(
        pa.table({"r0": [0.6] * 10, "seed_scale": [1.0] * 10, "reporting_fraction": [0.3] * 10}),
        posterior,
    )
    draws = posterior_draws(posterior, 25, seed=1)
    assert set(draws) == {"r0", "seed_scale"} and len(draws["r0"]) == 25
    comparison = compare(load_config(_config(tmp_path, SCENARIOS)), draws)
    infections = comparison.daily[BASELINE].sum(axis=1)
    assert infections.max() < 300  # subcritical: a few chains from 20 seeds, no epidemic


def test_scenarios_command_writes_tables_and_report(tmp_path):
    config = _config(tmp_path, SCENARIOS)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["scenarios", str(config), "--out", str(out), "--particles", "20"]
    )
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["scenario"]) == [BASELINE, "nothing changes", "nobody travels",
                                         "contacts halved from day 20"]  # fmt: skip
    curves = pq.read_table(out / "curves.parquet").to_pandas()
    assert len(curves) == 4 * 150
    assert (curves["q0.05"] <= curves["q0.5"]).all() and (curves["q0.5"] <= curves["q0.95"]).all()
    assert (out / "scenarios.html").stat().st_size > 100_000


@pytest.mark.parametrize(
    ("scenarios", "message"),
    [
        ("", "scenario: no [[scenario]] to compare"),
        (
            '[[scenario]]\nname = "x"\n[[scenario.intervention]]\nkind = "mobility"\n'
            'regions = ["ZZZ"]\nstart = 2024-01-02\nreduction = 0.5\n',
            "scenario[0].intervention[0].regions[0]: unknown region 'ZZZ'",
        ),
        (
            '[[scenario]]\nname = "x"\n[[scenario]]\nname = "x"\n',
            "scenario[1].name: another scenario is named 'x'",
        ),
    ],
)
def test_scenario_mistakes_name_the_field(tmp_path, scenarios, message):
    with pytest.raises(ConfigError) as info:
        compare(load_config(_config(tmp_path, scenarios)))
    assert message in str(info.value)
