"""Calibration to cases: the likelihood against scipy, the sampler's coverage of true
parameters drawn from the prior, and the command's outputs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.infer.calibrate import (
    DEFAULT_PRIORS,
    CalibrationProblem,
    Prior,
    align_cases,
    calibrate,
    delay_weights,
    reported_mean,
)
from spreadwatch.infer.cases import read_cases
from spreadwatch.model import load_config
from spreadwatch.model.run import build_scenario

#: The parameters every config can fit (``change_factor`` needs a change date).
PRIORS = {name: prior for name, prior in DEFAULT_PRIORS.items() if name != "change_factor"}


def _write_config(folder: Path, regions: int, days: int, seed: int = 0, extra: str = "") -> Path:
    rng = np.random.default_rng(seed)
    population = rng.integers(50_000, 1_000_000, regions)
    lines = [
        f"R{i:03d},{p},{rng.uniform(34, 38):.3f},{rng.uniform(126, 129):.3f}"
        for i, p in enumerate(population)
    ]
    (folder / "regions.csv").write_text("code,population,lat,lon\n" + "\n".join(lines) + "\n")
    path = folder / "run.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [run]
            start_date = 2020-02-01
            days = {days}

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
            region = "R000"
            infected = 20
            """
        )
        + textwrap.dedent(extra)
    )
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return build_scenario(load_config(_write_config(tmp_path_factory.mktemp("cal"), 5, 50)))


def _synthetic_reports(problem_scenario, truth: dict[str, np.ndarray], rng) -> np.ndarray:
    days, regions = problem_scenario.config.run.days, problem_scenario.model.regions
    problem = CalibrationProblem(
        problem_scenario, np.zeros((days, regions)), np.ones((days, regions), bool), PRIORS
    )
    mean = reported_mean(
        problem.incidence(truth), truth["reporting_fraction"], truth["reporting_delay"]
    )[0]
    size = truth["dispersion"][0]
    return rng.negative_binomial(size, size / (size + mean)).astype(float)


def test_likelihood_is_the_negative_binomial_of_delayed_thinned_incidence(scenario):
    rng = np.random.default_rng(1)
    days, regions = 50, 5
    observed = rng.poisson(20, (days, regions)).astype(float)
    mask = rng.uniform(size=(days, regions)) < 0.7
    problem = CalibrationProblem(scenario, observed, mask, DEFAULT_PRIORS)
    theta = {name: prior.sample(rng, 7) for name, prior in DEFAULT_PRIORS.items()}
    ours = problem.log_likelihood(theta)
    incidence = problem.incidence(theta)
    for p in range(7):
        weights = delay_weights(theta["reporting_delay"][p : p + 1])[0]
        mean = np.zeros((days, regions))
        for t in range(days):  # the convolution by brute force
            for d in range(min(len(weights), t + 1)):
                mean[t] += weights[d] * incidence[p, t - d]
        mean = np.maximum(mean * theta["reporting_fraction"][p], 1e-10)
        size = theta["dispersion"][p]
        expected = stats.nbinom.logpmf(observed, size, size / (size + mean))[mask].sum()
        assert ours[p] == pytest.approx(expected, rel=1e-9)


def test_delay_weights_are_a_discretised_gamma():
    weights = delay_weights(np.array([2.0, 7.0]))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    means = (weights * np.arange(weights.shape[1])).sum(axis=1)
    np.testing.assert_allclose(means, [2.0, 7.0], atol=0.1)


def test_prior_transforms_round_trip():
    rng = np.random.default_rng(0)
    for prior in (Prior(0.5, 3.0), Prior(0.1, 10.0, log=True)):
        x = prior.sample(rng, 1000)
        assert (x >= prior.low).all() and (x <= prior.high).all()
        np.testing.assert_allclose(prior.from_free(prior.to_free(x)), x, rtol=1e-9)
    with pytest.raises(ValueError):
        Prior(2.0, 1.0)


def _coverage(scenario, trials: int, particles: int) -> float:
    covered = total = 0
    for trial in range(trials):
        rng = np.random.default_rng(100 + trial)
        truth = {name: prior.sample(rng, 1) for name, prior in PRIORS.items()}
        observed = _synthetic_reports(scenario, truth, rng)
        problem = CalibrationProblem(scenario, observed, np.ones_like(observed, bool), PRIORS)
        posterior = calibrate(problem, particles=particles, seed=trial)
        for name in PRIORS:
            low, high = posterior.interval(name, 0.9)
            covered += low <= truth[name][0] <= high
            total += 1
    return covered / total


def test_credible_intervals_cover_true_parameters(scenario):
    """Truth drawn from the prior: exact 90% intervals cover it 90% of the time."""
    assert 0.75 <= _coverage(scenario, trials=4, particles=200) <= 1.0


@pytest.mark.slow
def test_credible_intervals_cover_at_the_nominal_rate(scenario):
    assert 0.82 <= _coverage(scenario, trials=20, particles=300) <= 0.98


