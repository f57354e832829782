"""``spreadwatch calibrate``: a run config and reported cases in, posterior and report out.

Writes into the output folder::

    posterior.parquet    equally weighted draws, one column per parameter, and log_likelihood
    summary.csv          per parameter: prior, posterior mean and 5%, 50%, 95% quantiles
    predictive.parquet   reported cases per date and region (and 'total'): observed, and the
                         posterior predictive mean and quantiles

(The command adds ``calibration.html``, :mod:`spreadwatch.report.calibration`'s report of them.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.infer.calibrate import (
    DEFAULT_PRIORS,
    PARAMETERS,
    CalibrationProblem,
    Posterior,
    Prior,
    align_cases,
    calibrate,
    posterior_predictive,
)
from spreadwatch.infer.cases import read_cases
from spreadwatch.model.config import CHANGE_PARAMETER, RunConfig, load_config
from spreadwatch.model.errors import ConfigError
from spreadwatch.model.run import Scenario, build_scenario

POSTERIOR_FILE = "posterior.parquet"
PREDICTIVE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def priors_of(config: RunConfig) -> tuple[dict[str, Prior], dict[str, float]]:
    """Priors of the fitted parameters (config's, else the defaults) and the fixed values."""
    section = config.calibration
    priors = {}
    for name in PARAMETERS:
        if name in section.fixed or (name == CHANGE_PARAMETER and section.change_date is None):
            continue
        entry = section.priors.get(name)
        priors[name] = (
            Prior(entry.low, entry.high, entry.scale == "log")
            if entry is not None
            else DEFAULT_PRIORS[name]
        )
    return priors, dict(section.fixed)


def problem_from(config: RunConfig, cases: Path, label: str = "config") -> CalibrationProblem:
    """The calibration problem of a config and a cases file (errors name the file)."""
    scenario = build_scenario(config, label)
    series = read_cases(cases)
    series.require_daily(cases, "calibration")
    try:
        observed, mask = align_cases(series, scenario)
    except ValueError as exc:
        raise ConfigError(f"{cases}: {exc}") from None
    priors, fixed = priors_of(config)
    return CalibrationProblem(scenario, observed, mask, priors, fixed)


@dataclass(frozen=True)
class CalibrationResult:
    problem: CalibrationProblem
    posterior: Posterior
    summary: pd.DataFrame
    predictive: pd.DataFrame
    out_dir: Path


def run_calibration(
    config_path: Path,
    cases: Path,
    out_dir: Path,
    particles: int | None = None,
    seed: int = 0,
) -> CalibrationResult:
    """Calibrate ``config_path`` to ``cases`` and write the outputs (module docstring)."""
    config = load_config(config_path)
    problem = problem_from(config, cases, str(config_path))
    posterior = calibrate(problem, particles or config.calibration.particles, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    draws = {**posterior.draws, "log_likelihood": posterior.log_likelihood}
    table = pa.table({k: pa.array(np.asarray(v), pa.float64()) for k, v in draws.items()})
    meta = {"config": str(Path(config_path).resolve()), "cases": str(Path(cases).resolve())}
    pq.write_table(
        table.replace_schema_metadata({"spreadwatch.calibration": json.dumps(meta)}),
        out_dir / POSTERIOR_FILE,
    )
    summary = summarise(problem, posterior)
    summary.to_csv(out_dir / "summary.csv", index=False)
    predictive = predictive_table(problem, posterior, seed)
    pq.write_table(
        pa.Table.from_pandas(predictive, preserve_index=False), out_dir / "predictive.parquet"
    )
    return CalibrationResult(problem, posterior, summary, predictive, out_dir)


def summarise(problem: CalibrationProblem, posterior: Posterior) -> pd.DataFrame:
    rows = []
    for name, prior in problem.priors.items():
        values = posterior.draws[name]
        q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
        rows.append(
            {
                "parameter": name,
                "prior": f"{'log-' if prior.log else ''}uniform [{prior.low:g}, {prior.high:g}]",
                "mean": float(values.mean()),
                "q0.05": q05,
                "q0.5": q50,
                "q0.95": q95,
            }
        )
    for name, value in problem.fixed.items():
        rows.append(
            {
                "parameter": name,
                "prior": "fixed",
                "mean": value,
                "q0.05": value,
                "q0.5": value,
                "q0.95": value,
            }
        )
    return pd.DataFrame(rows)


def predictive_table(problem: CalibrationProblem, posterior: Posterior, seed: int) -> pd.DataFrame:
    """Observed and simulated reported cases per date and region, and in total."""
    simulated = posterior_predictive(problem, posterior, seed=seed)  # (draws, days, regions)
    scenario: Scenario = problem.scenario
    codes = list(scenario.regions.codes)
    observed_regions = problem.mask.any(axis=0)
    simulated = simulated[:, :, observed_regions]
    observed = np.where(problem.mask, problem.observed, np.nan)[:, observed_regions]
    codes = [c for c, keep in zip(codes, observed_regions, strict=True) if keep]
    total_mask = problem.mask[:, observed_regions].all(axis=1)
    simulated = np.concatenate([simulated, simulated.sum(axis=2, keepdims=True)], axis=2)
    total = np.where(total_mask, np.nansum(observed, axis=1), np.nan)
    observed = np.column_stack([observed, total])
    codes.append("total")
    days = simulated.shape[1]
    dates = [scenario.config.run.date(d) for d in range(days)]
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates, len(codes)),
            "region_code": np.tile(codes, days),
            "observed": observed.reshape(-1),
            "mean": simulated.mean(axis=0).reshape(-1),
        }
    )
    for level in PREDICTIVE_LEVELS:
        frame[f"q{level:g}"] = np.quantile(simulated, level, axis=0).reshape(-1)
    return frame
