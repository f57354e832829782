"""``spreadwatch simulate``, ``models``, ``rt``, ``calibrate`` and ``scenarios``: the
metapopulation model and its presets, its calibration to reported cases, and what-if
scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail, write_table
from spreadwatch.progress import console, say, step


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


def models() -> None:
    """The model presets a run config can name (``[model] preset``): compartments, the
    parameters they need and their transitions, as docs/model.md declares them."""
    from rich.table import Table

    from spreadwatch.model.declared.presets import PRESETS
    from spreadwatch.model.declared.spec import ModelSection

    table = Table("preset", "compartments", "parameters", "transitions", show_lines=True)
    for name, preset in PRESETS.items():
        names = set()
        for transition in ModelSection.transitions_of(name):
            names |= transition.parameter_names
        if "beta" in names:
            names = (names - {"beta"}) | {"r0 or beta"}
        lines = [
            f"{t.source} -> {t.to}: {t.rate}"
            + (f" x force of ({', '.join(t.infectious)})" if t.kind == "contact" else "")
            for t in ModelSection.transitions_of(name)
        ]
        table.add_row(
            f"[bold]{name}[/]\n{preset['description']}",
            ", ".join(preset["compartments"]),
            "\n".join(sorted(names)),
            "\n".join(lines),
        )
    console.print(table)


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


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {
    "simulate": simulate,
    "models": models,
    "rt": rt,
    "calibrate": calibrate,
    "scenarios": scenarios,
}
