"""The end-to-end demo: an epidemic on synthetic Korea, and the analyst's whole loop on it.

An outbreak starts in Daegu, spreads along travel to other provinces, and a measure (distancing)
cuts transmission partway through the observed weeks. The demo then does what an operations
room would: ingest the carriers' and households' data, build flows, estimate Rt, calibrate the
metapopulation model to the reported cases (the measure's date is known, its effect is
estimated), forecast with the model the backtest prefers, set risk levels, and project
scenarios from the calibrated posterior. The report sets what the loop inferred beside the
synthetic truth. Every stage reads and writes the on-disk contracts of
``docs/data-contracts.md``, exactly as the separate commands do, into one folder::

    out/synth/        raw carrier files and the synthetic truth (hold raw IDs: the demo's input)
    out/ingest/       the ingest store: every source pseudonymised, quarantine, quality.json
    out/flows/        od_flows, presence, commuting, importations, household_signals (k-anonymous)
    out/model/        calibrate.toml and run.toml (observed days; projection with scenarios),
                      rt.csv, calibration/ (posterior, summary, predictive, calibration.html),
                      projection/ (summary.csv, curves.parquet, attack_rates.parquet)
    out/forecast/     forecasts.parquet (daily, hubverse table)
    out/risk/         importation_risk.parquet, risk_levels.parquet
    out/air/          fine dust: field, exposure, daily, forecast (spreadwatch air assess)
    out/report.html   the brief (report.pdf beside it when Chromium is installed)

The folder is also a workspace of ``spreadwatch serve`` (the API and the dashboard).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.fusion import running
from spreadwatch.fusion.flows import build_flows
from spreadwatch.infer.cases import CaseSeries
from spreadwatch.ingest import Store
from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.ingest.store import events_glob
from spreadwatch.privacy.kanon import DEFAULT_K
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.progress import step
from spreadwatch.synth import SynthConfig, generate
from spreadwatch.synth.config import EpidemicConfig
from spreadwatch.synth.generate import synth_sources

#: Scenarios projected from the day after the data: (name, [[scenario.intervention]] entries).
SCENARIOS: tuple[tuple[str, list[dict[str, object]]], ...] = (
    ("mobility -50%", [{"kind": "mobility", "reduction": 0.5}]),
    ("contacts -30%", [{"kind": "contacts", "reduction": 0.3, "settings": ["all"]}]),
    ("isolation in 2 days", [{"kind": "isolation", "days": 2.0}]),
)


@dataclass(frozen=True)
class DemoSettings:
    """Size and assumptions of one demo run."""

    seed: int = 0
    subscribers: int = 120_000
    days: int = 42
    """Days observed: carrier data and reported cases."""
    events_per_day: float = 3.0
    seed_infections: int = 40
    """The synthetic truth: people exposed in Daegu Nam-gu on the first day."""
    measure_day: int | None = 28
    """Day (0 = the first) a measure (distancing) begins; ``None``: no measure."""
    measure_transmission: float = 0.35
    """The synthetic truth: transmission under the measure relative to before (the calibration
    does not know it; it estimates it)."""
    projection_days: int = 56
    """Days projected after the data, for each scenario."""
    k: int = DEFAULT_K
    ascertainment: float = 0.4
    """Assumed share of infections reported (held fixed in the calibration: with weeks of
    data the growth tells transmission, not how many infections went unreported)."""
    reporting_delay_days: int = 5
    """Assumed mean delay from infection to report (held fixed in the calibration, as known
    from case investigations), also used to date the seeds."""
    seed_window_days: int = 7
    """Seeds come from the cases reported in this many first days (more if there are none)."""
    forecast_days: int = 14
    """Days ahead of the daily case forecasts."""
    particles: int = 300
    """Particles of the calibration (and posterior draws of the projection)."""
    scenario_particles: int = 100
    lang: str = "ko"
    """Language of ``report.html`` (the other edition is written beside it)."""

    def __post_init__(self) -> None:
        if self.measure_day is not None and not 7 <= self.measure_day <= self.days - 7:
            raise ValueError(
                f"measure day {self.measure_day}: expected 7 to {self.days - 7} (a week of data "
                f"before and after it in {self.days} days), or no measure"
            )

    @property
    def rt_window(self) -> int:
        """Days of an Rt window: a week, or all the data a short run has."""
        return min(7, self.days - 1)

    def synth(self) -> SynthConfig:
        """The synthetic world of this demo."""
        return SynthConfig(
            seed=self.seed,
            subscribers=self.subscribers,
            days=self.days,
            events_per_day=self.events_per_day,
            epidemic=EpidemicConfig(
                seed_infections=self.seed_infections,
                measure_day=self.measure_day,
                measure_transmission=self.measure_transmission,
            ),
        )


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    out_dir: Path
    report: Path
    pdf: Path | None
    quality: dict


def seeds_from_cases(
    cases: pd.DataFrame, settings: DemoSettings, start: date
) -> list[dict[str, object]]:
    """Model seeds (``[[seed]]`` entries) from the earliest reported cases.

    Cases reported in the first ``seed_window_days`` days that have any (extended until at least
    one case is found) are scaled by ``1 / ascertainment`` and dated ``reporting_delay_days``
    earlier, no earlier than ``start``.
    """
    reported = cases[cases["confirmed"] > 0]
    if reported.empty:
        raise ValueError("no reported cases to seed the model from")
    first = reported["date"].min()
    window = reported[reported["date"] < first + timedelta(days=settings.seed_window_days)]
    seeds = []
    for row in window.sort_values(["date", "region_code"]).itertuples(index=False):
        when = max(start, row.date - timedelta(days=settings.reporting_delay_days))
        seeds.append(
            {
                "region": row.region_code,
                "infected": max(1, round(row.confirmed / settings.ascertainment)),
                "date": when,
            }
        )
    return seeds


def model_config_toml(
    synth: SynthConfig,
    settings: DemoSettings,
    commuting: Path,
    seeds: list[dict[str, object]],
    days: int,
    scenarios: bool,
) -> str:
    """A run config of the demo's model as TOML text: ``days`` from the synthetic start, the
    measure's date as a calibrated change, the assumed ascertainment held fixed, and with
    ``scenarios`` the :data:`SCENARIOS` from the day after the data."""
    disease = synth.epidemic
    lines = [
        "# Written by `spreadwatch demo`: 229 si-gun-gu mixing by the measured commuting table,",
        "# seeded from the earliest reported cases scaled by the assumed ascertainment.",
        "[run]",
        f"start_date = {synth.start_date.isoformat()}",
        f"days = {days}",
        "steps_per_day = 2  # as calibrated",
        "",
        "[disease]",
        f"r0 = {disease.r0}  # a prior guess: the calibration estimates it",
        f"latent_days = {disease.latent_days}",
        f"infectious_days = {disease.infectious_days}",
        "",
        "[regions]",
        'source = "korea-sigungu"',
        "",
        "[mobility]",
        'kind = "commuting"',
        f"commuting = {json.dumps(str(commuting))}",
        "",
        "[calibration]",
        f"particles = {settings.particles}",
        f"fixed.reporting_fraction = {settings.ascertainment}",
        f"fixed.reporting_delay = {settings.reporting_delay_days}",
    ]
    if settings.measure_day is not None:
        change = synth.start_date + timedelta(days=settings.measure_day)
        lines.append(f"change_date = {change.isoformat()}  # the measure began: fit its effect")
    for seed in seeds:
        lines += [
            "",
            "[[seed]]",
            f'region = "{seed["region"]}"',
            f"infected = {seed['infected']}",
            f"date = {seed['date'].isoformat()}",  # type: ignore[union-attr]
        ]
    if scenarios:
        today = synth.start_date + timedelta(days=settings.days)
        for name, measures in SCENARIOS:
            lines += ["", "[[scenario]]", f'name = "{name}"']
            for measure in measures:
                lines += ["[[scenario.intervention]]", f"start = {today.isoformat()}"]
                lines += [f"{key} = {json.dumps(value)}" for key, value in measure.items()]
    return "\n".join(lines) + "\n"


def run_demo(out_dir: Path, settings: DemoSettings, key: bytes) -> DemoResult:
    """Run every stage into ``out_dir`` and write the brief ``out_dir/report.html``."""
    out_dir = Path(out_dir)
    synth_config = settings.synth()
    manifest = generate(synth_config, out_dir / "synth")
    raw = out_dir / "synth" / "raw"

    store = out_dir / "ingest"
    quality = ingest_sources(store, synth_sources(raw), KeyRing(key), follow=running.follow)
    flows = build_flows(store, out_dir / "flows", k=settings.k)
    air = _fine_dust(store, out_dir, synth_config)
    with Store(store) as opened:
        cases_table = opened.read("cases")
    if cases_table is None:
        raise ValueError(f"{raw / 'cases.csv'}: no valid case rows")

    from spreadwatch.infer import read_cases, rt_table

    cases = cases_table.to_pandas()
    series = read_cases(store / "cases")
    model_dir = out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    serial_interval = _serial_interval(synth_config.epidemic)
    with step("Estimating Rt from the reported cases"):
        rt = rt_table(series.with_total(), *serial_interval, window=settings.rt_window).to_pandas()
        rt.to_csv(model_dir / "rt.csv", index=False)

    seeds = seeds_from_cases(cases, settings, synth_config.start_date)
    commuting = flows["commuting"].resolve()
    configs = {
        "calibrate.toml": model_config_toml(
            synth_config, settings, commuting, seeds, settings.days, scenarios=False
        ),
        "run.toml": model_config_toml(
            synth_config,
            settings,
            commuting,
            seeds,
            settings.days + settings.projection_days,
            scenarios=True,
        ),
    }
    for name, text in configs.items():
        (model_dir / name).write_text(text)
    from spreadwatch.infer.workflow import run_calibration
    from spreadwatch.report.calibration import write_calibration_report

    calibration = run_calibration(
        model_dir / "calibrate.toml",
        store / "cases",
        model_dir / "calibration",
        settings.particles,
        settings.seed,
    )
    write_calibration_report(calibration, model_dir / "calibration" / "calibration.html")
    projection = project(model_dir, settings)

    with step("Evaluating differentially private OD flows"):
        from spreadwatch.release.dp import DEFAULT_MAX_TRIPS_PER_DAY, KeySpace
        from spreadwatch.report.privacy import dp_errors

        last = synth_config.start_date + timedelta(days=settings.days - 1)
        privacy = dp_errors(
            events_glob(store),
            KeySpace.korea(synth_config.start_date, last),
            bounds=(2, DEFAULT_MAX_TRIPS_PER_DAY),
        )
    with step("Forecasting cases and setting risk levels"):
        written = forecast_and_risk(series, flows, out_dir, settings, serial_interval)
    from spreadwatch.report.brief import Brief, write_brief

    brief = Brief(
        settings=settings,
        synth=synth_config,
        manifest=manifest,
        quality=quality,
        cases=cases,
        rt=rt,
        calibration=calibration,
        projection=projection,
        forecasts=pq.read_table(written["forecasts"]),
        levels=pq.read_table(written["risk_levels"]).to_pandas(),
        od_flows=pq.read_table(flows["od_flows"]).to_pandas(),
        importations=_read(flows.get("importations")),
        signals=_read(flows.get("household_signals")),
        privacy=privacy,
        truth=out_dir / "synth" / "truth" / "epidemic.parquet",
        air=air,
    )
    with step("Writing the brief"):
        report, pdf = write_brief(brief, out_dir / "report.html", settings.lang)
    return DemoResult(out_dir=out_dir, report=report, pdf=pdf, quality=quality)


def _fine_dust(store: Path, out_dir: Path, synth_config: SynthConfig) -> Path | None:
    """``spreadwatch air assess`` into ``out_dir/air`` (when the world has fine dust)."""
    if not synth_config.air.enabled:
        return None
    from spreadwatch.air.run import assess

    assess(store, out_dir / "flows", out_dir / "air")
    return out_dir / "air"


def _read(path: Path | None) -> pd.DataFrame | None:
    return None if path is None else pq.read_table(path).to_pandas()


def project(model_dir: Path, settings: DemoSettings):
    """The baseline (the measure in force at its estimated strength) and every scenario,
    projected by the stochastic engine from posterior draws of the calibration; written to
    ``model_dir/projection``. Returns the :class:`~spreadwatch.model.scenarios.Comparison`."""
    from spreadwatch.model import load_config
    from spreadwatch.model.scenarios import compare, posterior_draws

    config = load_config(model_dir / "run.toml")
    draws = posterior_draws(
        model_dir / "calibration" / "posterior.parquet", settings.scenario_particles, settings.seed
    )
    comparison = compare(config, draws, label=str(model_dir / "run.toml"))
    folder = model_dir / "projection"
    folder.mkdir(parents=True, exist_ok=True)
    comparison.summary().to_csv(folder / "summary.csv", index=False)
    for name, frame in (
        ("curves", comparison.curves()),
        ("attack_rates", comparison.attack_rates()),
    ):
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False), folder / f"{name}.parquet"
        )
    return comparison


def _serial_interval(epidemic) -> tuple[float, float]:
    """Mean and sd of the serial interval of the synthetic epidemic (latent + infectious)."""
    mean = epidemic.latent_days + epidemic.infectious_days
    return mean, (epidemic.latent_days**2 + epidemic.infectious_days**2) ** 0.5


def forecast_and_risk(
    series: CaseSeries,
    flows: dict[str, Path],
    out_dir: Path,
    settings: DemoSettings,
    serial_interval: tuple[float, float],
) -> dict[str, Path]:
    """Daily case forecasts (``out/forecast``), importation risk and risk levels (``out/risk``)
    from the reported cases and the fusion outputs."""
    from spreadwatch.forecast.history import (
        adjacency_orders,
        from_series,
        mobility_weights,
        population_of,
    )
    from spreadwatch.forecast.hub import frame_of
    from spreadwatch.forecast.mechanistic import Mechanistic, read_posterior
    from spreadwatch.forecast.run import MODEL_NAMES, MODELS, forecast_table, select
    from spreadwatch.model import load_config
    from spreadwatch.risk import importation_risk
    from spreadwatch.risk.assemble import assemble
    from spreadwatch.risk.levels import risk_levels

    people, shares = population_of(None, series.regions)
    orders = adjacency_orders(None, series.regions)
    mobility = None
    if "od_flows" in flows:
        mobility = mobility_weights(flows["od_flows"], series.regions)
    history = from_series(series, "day", orders, mobility, people, shares)
    if settings.measure_day is not None:  # the measure's date is known: a step in transmission,
        # seen in the reported cases a reporting delay later
        shown = settings.measure_day + settings.reporting_delay_days
        history = dataclasses.replace(
            history, change=settings.synth().start_date + timedelta(shown)
        )
    horizon = settings.forecast_days
    chosen = select(history, horizon, MODEL_NAMES, settings.seed)
    registry = dict(MODELS)
    models = list(MODEL_NAMES)
    posterior = out_dir / "model" / "calibration"
    if (posterior / "posterior.parquet").exists():  # the calibrated model joins the ensemble
        config = load_config(out_dir / "model" / "calibrate.toml")
        registry["mechanistic"] = Mechanistic(
            config,
            settings.particles,
            posterior=read_posterior(posterior),
            last_origin=history.ends[-1],
        )
        models.insert(3, "mechanistic")
    forecasts = forecast_table(
        history, horizon, models, settings.seed, registry, skipped={}, selection=chosen
    )
    paths = {
        "forecasts": out_dir / "forecast" / "forecasts.parquet",
        "importation_risk": out_dir / "risk" / "importation_risk.parquet",
        "risk_levels": out_dir / "risk" / "risk_levels.parquet",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(forecasts, paths["forecasts"])
    importation = None
    if "importations" in flows:
        importation = importation_risk(pq.read_table(flows["importations"]).to_pandas()).to_pandas()
        pq.write_table(
            pa.Table.from_pandas(importation, preserve_index=False), paths["importation_risk"]
        )
    signals = flows.get("household_signals")
    factors = assemble(
        series,
        dict(zip(series.regions, people, strict=True)),
        *serial_interval,
        frame_of(forecasts),
        importation,
        pq.read_table(signals).to_pandas() if signals is not None else None,
        rt_window=settings.rt_window,
    )
    pq.write_table(risk_levels(factors), paths["risk_levels"])
    return paths