def test_a_change_in_transmission_is_recovered(tmp_path):
    """A measure from day 20 cuts transmission to 0.4 of before: the posterior of
    ``change_factor`` covers 0.4 and is narrow, and r0 is still recovered."""
    config = _write_config(tmp_path, 5, 50, extra="[calibration]\nchange_date = 2020-02-21\n")
    scenario = build_scenario(load_config(config))
    truth = {
        "r0": np.array([2.5]),
        "seed_scale": np.array([1.0]),
        "reporting_fraction": np.array([0.4]),
        "reporting_delay": np.array([5.0]),
        "dispersion": np.array([50.0]),
        "change_factor": np.array([0.4]),
    }
    observed = _synthetic_reports(scenario, truth, np.random.default_rng(3))
    priors = {**DEFAULT_PRIORS, "reporting_fraction": Prior(0.39, 0.41)}
    problem = CalibrationProblem(scenario, observed, np.ones_like(observed, bool), priors)
    posterior = calibrate(problem, particles=200, seed=0)
    low, high = posterior.interval("change_factor", 0.9)
    assert low <= 0.4 <= high and high - low < 0.25
    low, high = posterior.interval("r0", 0.9)
    assert low <= 2.5 <= high
    without = CalibrationProblem(
        build_scenario(load_config(_write_config(tmp_path, 5, 50))),
        observed,
        np.ones_like(observed, bool),
        {k: v for k, v in priors.items() if k != "change_factor"},
    )
    r0 = np.median(calibrate(without, particles=200, seed=0).draws["r0"])
    assert r0 < 2.2  # a model blind to the measure takes it for a lower r0


def test_change_factor_needs_a_change_date(tmp_path):
    from spreadwatch.model import ConfigError

    config = _write_config(tmp_path, 2, 30, extra="[calibration.fixed]\nchange_factor = 0.5\n")
    with pytest.raises(ConfigError, match=r"change_factor: needs calibration\.change_date"):
        load_config(config)
    late = _write_config(tmp_path, 2, 30, extra="[calibration]\nchange_date = 2021-01-01\n")
    with pytest.raises(ConfigError, match=r"calibration\.change_date: expected a date after"):
        load_config(late)


def test_cases_outside_the_model_are_errors_and_outside_the_run_ignored(scenario, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("region_code,date,confirmed\nZZZ,2020-02-01,3\n")
    with pytest.raises(ValueError, match="'ZZZ', not among the 5 regions"):
        align_cases(read_cases(path), scenario)
    path.write_text(
        "region_code,date,confirmed\nR001,2020-01-20,3\nR001,2020-02-02,4\nR001,2020-05-01,1\n"
    )
    observed, mask = align_cases(read_cases(path), scenario)
    # reported from Jan 20 (gaps count as 0) to May 1: the whole run, Feb 2 (day 1) holding 4
    assert mask[:, 1].all() and mask.sum() == 50
    assert observed[1, 1] == 4 and observed[0, 1] == 0


def test_calibrate_command_writes_posterior_summary_and_report(tmp_path):
    config = _write_config(tmp_path, 4, 40)
    scenario = build_scenario(load_config(config))
    truth = {"r0": np.array([2.4]), "seed_scale": np.array([1.5]),
             "reporting_fraction": np.array([0.3]), "reporting_delay": np.array([4.0]),
             "dispersion": np.array([50.0])}  # fmt: skip
    observed = _synthetic_reports(scenario, truth, np.random.default_rng(3))
    dates = pd.date_range("2020-02-01", periods=40).strftime("%Y-%m-%d")
    rows = [
        {"region_code": code, "date": dates[t], "confirmed": int(observed[t, i])}
        for t in range(40)
        for i, code in enumerate(scenario.regions.codes)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["calibrate", str(config), "--cases", str(tmp_path / "cases.csv"), "--out", str(out),
         "--particles", "150"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    posterior = pq.read_table(out / "posterior.parquet").to_pandas()
    assert len(posterior) == 150 and {"r0", "log_likelihood"} <= set(posterior.columns)
    summary = pd.read_csv(out / "summary.csv").set_index("parameter")
    assert summary.loc["r0", "q0.05"] <= 2.4 <= summary.loc["r0", "q0.95"]
    predictive = pq.read_table(out / "predictive.parquet").to_pandas()
    inside = (predictive["observed"] >= predictive["q0.05"]) & (
        predictive["observed"] <= predictive["q0.95"]
    )
    assert inside[predictive["region_code"] != "total"].mean() > 0.8
    assert (out / "calibration.html").stat().st_size > 100_000


def test_calibration_section_sets_priors_and_fixed_values(tmp_path):
    from spreadwatch.infer.workflow import priors_of
    from spreadwatch.model import ConfigError

    config = _write_config(tmp_path, 2, 10)
    base = config.read_text()
    config.write_text(
        base
        + "\n[calibration]\nparticles = 50\npriors.r0 = { low = 1.5, high = 4.0 }\n"
        + 'priors.seed_scale = { low = 0.5, high = 20, scale = "log" }\n'
        + "fixed.reporting_delay = 6.0\n"
    )
    priors, fixed = priors_of(load_config(config))
    assert priors["r0"] == Prior(1.5, 4.0) and priors["seed_scale"] == Prior(0.5, 20, log=True)
    assert fixed == {"reporting_delay": 6.0} and "reporting_delay" not in priors
    assert priors["dispersion"] == DEFAULT_PRIORS["dispersion"]
    for text, message in [
        ("priors.beta = { low = 1, high = 2 }", "calibration.priors.beta: unknown parameter"),
        (
            "priors.r0 = { low = 3, high = 2 }",
            "calibration.priors.r0.high: expected a number > low",
        ),
        (
            "fixed.reporting_fraction = 1.5",
            "calibration.fixed.reporting_fraction: expected a number in (0, 1]",
        ),
        (
            "fixed.r0 = 2\npriors.r0 = { low = 1, high = 3 }",
            "calibration.fixed.r0: has a prior too",
        ),
    ]:
        config.write_text(base + "\n[calibration]\n" + text + "\n")
        with pytest.raises(ConfigError) as info:
            load_config(config)
        assert message in str(info.value)
