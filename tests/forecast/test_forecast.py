"""Forecasts: WIS against its definition, models against data they generated, the hubverse
table, backtests, and the commands on Korea's 2020 cases."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.forecast import QUANTILE_LEVELS, interval_coverage, weighted_interval_score
from spreadwatch.forecast.coupling import normalised
from spreadwatch.forecast.history import History, adjacency_orders, from_series
from spreadwatch.forecast.models import Baseline, EndemicEpidemic, Spec
from spreadwatch.forecast.run import backtest, forecast_table, summarise
from spreadwatch.infer import CasesError, read_cases

KOREA = Path(__file__).parents[2] / "examples" / "korea-covid19-2020.csv"


def test_wis_of_hand_computed_examples():
    # median 10, 80% interval [5, 15], y = 20: IS = 10 + 2/0.2 * 5 = 60,
    # WIS = (0.5 * 10 + 0.1 * 60) / 1.5
    levels = np.array([0.1, 0.5, 0.9])
    assert weighted_interval_score(np.array([5, 10, 15]), levels, 20) == pytest.approx(11 / 1.5)
    # inside the interval: only widths and the absolute error count
    assert weighted_interval_score(np.array([5, 10, 15]), levels, 12) == pytest.approx(
        (0.5 * 2 + 0.1 * 10) / 1.5
    )
    # a point forecast (all quantiles equal) scores half the absolute error... times 1/(K+1/2)
    # summed weights: WIS = |y - m| exactly when every quantile is m
    point = np.full(23, 7.0)
    assert weighted_interval_score(point, QUANTILE_LEVELS, 10) == pytest.approx(3.0)


def test_wis_is_the_scaled_pinball_loss():
    rng = np.random.default_rng(0)
    quantiles = np.sort(rng.normal(50, 10, (200, 23)), axis=1)
    y = rng.normal(50, 15, 200)
    pinball = ((y[:, None] < quantiles) - QUANTILE_LEVELS) * (quantiles - y[:, None])
    np.testing.assert_allclose(
        weighted_interval_score(quantiles, QUANTILE_LEVELS, y), 2 / 23 * pinball.sum(axis=1)
    )
    inside = interval_coverage(quantiles, QUANTILE_LEVELS, y, 0.9)
    np.testing.assert_array_equal(inside, (quantiles[:, 2] <= y) & (y <= quantiles[:, 20]))


def _simulated(regions: int = 4, periods: int = 160, seed: int = 1) -> tuple[History, dict]:
    rng = np.random.default_rng(seed)
    weights = normalised(rng.uniform(size=(regions, regions)))
    shares = rng.dirichlet(np.full(regions, 5.0))
    truth = {"lambda": 0.55, "phi": 0.25, "endemic": 40.0, "size": 6.0}
    y = np.zeros((periods, regions))
    y[0] = 10
    for t in range(1, periods):
        mu = truth["lambda"] * y[t - 1] + truth["phi"] * (y[t - 1] @ weights)
        mu = mu + truth["endemic"] * shares
        y[t] = rng.negative_binomial(truth["size"], truth["size"] / (truth["size"] + mu))
    ends = tuple(dt.date(2020, 1, 5) + dt.timedelta(days=7 * t) for t in range(periods))
    codes = tuple(f"R{i}" for i in range(regions))
    return History(codes, y, ends, "week", mobility=weights, shares=shares), truth


#: The terms the simulated data were made with: constant endemic and epidemic parts.
SIMPLE = EndemicEpidemic(Spec(end_harmonics=0, trend=False, neighbour_log_population=False))


def test_endemic_epidemic_recovers_its_parameters():
    history, truth = _simulated(periods=400)
    fit = SIMPLE.fit(history)
    values, errors = fit.values(), fit.standard_errors()
    for name, parameter in (
        ("lambda", "ar.1"),
        ("phi", "ne.1"),
        ("endemic", "end.1"),
        ("size", "log(size)"),
    ):
        assert abs(values[parameter] - np.log(truth[name])) < 4 * errors[parameter]


def test_a_known_change_steps_the_epidemic_part():
    """Transmission falls to a third at a known date: with the change the model recovers the
    step (log 1/3 within 4 standard errors) and forecasts decline; blind to it, it forecasts
    the average of before and after."""
    rng = np.random.default_rng(4)
    periods, change, n = 60, 35, 4
    lam = np.where(np.arange(periods) < change, 1.25, 1.25 / 3)
    y = np.zeros((periods, n))
    y[0] = 5
    for t in range(1, periods):
        mu = lam[t] * y[t - 1] + 0.5
        y[t] = rng.negative_binomial(20, 20 / (20 + mu))
    ends = tuple(dt.date(2020, 1, 1) + dt.timedelta(days=t) for t in range(periods))
    plain = dataclasses.replace(SIMPLE.spec, coupling="none", weekday=False)
    history = History(tuple(f"R{i}" for i in range(n)), y, ends, "day", change=ends[change])
    fit = EndemicEpidemic(plain).fit(history)
    step, error = fit.values()["ar.change"], fit.standard_errors()["ar.change"]
    assert abs(step - np.log(1 / 3)) < 4 * error
    aware = EndemicEpidemic(plain).sample(history, 7, 400, np.random.default_rng(0))
    blind = EndemicEpidemic(dataclasses.replace(plain, change=False)).sample(
        history, 7, 400, np.random.default_rng(0)
    )
    last = y[-3:].sum(axis=1).mean()
    assert aware.sum(axis=2).mean(axis=0)[-1] < last < blind.sum(axis=2).mean(axis=0)[-1]
    assert (
        "ar.change"
        not in EndemicEpidemic(plain).fit(dataclasses.replace(history, change=None)).values()
    )


def test_correctly_specified_model_covers_at_the_nominal_rate():
    """Over three simulated data sets (overlapping targets make one set's coverage noisy)."""
    registry = {"endemic-epidemic": SIMPLE}
    scores = pd.concat(
        backtest(
            _simulated(seed=seed)[0],
            4,
            ["endemic-epidemic"],
            first_origin=80,
            every=2,
            registry=registry,
        ).scores
        for seed in (1, 2, 3)
    )
    assert scores["cover90"].mean() == pytest.approx(0.9, abs=0.04)
    assert scores["cover50"].mean() == pytest.approx(0.5, abs=0.06)


def test_baseline_is_flat_with_symmetric_spread():
    history, _ = _simulated()
    samples = Baseline().sample(history, 4, 4000, np.random.default_rng(2))
    last = history.counts[-1]
    np.testing.assert_array_equal(np.median(samples, axis=0), np.broadcast_to(last, (4, 4)))
    spread = np.quantile(samples, 0.9, axis=0) - np.quantile(samples, 0.1, axis=0)
    assert (np.diff(spread, axis=0) >= 0).all()  # uncertainty grows with the horizon
    flat = History(("A",), np.full((30, 1), 12.0), history.ends[:30], "week")
    assert (Baseline().sample(flat, 3, 100, np.random.default_rng(0)) == 12).all()


def test_hub_table_has_the_mean_and_23_quantiles(tmp_path):
    history, _ = _simulated(periods=60)
    table = forecast_table(history, 3, ["baseline", "endemic-epidemic", "ensemble"]).to_pandas()
    assert set(table["model"]) == {"baseline", "endemic-epidemic", "ensemble"}
    per = table.groupby(["model", "horizon", "location"]).size()
    assert (per == 24).all() and len(per) == 3 * 3 * 5
    quantiles = table[table["output_type"] == "quantile"]
    assert sorted(quantiles["output_type_id"].unique()) == pytest.approx(list(QUANTILE_LEVELS))
    ordered = quantiles.sort_values("output_type_id").groupby(["model", "horizon", "location"])
    assert ordered["value"].apply(lambda v: (np.diff(v.to_numpy()) >= 0).all()).all()
    ends = pd.to_datetime(table["target_end_date"]) - pd.to_datetime(table["origin_date"])
    assert (ends.dt.days == 7 * table["horizon"]).all()
    assert (table["origin_date"] == history.ends[-1]).all()


def test_weekly_history_sums_whole_weeks_ending_on_the_last_date(tmp_path):
    path = tmp_path / "cases.csv"
    days = pd.date_range("2020-03-01", periods=24)
    rows = [f"A,{d:%Y-%m-%d},{i}" for i, d in enumerate(days)]
    rows += [f"B,{d:%Y-%m-%d},1" for d in days[:20]]  # B stops reporting 4 days earlier
    path.write_text("region,date,count\n" + "\n".join(rows) + "\n")
    history = from_series(read_cases(path), "week")
    assert history.ends[-1] == dt.date(2020, 3, 20)  # the last date both report
    assert history.periods == 2
    np.testing.assert_array_equal(history.counts[:, 0], [sum(range(6, 13)), sum(range(13, 20))])
    np.testing.assert_array_equal(history.counts[:, 1], [7, 7])


def test_adjacency_file_is_checked(tmp_path):
    path = tmp_path / "adjacency.csv"
    path.write_text("region,neighbour\nA,B\nB,C\n")
    orders = adjacency_orders(path, ("A", "B", "C"))
    np.testing.assert_array_equal(orders, [[0, 1, 2], [1, 0, 1], [2, 1, 0]])
    history = History(("A", "B", "C"), np.zeros((3, 3)), (), "week", orders)
    np.testing.assert_allclose(history.weights, [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])
    path.write_text("region,neighbour\nA,Z\n")
    with pytest.raises(CasesError, match="row 1, column neighbour: unknown region 'Z'"):
        adjacency_orders(path, ("A", "B"))


def test_commands_on_koreas_2020_cases(tmp_path):
    runner = CliRunner()
    out = tmp_path / "forecast.csv"
    result = runner.invoke(
        app,
        ["forecast", "--cases", str(KOREA), "--out", str(out), "--unit", "day", "--horizons", "7"],
    )
    assert result.exit_code == 0, result.output
    table = pacsv.read_csv(out).to_pandas()
    assert set(table["location"]) == {"KR"} and table["horizon"].max() == 7
    assert str(table["origin_date"].iloc[0])[:10] == "2020-04-01"
    folder = tmp_path / "backtest"
    result = runner.invoke(
        app,
        [
            "backtest",
            "--cases",
            str(KOREA),
            "--out",
            str(folder),
            "--unit",
            "day",
            "--horizons",
            "7",
            "--first",
            "50",
            "--every",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    scores = pq.read_table(folder / "scores.parquet").to_pandas()
    assert set(scores["model"]) == {
        "baseline",
        "endemic-epidemic",
        "gradient-boosting",
        "local-level",
        "ensemble",
        "ensemble-weighted",
    }
    summary = summarise(scores)
    assert (summary.loc[summary["model"] == "baseline", "relative_wis"] == 1).all()
    assert (folder / "backtest.html").stat().st_size > 100_000


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--models", "baseline,prophet"], "--models: unknown model 'prophet'"),
        (["--adjacency", "a.csv", "--od", "b"], "give --adjacency or --od, not both"),
    ],
)
def test_command_errors(tmp_path, arguments, message):
    result = CliRunner().invoke(
        app, ["forecast", "--cases", str(KOREA), "--out", str(tmp_path / "f.csv"), *arguments]
    )
    assert result.exit_code == 2 and message in result.output


def test_weekly_input_is_used_as_weeks(tmp_path):
    path = tmp_path / "weekly.csv"
    weeks = pd.date_range("2020-01-04", periods=20, freq="7D")
    path.write_text(
        "region,date,count\n" + "\n".join(f"A,{d:%Y-%m-%d},{10 + i}" for i, d in enumerate(weeks))
    )
    series = read_cases(path)
    assert series.step_days == 7 and series.filled == {}
    history = from_series(series, "week")
    np.testing.assert_array_equal(history.counts[:, 0], 10 + np.arange(20))
    assert history.ends[-1] == weeks[-1].date()
    with pytest.raises(CasesError, match=r"weekly .* use --unit week"):
        from_series(series, "day")
    result = CliRunner().invoke(app, ["rt", "--cases", str(path), "--out", str(tmp_path / "r.csv")])
    assert result.exit_code == 2 and "Rt needs daily counts" in result.output


def test_gradient_boosting_learns_the_conditional_quantiles():
    """Weekly counts exp(3 + 0.5 e) around a level: the 90% interval covers about 90%."""
    rng = np.random.default_rng(5)
    regions, periods = 12, 90
    counts = np.rint(np.exp(3 + 0.5 * rng.standard_normal((periods, regions))))
    ends = tuple(dt.date(2020, 1, 5) + dt.timedelta(days=7 * t) for t in range(periods))
    history = History(tuple(f"R{i}" for i in range(regions)), counts, ends, "week")
    scores = backtest(history, 2, ["gradient-boosting"], first_origin=70, every=4).scores
    regional = scores[scores["location"] != "total"]
    assert regional["cover90"].mean() == pytest.approx(0.9, abs=0.07)
    assert regional["cover50"].mean() == pytest.approx(0.5, abs=0.1)


def test_covariates_take_the_latest_value_on_or_before_the_origin(tmp_path):
    from spreadwatch.forecast.boosting import read_covariates

    arrivals = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-02-01", "2020-02-03", "2020-02-03"]),
            "country": ["JPN", "JPN", "USA"],
            "region_code": ["A", "A", "B"],
            "arrivals": [3, 5, 7],
        }
    )
    arrivals.to_parquet(tmp_path / "importations.parquet")
    covariates = read_covariates(tmp_path / "importations.parquet", None)
    on = covariates.on(dt.date(2020, 2, 3), ("A", "B", "C"))
    np.testing.assert_allclose(on[:, 0], np.log1p([8, 7, 0]))  # a week's arrivals, C unknown
    assert covariates.on(dt.date(2020, 1, 20), ("A",))[0, 0] == 0


