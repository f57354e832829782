"""The ``spreadwatch`` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail, write_table
from spreadwatch.progress import console, say, step

app = typer.Typer(
    name="spreadwatch",
    help="Predict and block epidemic spread in Korea from carrier, roaming and home-IoT data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _print_version(value: bool) -> None:
    if value:
        from spreadwatch import __version__

        print(f"spreadwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Predict and block epidemic spread in Korea from carrier, roaming and home-IoT data."""


class RegionLevel(StrEnum):
    sido = "sido"
    sigungu = "sigungu"


class RegionFormat(StrEnum):
    csv = "csv"
    json = "json"
    geojson = "geojson"


@app.command()
def regions(
    level: Annotated[RegionLevel, typer.Option(help="Administrative level.")] = RegionLevel.sigungu,
    format: Annotated[RegionFormat, typer.Option("--format", help="Output format.")] = (
        RegionFormat.csv
    ),
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    full_geometry: Annotated[
        bool, typer.Option(help="GeoJSON with full-resolution instead of simplified polygons.")
    ] = False,
) -> None:
    """Korean regions of 2020: KOSTAT and MOIS codes, names, population, age bands, neighbours.

    CSV and JSON carry attributes and centroids; GeoJSON adds WGS84 polygons (simplified for
    maps unless --full-geometry).
    """
    from spreadwatch import regions as regions_module

    with step("Loading regions"):
        if format is RegionFormat.geojson:
            text = json.dumps(
                regions_module.to_geojson(level.value, simplified=not full_geometry),
                ensure_ascii=False,
            )
        else:
            table = regions_module.to_table(level.value)
            if format is RegionFormat.csv:
                text = table.to_csv(index=False)
            else:
                text = table.to_json(orient="records", force_ascii=False, indent=1)
    _emit(text, out)


class SourceName(StrEnum):
    cells = "cells"
    location = "location"
    roaming = "roaming"
    telemetry = "telemetry"
    households = "households"
    household_members = "household_members"
    cases = "cases"


class Rotation(StrEnum):
    none = "none"
    month = "month"
    week = "week"


@app.command()
def ingest(
    source: Annotated[SourceName, typer.Argument(help="Which raw contract the files hold.")],
    paths: Annotated[
        list[str], typer.Argument(help="CSV or Parquet files, folders of them, or globs.")
    ],
    out: Annotated[Path, typer.Option(help="The store folder (created if missing).")] = Path(
        "out/store"
    ),
    cells: Annotated[
        Path | None,
        typer.Option(help="With location: ingest this cells file first (same as `ingest cells`)."),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(help="Pseudonym key file (default ~/.config/spreadwatch/pseudonym.key)."),
    ] = None,
    rotate: Annotated[
        Rotation, typer.Option(help="Change pseudonyms every calendar month or ISO week (UTC).")
    ] = Rotation.none,
) -> None:
    """Validate raw files into a store of pseudonymised Parquet tables, with a quarantine.

    Every row is kept, quarantined with its file, row, column and reason, or removed as an exact
    duplicate. Files already in the store (same content) are skipped; an interrupted run resumes.
    Location events need the cells first; their daily flows are counted as they are kept (for
    `spreadwatch flows`). Writes OUT/quality.json.
    """
    from spreadwatch.fusion import running
    from spreadwatch.ingest import RawFileError
    from spreadwatch.ingest.batch import ingest_sources
    from spreadwatch.ingest.store import StoreBusy
    from spreadwatch.privacy.pseudonym import KeyRing, load_key

    sources: dict[str, list[Path | str]] = {source.value: list(paths)}
    if cells is not None:
        if source is not SourceName.location:
            raise fail("--cells: only used with the location source")
        sources["cells"] = [cells]
    try:
        keyring = KeyRing(load_key(key_file), rotate.value)
        reports: dict = {}
        quality = ingest_sources(
            out, sources, keyring, reports, keep_going=True, follow=running.follow
        )
    except (RawFileError, FileNotFoundError, ValueError, StoreBusy) as exc:
        raise fail(str(exc)) from exc
    failed = []
    for name in sources:
        report = reports[name]
        say(
            f"[bold]{name}[/]: {len(report.ingested)} files ingested now, "
            f"{len(report.skipped)} already in the store (skipped)"
            + (f", {len(report.failed)} unreadable" if report.failed else "")
            + "; the store holds:"
        )
        _print_accounting(quality[name])
        failed += report.failed
    say(f"wrote [bold]{out}[/]")
    if failed:
        for path, reason in failed:
            console.print(
                f"[bold red]error:[/] {reason}"
                if str(path) in reason
                else f"[bold red]error:[/] {path}: {reason}"
            )
        console.print(f"{len(failed)} file(s) not ingested; every other file was")
        raise typer.Exit(1)


