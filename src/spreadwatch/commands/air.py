"""``spreadwatch air``: fine dust, from stations and purifiers to population exposure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail
from spreadwatch.progress import console, say

air_app = typer.Typer(
    help="Fine dust (PM2.5): the hourly field per si-gun-gu from the stations, the population's "
    "exposure where people are, the next 24 hours' forecast and the Korean grades.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@air_app.command()
def assess(
    store: Annotated[
        Path,
        typer.Argument(
            help="Ingest store with air_stations and air_readings (telemetry "
            "and households too, for the purifiers)."
        ),
    ],
    flows: Annotated[
        Path | None,
        typer.Option(
            help="Folder of spreadwatch flows (presence, commuting); without it, "
            "people are counted at home all day."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/air"),
    ownership: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of homes with an air purifier.")
    ] = 0.6,
    time_indoors: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of people's hours spent indoors.")
    ] = 0.9,
    forecast: Annotated[bool, typer.Option(help="Forecast the next 24 hours.")] = True,
) -> None:
    """The hourly PM2.5 field per si-gun-gu (kriged from the stations, with its uncertainty),
    the population's exposure where people are hour by hour (carrier presence, indoor air from
    the purifiers) against the census at home, the daily shares of people above Korea's
    standard (35 ug/m3) and the WHO guideline (15), and the next 24 hours' forecast.

    Writes OUT/field.parquet, exposure.parquet, daily.parquet, forecast.parquet and air.json."""
    from spreadwatch.air.run import AirInputError
    from spreadwatch.air.run import assess as run

    if not (store / "manifest.sqlite").exists():
        raise fail(f"{store}: not an ingest store (spreadwatch ingest ... --out {store})")
    if flows is not None and not (flows / "presence.parquet").exists():
        raise fail(f"--flows {flows}: no presence.parquet (spreadwatch flows STORE --out {flows})")
    try:
        summary = run(store, flows, out, ownership, time_indoors, forecast)
    except AirInputError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"PM2.5 field: {summary.first_hour} to {summary.last_hour} UTC from {summary.stations} "
        f"stations; {summary.purifier_readings:,} purifier readings (indoor/outdoor "
        f"{summary.indoor_ratio:.2f})"
    )
    console.print(
        f"population-weighted PM2.5 breathed {summary.pm25_weighted_dynamic:.1f} ug/m3 "
        f"(census at home, outdoors: {summary.pm25_weighted_static:.1f})"
    )
    if summary.share_above:
        console.print(
            "mean daily share of people above Korea's standard "
            f"{summary.share_above['korea']:.1%}, the WHO guideline "
            f"{summary.share_above['who']:.1%}"
        )
    if summary.forecast_peak:
        peak = summary.forecast_peak
        console.print(
            f"next 24 h: highest median {peak['pm25_median']} ug/m3 in {peak['region_code']} "
            f"({peak['hours_ahead']} h ahead)"
        )
    say(f"wrote [bold]{out}[/]")


GROUPS = {"air": air_app}