def _mechanistic_world(tmp_path):
    """A two-region run config and 67 days of reports it generated (r0 1.6, half reported
    after 5 days): the config, the history of the first 60 days, all reports, their mean."""
    from spreadwatch.infer.calibrate import DEFAULT_PRIORS, CalibrationProblem, reported_mean
    from spreadwatch.model import load_config
    from spreadwatch.model.run import build_scenario

    (tmp_path / "regions.csv").write_text("code,population\nA,800000\nB,500000\n")
    config_path = tmp_path / "run.toml"
    config_path.write_text(
        "[run]\nstart_date = 2020-02-01\ndays = 67\n\n[disease]\nr0 = 2.0\nlatent_days = 3\n"
        'infectious_days = 4\n\n[regions]\ncsv = "regions.csv"\n\n[[seed]]\nregion = "A"\n'
        "infected = 30\n\n[calibration]\nparticles = 120\n"
    )
    config = load_config(config_path)
    scenario = build_scenario(config)
    truth = {
        "r0": np.array([1.6]),
        "seed_scale": np.array([1.0]),
        "reporting_fraction": np.array([0.5]),
        "reporting_delay": np.array([5.0]),
        "dispersion": np.array([40.0]),
    }
    template = CalibrationProblem(
        scenario, np.zeros((67, 2)), np.ones((67, 2), bool), DEFAULT_PRIORS
    )
    mean = reported_mean(
        template.incidence(truth), truth["reporting_fraction"], truth["reporting_delay"]
    )[0]
    rng = np.random.default_rng(4)
    reports = rng.negative_binomial(40.0, 40.0 / (40.0 + mean)).astype(float)
    ends = tuple(dt.date(2020, 2, 1) + dt.timedelta(days=d) for d in range(60))
    history = History(("A", "B"), reports[:60], ends, "day", shares=np.array([0.6, 0.4]))
    return config, history, reports, mean


