"""The end-to-end demo: synthetic Korea -> ingest -> flows -> SEIR model and Rt -> HTML report.

Every stage reads and writes the on-disk contracts of ``docs/data-contracts.md``, exactly as the
separate commands do, into one folder::

    out/synth/      raw carrier files and the synthetic truth (hold raw IDs: the demo's input)
    out/ingest/     the ingest store: every source pseudonymised (households' members too),
                    quarantine, quality.json
    out/flows/      od_flows, presence, commuting, importations, household_signals (k-anonymous)
    out/model/      run.toml (the model config the demo wrote), states.parquet, rt.csv
    out/forecast/   forecasts.parquet (daily, hubverse table)
    out/risk/       importation_risk.parquet, risk_levels.parquet
    out/report.html the report

The folder is also a workspace of ``spreadwatch serve`` (the API and the dashboard).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.infer.cases import CaseSeries
from spreadwatch.ingest import Store
from spreadwatch.model import run_simulation
from spreadwatch.pipeline import build_flows, events_glob, ingest_sources, synth_sources
from spreadwatch.privacy.kanon import DEFAULT_K
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.progress import step
from spreadwatch.report.demo import write_demo_report
from spreadwatch.synth import SynthConfig, generate


@dataclass(frozen=True)
class DemoSettings:
    """Size and assumptions of one demo run."""

    seed: int = 0
    subscribers: int = 200_000
    days: int = 14
    events_per_day: float = 3.0
    horizon_days: int = 150
    k: int = DEFAULT_K
    ascertainment: float = 0.4
    """Assumed share of infections reported, used to scale reported cases into model seeds."""
    reporting_delay_days: int = 5
    """Assumed delay from infection to report, used to date the seeds."""
    seed_window_days: int = 7
    """Seeds come from the cases reported in this many first days (more if there are none)."""
    forecast_days: int = 14
    """Days ahead of the daily case forecasts."""

    @property
    def rt_window(self) -> int:
        """Days of an Rt window: a week, or all the data a short run has."""
        return min(7, self.days - 1)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    out_dir: Path
    report: Path
    states: Path
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
    synth: SynthConfig, settings: DemoSettings, commuting: Path, seeds: list[dict[str, object]]
) -> str:
    """The run config the demo hands to the model, as TOML text."""
    disease = synth.epidemic
    lines = [
        "# Written by `spreadwatch demo`: 229 si-gun-gu mixing by the measured commuting table,",
        "# seeded from the earliest reported cases scaled by the assumed ascertainment.",
        "[run]",
        f"start_date = {synth.start_date.isoformat()}",
        f"days = {settings.horizon_days}",
        "",
        "[disease]",
        f"r0 = {disease.r0}",
        f"latent_days = {disease.latent_days}",
        f"infectious_days = {disease.infectious_days}",
        "",
        "[regions]",
        'source = "korea-sigungu"',
        "",
        "[mobility]",
        'kind = "commuting"',
        f"commuting = {json.dumps(str(commuting))}",
    ]
    for seed in seeds:
        lines += [
            "",
            "[[seed]]",
            f'region = "{seed["region"]}"',
            f"infected = {seed['infected']}",
            f"date = {seed['date'].isoformat()}",  # type: ignore[union-attr]
        ]
    lines += ["", "[output]", 'compartments = ["S", "E", "I", "R", "incidence"]', ""]
    return "\n".join(lines)


def run_demo(out_dir: Path, settings: DemoSettings, key: bytes) -> DemoResult:
    """Run every stage into ``out_dir`` and write ``out_dir/report.html``."""
    out_dir = Path(out_dir)
    synth_config = SynthConfig(
        seed=settings.seed,
        subscribers=settings.subscribers,
        days=settings.days,
        events_per_day=settings.events_per_day,
    )
    manifest = generate(synth_config, out_dir / "synth")
    raw = out_dir / "synth" / "raw"

    store = out_dir / "ingest"
    quality = ingest_sources(store, synth_sources(raw), KeyRing(key))
    flows = build_flows(store, out_dir / "flows", k=settings.k)
    with Store(store) as opened:
        cases_table = opened.read("cases")
    if cases_table is None:
        raise ValueError(f"{raw / 'cases.csv'}: no valid case rows")

    cases = cases_table.to_pandas()
    seeds = seeds_from_cases(cases, settings, synth_config.start_date)
    model_dir = out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    config_path = model_dir / "run.toml"
    config_path.write_text(
        model_config_toml(synth_config, settings, flows["commuting"].resolve(), seeds)
    )
    states_path = run_simulation(config_path, model_dir)

    with step("Evaluating differentially private OD flows"):
        from spreadwatch.privacy.dp import DEFAULT_MAX_TRIPS_PER_DAY, KeySpace
        from spreadwatch.report.privacy import dp_error_section

        last = synth_config.start_date + timedelta(days=settings.days - 1)
        privacy = dp_error_section(
            events_glob(store),
            KeySpace.korea(synth_config.start_date, last),
            bounds=(2, DEFAULT_MAX_TRIPS_PER_DAY),
        )
    from spreadwatch.infer import read_cases, rt_table

    series = read_cases(store / "cases")
    serial_interval = _serial_interval(synth_config.epidemic)
    with step("Estimating Rt from the reported cases"):
        rt = rt_table(series.with_total(), *serial_interval, window=settings.rt_window).to_pandas()
        rt.to_csv(model_dir / "rt.csv", index=False)
    with step("Forecasting cases and setting risk levels"):
        forecast_and_risk(series, flows, out_dir, settings, serial_interval)
    with step("Writing the report"):
        states = pq.read_table(states_path).to_pandas()
        od_flows = pq.read_table(flows["od_flows"]).to_pandas()
        truth = _true_infections(out_dir / "synth" / "truth" / "epidemic.parquet")
        subtitle = (
            f"seed {settings.seed} · {manifest.totals['subscribers']:,} synthetic subscribers of "
            f"{len(manifest.subscribers_by_carrier)} carriers · "
            f"{quality['location']['rows_in']:,} location rows "
            f"over {settings.days} days · k = {settings.k}"
        )
        report = write_demo_report(
            out_dir / "report.html",
            states,
            od_flows,
            quality,
            cases,
            subtitle,
            truth=truth,
            privacy=privacy,
            rt=rt,
            r0=synth_config.epidemic.r0,
        )
    return DemoResult(out_dir=out_dir, report=report, states=states_path, quality=quality)


DEMO_MODELS = ("baseline", "endemic-epidemic", "gradient-boosting", "ensemble", "ensemble-weighted")


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
    from spreadwatch.forecast.run import forecast_table, select
    from spreadwatch.risk import importation_risk
    from spreadwatch.risk.assemble import assemble
    from spreadwatch.risk.levels import risk_levels

    people, shares = population_of(None, series.regions)
    orders = adjacency_orders(None, series.regions)
    mobility = None
    if "od_flows" in flows:
        mobility = mobility_weights(flows["od_flows"], series.regions)
    history = from_series(series, "day", orders, mobility, people, shares)
    horizon = settings.forecast_days
    chosen = select(history, horizon, DEMO_MODELS, settings.seed)
    forecasts = forecast_table(
        history, horizon, DEMO_MODELS, settings.seed, skipped={}, selection=chosen
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


def _true_infections(path: Path) -> pd.Series:
    """National new infections per day of the synthetic truth."""
    table: pa.Table = pq.read_table(path, columns=["date", "new_infections"])
    return table.to_pandas().groupby("date")["new_infections"].sum()
