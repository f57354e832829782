"""``spreadwatch forecast`` and ``spreadwatch backtest``: probabilistic case forecasts and their
rolling-origin evaluation, on any regions a user brings."""

from __future__ import annotations

import dataclasses
import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail, write_table
from spreadwatch.progress import console, say, step


class Unit(StrEnum):
    day = "day"
    week = "week"


#: ``forecast.run.MODEL_NAMES`` (tested equal), written out so that ``--help`` imports no model.
DEFAULT_MODELS = (
    "baseline,endemic-epidemic,gradient-boosting,local-level,ensemble,ensemble-weighted"
)

Cases = Annotated[
    Path,
    typer.Option(help="Long CSV or Parquet: region_code, date, confirmed (or region, count)."),
]
Population = Annotated[
    Path | None,
    typer.Option(help="CSV of code,population (default: the 2020 census for si-gun-gu codes)."),
]
Adjacency = Annotated[
    Path | None,
    typer.Option(help="CSV of region,neighbour pairs (default: shared borders of si-gun-gu)."),
]
OdFlows = Annotated[
    Path | None,
    typer.Option("--od", help="Fusion od_flows (file or folder): couple regions by mobility."),
]
UnitOption = Annotated[Unit, typer.Option(help="Forecast daily or weekly counts.")]


class DateMeaning(StrEnum):
    start = "start"
    end = "end"


DateIs = Annotated[
    DateMeaning | None,
    typer.Option(
        "--date-is",
        help="Weekly input: whether each date is the first or the last day of its week "
        "(default: last).",
    ),
]
Select = Annotated[
    bool,
    typer.Option(
        help="Backtest the latest origins to choose the default model and weigh the "
        "weighted ensemble."
    ),
]
Horizons = Annotated[int, typer.Option(min=1, max=60, help="Periods ahead.")]
Models = Annotated[str, typer.Option(help=f"Comma-separated models ({DEFAULT_MODELS}).")]
Importations = Annotated[
    Path | None,
    typer.Option(help="Fusion importations table: arrivals as a gradient-boosting feature."),
]
Signals = Annotated[
    Path | None,
    typer.Option(help="Fusion household_signals table: fever rate, stay-home index features."),
]


Change = Annotated[
    datetime.datetime | None,
    typer.Option(
        "--change",
        formats=["%Y-%m-%d"],
        help="Date a known change in transmission (a measure) shows in the counts (for "
        "reported cases: the measure's date plus the reporting delay): the endemic-epidemic "
        "model lets its epidemic parts step from then on.",
    ),
]


Config = Annotated[
    Path | None,
    typer.Option(help="Run config: adds the calibrated mechanistic model (daily forecasts)."),
]


Calibration = Annotated[
    Path | None,
    typer.Option(
        help="posterior.parquet (or its folder) of `spreadwatch calibrate` for --config: the "
        "mechanistic model forecasts from it instead of calibrating at the origin.",
    ),
]


def _registry(
    importations: Path | None,
    signals: Path | None,
    config: Path | None,
    calibration: Path | None = None,
    last_origin=None,
) -> dict:
    from spreadwatch.forecast.boosting import GradientBoosting, read_covariates
    from spreadwatch.forecast.run import MODELS

    covariates = read_covariates(importations, signals)
    registry = {**MODELS, "gradient-boosting": GradientBoosting(covariates=covariates)}
    if calibration is not None and config is None:
        raise fail("--calibration needs --config (the run config it calibrated)")
    if config is not None:
        from spreadwatch.forecast.mechanistic import Mechanistic, read_posterior
        from spreadwatch.model import load_config

        run_config = load_config(config)
        posterior = read_posterior(calibration) if calibration is not None else None
        registry["mechanistic"] = Mechanistic(
            run_config,
            run_config.calibration.particles,
            posterior=posterior,
            last_origin=last_origin if posterior is not None else None,
        )
    return registry