def _covers(history, samples, reports, mean) -> None:
    samples = history.with_aggregates(samples)
    low, high = np.quantile(samples, [0.05, 0.95], axis=0)
    future = np.column_stack([reports[60:], reports[60:].sum(axis=1)])
    assert ((low <= future) & (future <= high)).mean() >= 0.8
    median = np.median(samples, axis=0)
    assert np.abs(median[:, 2] / mean[60:].sum(axis=1) - 1).max() < 0.25


def test_mechanistic_model_forecasts_data_it_generated(tmp_path):
    from spreadwatch.forecast.mechanistic import Mechanistic

    config, history, reports, mean = _mechanistic_world(tmp_path)
    samples = Mechanistic(config).sample(history, 7, 300, np.random.default_rng(0))
    assert samples.shape == (300, 7, 2)
    _covers(history, samples, reports, mean)


def test_mechanistic_model_forecasts_from_a_given_calibration(tmp_path, monkeypatch):
    """A posterior written as `spreadwatch calibrate` writes it: read back and used without
    calibrating again, and refused at an earlier origin (it saw later data)."""
    import pyarrow as pa

    from spreadwatch.forecast import mechanistic
    from spreadwatch.infer.calibrate import CalibrationProblem, calibrate
    from spreadwatch.infer.workflow import priors_of
    from spreadwatch.model.run import build_scenario

    config, history, reports, mean = _mechanistic_world(tmp_path)
    observed = np.zeros((67, 2))
    observed[:60] = reports[:60]
    mask = np.zeros((67, 2), bool)
    mask[:60] = True
    problem = CalibrationProblem(build_scenario(config), observed, mask, *priors_of(config))
    posterior = calibrate(problem, 120, seed=1, progress="")
    draws = {**posterior.draws, "log_likelihood": posterior.log_likelihood}
    pq.write_table(pa.table(draws), tmp_path / "posterior.parquet")
    given = mechanistic.read_posterior(tmp_path)  # the folder `calibrate` wrote
    monkeypatch.setattr(mechanistic, "calibrate", lambda *a, **k: pytest.fail("calibrated"))
    model = mechanistic.Mechanistic(config, posterior=given, last_origin=history.ends[-1])
    _covers(history, model.sample(history, 7, 300, np.random.default_rng(0)), reports, mean)
    with pytest.raises(CasesError, match="fitted to data after this origin"):
        model.sample(history.upto(50), 7, 10, np.random.default_rng(0))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(CasesError, match="cannot read a posterior"):
        mechanistic.read_posterior(tmp_path / "bad.parquet")


