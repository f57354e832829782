"""``spreadwatch demo``: the whole loop on synthetic Korea, with its brief."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail, print_accounting
from spreadwatch.progress import say


class Language(StrEnum):
    ko = "ko"
    en = "en"


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
        print_accounting(quality)
    say(f"report: [bold]{result.report.resolve()}[/]")
    if result.pdf is not None:
        say(f"pdf: [bold]{result.pdf.resolve()}[/]")
    say(f"dashboard and API: [bold]spreadwatch serve {out}[/] (then open http://127.0.0.1:8000/)")


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {"demo": demo}
