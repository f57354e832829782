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
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}")
    if summary.hours_interpolated:
        console.print(
            f"[yellow]note:[/] {summary.hours_interpolated} hours had too few station readings "
            "to krige: filled in time between their neighbours (field.parquet: interpolated)"
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


@air_app.command()
def status(
    folder: Annotated[Path, typer.Argument(help="Output folder of `spreadwatch air assess`.")],
    region: Annotated[
        str | None, typer.Option(help="A si-gun-gu code: its hours ahead too.")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=229, help="Districts listed.")] = 10,
) -> None:
    """The latest hour's fine dust: districts by Korean grade, the dustiest ones, the next 24
    hours' peak (and with --region, that district's)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from spreadwatch import regions
    from spreadwatch.air.grades import GRADES_EN, GRADES_KO
    from spreadwatch.alerts.air import read_air_statuses

    frame = regions.load("sigungu").regions
    names = frame[["code"]].assign(  # "Seo-gu, Gwangju": a name alone is often not one place
        name_en=frame["name_en"] + ", " + frame["sido_name_en"],
        name_ko=frame["sido_name_ko"] + " " + frame["name_ko"],
    )
    if not (folder / "field.parquet").exists():
        raise fail(f"{folder}: no field.parquet (spreadwatch air assess STORE --out {folder})")
    if region is not None and region not in set(names["code"]):
        raise fail(f"--region {region}: not a si-gun-gu code (see spreadwatch regions)")
    try:
        statuses = read_air_statuses(folder, names)
    except ValueError as exc:
        raise fail(str(exc)) from None
    hour = next(iter(statuses.values())).ts
    counts = pd.Series([s.grade for s in statuses.values()]).value_counts()
    grades = ", ".join(
        f"{GRADES_KO[g]} {GRADES_EN[g]} {int(counts.get(g, 0))}" for g in range(len(GRADES_EN))
    )
    console.print(f"{hour} (UTC), {len(statuses)} si-gun-gu: {grades}")
    worst = sorted(statuses.values(), key=lambda s: -s.pm25)[:top]
    for s in worst:
        peak = (
            f"; next 24 h up to {s.peak_pm25:.0f} ({GRADES_EN[s.peak_grade]}, "
            f"{s.peak_hours_ahead} h ahead)"
            if s.peak_pm25 is not None and s.peak_grade is not None
            else ""
        )
        console.print(
            f"  {s.region_code} {s.name_en} ({s.name_ko}): {s.pm25:.0f} ug/m3 "
            f"{GRADES_EN[s.grade]}{peak}"
        )
    if region is not None:
        forecast = folder / "forecast.parquet"
        if not forecast.exists():
            raise fail(f"{folder}: no forecast.parquet (air assess without --no-forecast)")
        rows = pq.read_table(forecast).to_pandas()
        mine = rows[rows["region_code"] == region].sort_values("horizon")
        s = statuses[region]
        console.print(f"{region} {s.name_en}: now {s.pm25:.1f} ug/m3 ({GRADES_EN[s.grade]})")
        columns = ["horizon", "ts", "median", "q0.05", "q0.95"]
        for ahead, ts, median, low, high in mine[columns].itertuples(index=False, name=None):
            console.print(
                f"  +{ahead:>2} h {pd.Timestamp(ts):%Y-%m-%d %H:00} UTC  median {median:6.1f}  "
                f"90% {low:6.1f}-{high:6.1f}"
            )


GROUPS = {"air": air_app}
