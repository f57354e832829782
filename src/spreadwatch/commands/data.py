"""``spreadwatch regions`` and ``spreadwatch synth``: the built-in geography and the synthetic
world, the data every other command can start from."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail
from spreadwatch.progress import say, step


class RegionLevel(StrEnum):
    sido = "sido"
    sigungu = "sigungu"


class RegionFormat(StrEnum):
    csv = "csv"
    json = "json"
    geojson = "geojson"


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
    events_format: Annotated[
        str | None,
        typer.Option(
            metavar="csv|parquet",
            help="Location event files as CSV (default, as carriers deliver them) or Parquet "
            "(a tenth of the size, for deliveries of a billion events).",
        ),
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
        overrides |= {"start_date": start_date, "events_format": events_format}
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


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        say(f"wrote [bold]{out}[/]")


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {"regions": regions, "synth": synth}
