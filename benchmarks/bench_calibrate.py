"""Calibration of Korea's 229 si-gun-gu over 90 days of daily regional cases.

``calibrate_seconds_229_regions_90_days``: wall time of ``spreadwatch.infer.calibrate`` (default
300 particles, all five parameters free) on synthetic reports drawn from the model itself with
known parameters (gravity mobility, seeded in Nam-gu, Daegu). The true parameters and their 90%
credible intervals are printed.
"""

from __future__ import annotations

import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from spreadwatch.infer.calibrate import DEFAULT_PRIORS, CalibrationProblem, calibrate, reported_mean
from spreadwatch.model import load_config
from spreadwatch.model.run import build_scenario

CONFIG = """
[run]
start_date = 2020-02-01
days = 90

[disease]
r0 = 2.0
latent_days = 4
infectious_days = 5

[mobility]
kind = "gravity"
away_fraction = 0.1

[[seed]]
region = "22040"
infected = 20
"""
TRUTH = {
    "r0": 2.2,
    "seed_scale": 1.5,
    "reporting_fraction": 0.4,
    "reporting_delay": 6.0,
    "dispersion": 30.0,
}


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.toml"
        path.write_text(textwrap.dedent(CONFIG))
        scenario = build_scenario(load_config(path))
    days, regions = 90, scenario.model.regions
    truth = {k: np.array([v]) for k, v in TRUTH.items()}
    template = CalibrationProblem(
        scenario, np.zeros((days, regions)), np.ones((days, regions), bool), DEFAULT_PRIORS
    )
    mean = reported_mean(
        template.incidence(truth), truth["reporting_fraction"], truth["reporting_delay"]
    )[0]
    rng = np.random.default_rng(1)
    observed = rng.negative_binomial(30.0, 30.0 / (30.0 + mean)).astype(float)
    problem = CalibrationProblem(scenario, observed, np.ones_like(observed, bool), DEFAULT_PRIORS)
    calibrate(
        CalibrationProblem(scenario, observed[:5], np.ones((5, regions), bool), DEFAULT_PRIORS),
        particles=20,
    )  # fmt: skip  (compile)
    start = time.perf_counter()
    posterior = calibrate(problem)
    seconds = time.perf_counter() - start
    for name, value in TRUTH.items():
        low, high = posterior.interval(name)
        print(f"   {name}: true {value:g}, 90% interval [{low:.3g}, {high:.3g}]")
    print(f"   {int(observed.sum()):,} reported cases, {len(posterior.temperatures) - 1} steps")
    return {"calibrate_seconds_229_regions_90_days": round(seconds, 1)}