@app.command()
def flows(
    events: Annotated[
        str,
        typer.Argument(
            help="Location events: an ingest store, Parquet files' folder, file or glob (or, "
            "with --spark-remote, a URI the cluster reads, e.g. s3a://bucket/events/)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/flows"),
    k: Annotated[int, typer.Option(min=1, help="k-anonymity threshold.")] = 15,
    engine: Annotated[
        str | None,
        typer.Option(
            metavar="duckdb|spark",
            help="Engine: duckdb (default; counts in NumPy kernels when a window of "
            "events fits in memory), or spark (local mode, or the cluster of --spark-remote). "
            "Both write the same tables.",
        ),
    ] = None,
    spark_remote: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Spark Connect server of a cluster, sc://HOST:PORT (implies --engine spark).",
        ),
    ] = None,
) -> None:
    """Daily origin-destination flows, hourly presence and home-to-day-region commuting (KST days);
    from an ingest store with roaming and telemetry also importations and household signals.
    Cells below the k-anonymity threshold are suppressed. From a store on DuckDB, the daily
    tables are those its ingest counted, when it counted every location file."""
    import duckdb

    from spreadwatch.fusion.engines import ENGINES, check_remote
    from spreadwatch.fusion.flows import build_flows

    engine = (engine or ("spark" if spark_remote else "duckdb")).lower()
    if engine not in ENGINES:
        raise fail(f"--engine {engine}: expected one of {', '.join(ENGINES)}")
    if spark_remote is not None:
        if engine != "spark":
            raise fail("--spark-remote runs on Spark: use it with --engine spark (or alone)")
        try:
            check_remote(spark_remote)
        except ValueError as exc:
            raise fail(f"--spark-remote: {exc}") from exc
    try:
        written = build_flows(events, out, k=k, engine=engine, spark_remote=spark_remote)
    except duckdb.OutOfMemoryException as exc:
        raise fail(
            f"DuckDB ran out of memory ({str(exc).splitlines()[0]}); raise "
            "SPREADWATCH_MEMORY_LIMIT or run on Spark (--engine spark)"
        ) from exc
    except (FileNotFoundError, ConnectionError, ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    for path in written.values():
        say(f"wrote [bold]{path}[/]")


from spreadwatch.commands.release import budget_app, release  # noqa: E402

app.command("release")(release)
app.add_typer(budget_app, name="budget")

from spreadwatch.commands.forecasting import backtest, forecast  # noqa: E402

app.command("forecast")(forecast)
app.command("backtest")(backtest)

from spreadwatch.commands.risk import early_warning, importation_risk, notices, risk  # noqa: E402

app.command("risk")(risk)
app.command("early-warning")(early_warning)
app.command("notices")(notices)
app.command("importation-risk")(importation_risk)

from spreadwatch.commands.tracing import access_app, trace, trace_index  # noqa: E402

app.command("trace")(trace)
app.command("trace-index")(trace_index)
app.add_typer(access_app, name="access")

from spreadwatch.commands.bridge import bridge_app  # noqa: E402
from spreadwatch.commands.serve import serve  # noqa: E402

app.command("serve")(serve)

app.add_typer(bridge_app, name="bridge")


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option(help="Output folder (replaced if it holds an earlier run).")
    ] = (Path("out/synth")),
    config: Annotated[
        Path | None,
        typer.Option(
            help="A SynthConfig as .toml, .yaml or .json (docs/synth.md); options below "
            "override it."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Random seed.")] = None,
    subscribers: Annotated[
        int | None, typer.Option(min=1, help="Subscribers over all carriers (the scale knob).")
    ] = None,
    events: Annotated[
        int | None,
        typer.Option(min=1, help="Target number of location events; sets --subscribers."),
    ] = None,
    days: Annotated[int | None, typer.Option(min=1, help="Days of data.")] = None,
    start_date: Annotated[
        str | None, typer.Option(help="First day, YYYY-MM-DD (default 2020-02-01).")
    ] = None,
) -> None:
    """Write a synthetic Korea as carriers and platforms deliver it, with its truth.

    raw/ holds cells, location events per carrier and day, roaming events, device telemetry and
    reported cases (about 0.1% messy rows); truth/ holds the true epidemic, subscribers, mobility
    and the messy rows planted. Deterministic by seed.
    """
    from pydantic import ValidationError

    from spreadwatch.configfile import ConfigError, format_errors, read_mapping
    from spreadwatch.synth import SynthConfig, generate

    label = str(config) if config else "options"
    try:
        data = read_mapping(config) if config else {}
        overrides = {"seed": seed, "subscribers": subscribers, "days": days}
        overrides["start_date"] = start_date
        data.update({k: v for k, v in overrides.items() if v is not None})
        settings = SynthConfig.model_validate(data)
        if events is not None:
            settings = SynthConfig.for_events(events, **settings.model_dump())
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    except ValidationError as exc:
        raise fail(format_errors(label, exc, SynthConfig)) from exc
    try:
        manifest = generate(settings, out)
    except (FileExistsError, ValueError) as exc:
        raise fail(f"{label}: {exc}") from exc
    totals = manifest.totals
    say(
        f"{totals['location_events']:,} location events of {totals['subscribers']:,} subscribers, "
        f"{totals['true_infections']:,} true infections, {totals['confirmed_cases']:,} reported"
    )
    say(f"wrote [bold]{out}[/] (see {out / 'manifest.json'})")


@app.command()
def simulate(
    config: Annotated[
        Path, typer.Argument(help="Run config (.toml, .yaml or .json), docs/model.md.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: the config's \\[output] dir).")
    ] = None,
) -> None:
    """Run the metapopulation model of a config; writes OUT/states.parquet (deterministic: the
    states; stochastic: their mean and quantiles over particles)."""
    from spreadwatch.model import ConfigError, run_simulation

    try:
        path = run_simulation(config, out)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    say(f"wrote [bold]{path}[/]")


@app.command()
def rt(
    cases: Annotated[
        Path,
        typer.Option(help="Long CSV or Parquet: region_code, date, confirmed (or region, count)."),
    ],
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    si_mean: Annotated[float, typer.Option(help="Serial interval mean, days.")] = 4.8,
    si_sd: Annotated[float, typer.Option(help="Serial interval sd, days.")] = 2.3,
    window: Annotated[int, typer.Option(min=1, help="Sliding window length, days.")] = 7,
    prior_mean: Annotated[float, typer.Option(help="Prior mean of R.")] = 5.0,
    prior_sd: Annotated[float, typer.Option(help="Prior sd of R.")] = 5.0,
    total: Annotated[
        bool, typer.Option(help="Also estimate Rt of all regions together (region 'total').")
    ] = True,
) -> None:
    """Rt per region by the renewal method of Cori et al. (posterior mean, sd and quantiles
    over sliding windows; the serial interval defaults to COVID-19's, 4.8 +- 2.3 days)."""
    from spreadwatch.infer import CasesError, read_cases, rt_table

    try:
        series = read_cases(cases)
        series.require_daily(cases, "Rt")
        if total and len(series.regions) > 1:
            series = series.with_total()
        with step(f"Estimating Rt of {len(series.regions)} series"):
            table = rt_table(series, si_mean, si_sd, window, prior_mean, prior_sd)
    except (CasesError, ValueError) as exc:
        raise fail(str(exc)) from exc
    for region, missing in sorted(series.filled.items()):
        console.print(f"[yellow]note:[/] {region}: {missing} missing date(s) counted as 0 cases")
    write_table(table, out)
    say(f"wrote [bold]{out}[/] ({table.num_rows:,} windows x regions)")


@app.command()
def calibrate(
    config: Annotated[Path, typer.Argument(help="Run config (.toml, .yaml or .json).")],
    cases: Annotated[
        Path,
        typer.Option(help="Reported cases: long CSV or Parquet (region_code, date, confirmed)."),
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    particles: Annotated[
        int | None,
        typer.Option(min=20, help="Sampler particles (default: [calibration] particles, 300)."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the sampler.")] = 0,
) -> None:
    """Fit transmission, seeding and reporting (fraction, delay) to regional daily cases by
    tempered SMC; writes posterior.parquet, summary.csv, predictive.parquet and
    calibration.html."""
    from spreadwatch.infer import CasesError
    from spreadwatch.infer.workflow import run_calibration
    from spreadwatch.model import ConfigError
    from spreadwatch.report.calibration import write_calibration_report

    try:
        result = run_calibration(config, cases, out, particles, seed)
    except (ConfigError, CasesError) as exc:
        raise fail(str(exc)) from exc
    write_calibration_report(result, out / "calibration.html")
    say(result.summary.to_string(index=False, float_format="{:,.3g}".format))
    say(f"report: [bold]{(out / 'calibration.html').resolve()}[/]")


@app.command()
def scenarios(
    config: Annotated[
        Path, typer.Argument(help="Run config with \\[\\[scenario]] entries (docs/model.md).")
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    posterior: Annotated[
        Path | None,
        typer.Option(
            help="posterior.parquet of `spreadwatch calibrate` (default: the config's "
            "own parameters)."
        ),
    ] = None,
    particles: Annotated[int, typer.Option(min=1, help="Particles (posterior draws).")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the posterior sample.")] = 0,
) -> None:
    """Compare the config's baseline with each \\[\\[scenario]]: infections averted, peak shift,
    curves and attack-rate maps side by side (stochastic engine, paired particles)."""
    from spreadwatch.model import ConfigError, load_config
    from spreadwatch.model.scenarios import compare, posterior_draws
    from spreadwatch.report.scenarios import write_scenarios_report

    try:
        run_config = load_config(config)
        draws = posterior_draws(posterior, particles, seed) if posterior is not None else None
        comparison = compare(run_config, draws, particles, str(config))
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    summary = comparison.summary()
    summary.to_csv(out / "summary.csv", index=False)
    write_table(_arrow(comparison.curves()), out / "curves.parquet")
    write_table(_arrow(comparison.attack_rates()), out / "attack_rates.parquet")
    source = str(posterior) if posterior is not None else "the config"
    report = write_scenarios_report(comparison, out / "scenarios.html", particles, source)
    say(summary[["scenario", "infections", "averted", "averted_share",
                           "peak_shift_days"]].to_string(index=False))  # fmt: skip
    say(f"report: [bold]{report.resolve()}[/]")


def _arrow(frame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


class Language(StrEnum):
    ko = "ko"
    en = "en"


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("demo-out"),
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the synthetic data.")] = 0,
    subscribers: Annotated[
        int, typer.Option(min=100, help="Synthetic subscribers (about 4 events a day each).")
    ] = 120_000,
    days: Annotated[int, typer.Option(min=14, help="Days observed (carrier data and cases).")] = 42,
    measure_day: Annotated[
        int | None,
        typer.Option(
            min=7,
            help="Day a distancing measure begins, counted from 0 (default: two thirds of --days).",
        ),
    ] = None,
    no_measure: Annotated[
        bool, typer.Option("--no-measure", help="An outbreak without any measure.")
    ] = False,
    projection: Annotated[
        int, typer.Option(min=7, help="Days projected after the data, per scenario.")
    ] = 56,
    particles: Annotated[
        int, typer.Option(min=20, help="Particles of the calibration (tempered SMC).")
    ] = 300,
    k: Annotated[int, typer.Option(min=1, help="k-anonymity threshold.")] = 15,
    lang: Annotated[
        Language, typer.Option(help="Language of report.html (the other edition is written too).")
    ] = Language.ko,
    key_file: Annotated[
        Path | None,
        typer.Option(help="Pseudonym key file (default ~/.config/spreadwatch/pseudonym.key)."),
    ] = None,
) -> None:
    """The analyst's whole loop on synthetic Korea: an outbreak from Daegu with a measure partway,
    then ingest, flows, Rt, calibration, forecasts, risk levels, scenarios, and a brief
    (report.html, its other-language edition, and report.pdf with Chromium)."""
    from spreadwatch.demo import DemoSettings, run_demo
    from spreadwatch.privacy.pseudonym import load_key

    try:
        settings = DemoSettings(
            seed=seed,
            subscribers=subscribers,
            days=days,
            measure_day=None if no_measure else measure_day or round(days * 2 / 3),
            projection_days=projection,
            particles=particles,
            k=k,
            lang=lang.value,
        )
        result = run_demo(out, settings, load_key(key_file))
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    for name, quality in result.quality.items():
        say(f"[bold]{name}[/]")
        _print_accounting(quality)
    say(f"report: [bold]{result.report.resolve()}[/]")
    if result.pdf is not None:
        say(f"pdf: [bold]{result.pdf.resolve()}[/]")
    say(f"dashboard and API: [bold]spreadwatch serve {out}[/] (then open http://127.0.0.1:8000/)")


def _print_accounting(quality: dict) -> None:
    """Rows in = kept + quarantined + duplicates, and the quarantine by reason."""
    say(
        f"rows in {quality['rows_in']:,} = kept {quality['rows_kept']:,} + quarantined "
        f"{quality['rows_quarantined']:,} + duplicates {quality['duplicates_removed']:,}"
    )
    for reason, count in sorted(quality["quarantined_by_reason"].items()):
        say(f"  quarantined {count:>8,}  {reason}")


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        say(f"wrote [bold]{out}[/]")


def main() -> None:
    """Entry point of the ``spreadwatch`` script: file-system errors are reported, not traced."""
    try:
        app()
    except OSError as exc:  # e.g. --out names an existing file, a folder is not writable
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(f"[bold red]error:[/] {where}{exc.strerror or exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