def _history(
    cases: Path,
    population: Path | None,
    adjacency: Path | None,
    od: Path | None,
    unit: Unit,
    date_is: DateIs = None,
    change: datetime.datetime | None = None,
):
    from spreadwatch.forecast.history import (
        adjacency_orders,
        from_series,
        mobility_weights,
        population_of,
    )
    from spreadwatch.infer import read_cases

    if adjacency is not None and od is not None:
        raise fail("give --adjacency or --od, not both")
    series = read_cases(cases)
    for region, missing in sorted(series.filled.items()):
        console.print(f"[yellow]note:[/] {region}: {missing} missing date(s) counted as 0 cases")
    if series.step_days == 1 and date_is is not None:
        raise fail(f"--date-is: {cases} holds daily counts; it applies to weekly dates only")
    if series.step_days == 7 and date_is is None:
        console.print(
            "[yellow]note:[/] weekly counts: each date is read as the last day of its week "
            "(--date-is start if they are the first)"
        )
    regions = series.regions
    orders = adjacency_orders(adjacency, regions)
    mobility = mobility_weights(od, regions) if od is not None else None
    if od is not None and mobility is None:
        console.print(
            f"[yellow]note:[/] {od}: no released flow between these regions (all below k): "
            "coupling by borders instead"
        )
    residents, shares = population_of(population, regions)
    if len(regions) > 1 and orders is None and mobility is None:
        console.print(
            "[yellow]warning:[/] the regions are not Korean si-gun-gu codes and neither "
            "--adjacency nor --od is given: regions are forecast without coupling"
        )
    if shares is None:
        console.print(
            "[yellow]warning:[/] no population known (--population): equal population "
            "shares, and forecasts are not bounded by a region's population"
        )
    elif residents is None:
        console.print(
            "[yellow]note:[/] --population gives fractions: forecasts are not bounded by a "
            "region's residents"
        )
    meaning = date_is.value if date_is is not None else "end"
    history = from_series(series, unit.value, orders, mobility, residents, shares, meaning)
    if change is not None:
        day = change.date()
        if not history.ends[0] < day <= history.ends[-1]:
            raise fail(
                f"--change {day}: expected a date after {history.ends[0]} up to "
                f"{history.ends[-1]} (the data)"
            )
        history = dataclasses.replace(history, change=day)
        if history.change_period() is None:
            console.print(
                f"[yellow]note:[/] --change {day}: fewer than "
                f"{7 if history.unit == 'day' else 2} periods before it or 2 after it: no step "
                "is fitted"
            )
    return history


def _models(text: str, config: Path | None = None) -> list[str]:
    """The models asked for; with a run config, the mechanistic model joins the defaults."""
    from spreadwatch.forecast.run import ENSEMBLE, MODELS, WEIGHTED

    names = [m.strip() for m in text.split(",") if m.strip()]
    if config is not None and text == DEFAULT_MODELS:
        names.insert(names.index(ENSEMBLE), "mechanistic")
    known = [*MODELS, "mechanistic", ENSEMBLE, WEIGHTED]
    if "mechanistic" in names and config is None:
        raise fail("--models: mechanistic needs --config (the run config to calibrate)")
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        raise fail(
            f"--models: unknown model {unknown[0]!r}"
            if unknown
            else f"--models: none given (expected some of {', '.join(known)})"
        )
    return names


def _notes(skipped: dict[str, str], notes: list[str]) -> None:
    for model, reason in skipped.items():
        console.print(f"[yellow]note:[/] {model} left out ({reason})")
    for note in dict.fromkeys(notes):
        console.print(f"[yellow]note:[/] {note}")