def test_a_model_that_cannot_use_short_data_is_left_out_with_a_note(tmp_path):
    path = tmp_path / "short.csv"
    days = pd.date_range("2020-03-01", periods=12)
    path.write_text(
        "region,date,count\n"
        + "\n".join(
            f"{r},{d:%Y-%m-%d},{0 if r == 'A' else i % 3}" for i, d in enumerate(days) for r in "AB"
        )
    )
    out = tmp_path / "f.csv"
    args = ["forecast", "--cases", str(path), "--out", str(out), "--unit", "day", "--horizons", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "gradient-boosting left out (gradient boosting needs at least 15 periods" in result.output
    )
    table = pacsv.read_csv(out).to_pandas()
    assert "gradient-boosting" not in set(table["model"]) and "ensemble" in set(table["model"])
    zeros = table[(table["location"] == "A") & (table["model"] == "baseline")]
    assert (zeros["value"] == 0).all()  # a region without cases stays at zero


def test_weekly_backtest_and_model_checks_on_korea(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["backtest", "--cases", str(KOREA), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "b" / "summary.csv")
    assert (summary.loc[summary["model"] == "baseline", "relative_wis"] == 1).all()
    result = runner.invoke(
        app,
        [
            "forecast",
            "--cases",
            str(KOREA),
            "--out",
            str(tmp_path / "f.csv"),
            "--models",
            "baseline,mechanistic",
        ],
    )
    assert result.exit_code == 2 and "mechanistic needs --config" in result.output


def test_the_commands_default_models_are_every_model_the_forecast_knows():
    from spreadwatch.commands.forecasting import DEFAULT_MODELS
    from spreadwatch.forecast.run import MODEL_NAMES

    assert DEFAULT_MODELS.split(",") == list(MODEL_NAMES)
