"""Fill numba's cache of the compiled kernels once: ``python -m spreadwatch.warmup``.

``make env`` runs it after building the environment, so a user's first simulation,
calibration or scenario run loads the kernels instead of compiling them (tens of seconds on a
2-core machine). It runs a few days of Korea's 229 si-gun-gu with each engine, with and
without age structure, and the calibration's likelihood on two parameter sets.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

BASE = {
    "run": {"start_date": "2020-02-18", "days": 3},
    "disease": {"r0": 2.5, "latent_days": 4.0, "infectious_days": 5.0},
    "regions": {"source": "korea-sigungu"},
    "mobility": {"kind": "gravity", "away_fraction": 0.1, "distance_exponent": 2.0},
    "seed": [{"region": "22040", "infected": 30}],
}
AGE = {"contacts": "prem2021", "country": "South_Korea"}


def configs() -> list[dict]:
    """The run configs whose kernels a user may need: each engine, with and without ages."""
    stochastic = {**BASE["run"], "engine": "stochastic", "particles": 2, "steps_per_day": 2}
    return [
        BASE,
        {**BASE, "run": stochastic},
        {**BASE, "run": stochastic, "age": AGE},
        {**BASE, "age": AGE},
    ]


def main() -> int:
    os.environ.setdefault("SPREADWATCH_QUIET", "1")
    from spreadwatch.infer.calibrate import DEFAULT_PRIORS, CalibrationProblem
    from spreadwatch.model.config import config_from_mapping
    from spreadwatch.model.run import build_scenario, simulate

    for data in configs():
        simulate(config_from_mapping(data, Path.cwd(), "warmup"))
    scenario = build_scenario(config_from_mapping(BASE, Path.cwd(), "warmup"))
    days, regions = BASE["run"]["days"], scenario.model.regions
    problem = CalibrationProblem(
        scenario, np.zeros((days, regions)), np.ones((days, regions), bool), DEFAULT_PRIORS
    )
    rng = np.random.default_rng(0)
    problem.log_likelihood({name: prior.sample(rng, 2) for name, prior in DEFAULT_PRIORS.items()})
    print(f"numba kernels cached in {os.environ.get('NUMBA_CACHE_DIR')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