def forecast(
    cases: Cases,
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    unit: UnitOption = Unit.week,
    horizons: Horizons = 4,
    population: Population = None,
    adjacency: Adjacency = None,
    od: OdFlows = None,
    models: Models = DEFAULT_MODELS,
    importations: Importations = None,
    household_signals: Signals = None,
    config: Config = None,
    calibration: Calibration = None,
    date_is: DateIs = None,
    change: Change = None,
    select: Select = True,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
) -> None:
    """Forecast every region, the total and (for si-gun-gu) each sido: a hubverse-style long
    table with the mean and the 23 Forecast Hub quantiles per model, horizon and location.
    Aggregates are sums of the regions' predictive distributions; no forecast exceeds a
    region's population. The default model (the one the dashboard and reports show) is the
    one with the lowest WIS over the latest origins."""
    from spreadwatch.forecast.run import forecast_table
    from spreadwatch.forecast.run import select as choose
    from spreadwatch.infer import CasesError
    from spreadwatch.model import ConfigError

    notes: list[str] = []
    try:
        history = _history(cases, population, adjacency, od, unit, date_is, change)
        if history.periods < 3:
            raise CasesError(f"{cases}: at least 3 {unit.value}s of data are needed to forecast")
        registry = _registry(importations, household_signals, config, calibration, history.ends[-1])
        names = _models(models, config)
        selection = choose(history, horizons, names, seed, registry) if select else None
        skipped: dict[str, str] = {}
        with step(f"Forecasting {len(history.regions)} regions with {len(names)} models"):
            table = forecast_table(
                history, horizons, names, seed, registry, skipped, notes, selection
            )
    except (CasesError, ConfigError, ValueError) as exc:
        raise fail(str(exc)) from exc
    _notes(skipped, notes)
    write_table(table, out)
    default = table.schema.metadata[b"spreadwatch.default_model"].decode()
    how = f" ({selection.reason})" if selection else ""
    say(
        f"wrote [bold]{out}[/] ({table.num_rows:,} rows, origin {history.ends[-1]}); "
        f"default model: [bold]{default}[/]{how}"
    )


def backtest(
    cases: Cases,
    out: Annotated[Path, typer.Option(help="Output folder.")],
    unit: UnitOption = Unit.week,
    horizons: Horizons = 4,
    population: Population = None,
    adjacency: Adjacency = None,
    od: OdFlows = None,
    models: Models = DEFAULT_MODELS,
    importations: Importations = None,
    household_signals: Signals = None,
    config: Config = None,
    date_is: DateIs = None,
    change: Change = None,
    first: Annotated[
        int | None, typer.Option(min=3, help="Periods before the first origin (default: half).")
    ] = None,
    every: Annotated[int, typer.Option(min=1, help="Periods between origins.")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
) -> None:
    """Rolling-origin forecasts scored against what happened: WIS, pairwise relative WIS
    (to the baseline), and 50%/90% coverage by model, horizon and location, regions and
    aggregates apart; writes forecasts.parquet (hubverse), scores.parquet, summary.csv and
    backtest.html, and names the model with the lowest WIS over the regions."""
    import pyarrow as pa

    from spreadwatch.forecast.run import backtest as run_backtest
    from spreadwatch.forecast.run import choose_default, summarise
    from spreadwatch.infer import CasesError
    from spreadwatch.model import ConfigError
    from spreadwatch.report.forecasts import write_backtest_report

    notes: list[str] = []
    try:
        history = _history(cases, population, adjacency, od, unit, date_is, change)
        start = first if first is not None else max(3, history.periods // 2)
        if start >= history.periods:
            raise CasesError(f"--first {start}: the data have only {history.periods} {unit.value}s")
        registry = _registry(importations, household_signals, config)
        skipped: dict[str, str] = {}
        run = run_backtest(
            history, horizons, _models(models, config), start, every, seed, registry, skipped, notes
        )
    except (CasesError, ConfigError, ValueError) as exc:
        raise fail(str(exc)) from exc
    _notes(skipped, notes)
    out.mkdir(parents=True, exist_ok=True)
    scores = run.scores
    winner = choose_default(scores)
    write_table(run.forecasts, out / "forecasts.parquet")
    write_table(pa.Table.from_pandas(scores, preserve_index=False), out / "scores.parquet")
    summary = summarise(scores)
    summary.to_csv(out / "summary.csv", index=False)
    report = write_backtest_report(history, run, out / "backtest.html", horizons, winner)
    say(summary.to_string(index=False, float_format="{:,.3g}".format))
    say(f"lowest WIS over the regions: [bold]{winner}[/]")
    say(f"report: [bold]{report.resolve()}[/]")


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {"forecast": forecast, "backtest": backtest}
