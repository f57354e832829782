"""The ``spreadwatch`` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.progress import console

app = typer.Typer(
    name="spreadwatch",
    help="Predict and block epidemic spread in Korea from carrier, roaming and home-IoT data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Predict and block epidemic spread in Korea from carrier, roaming and home-IoT data."""
    if version:
        from spreadwatch import __version__

        console.print(f"spreadwatch {__version__}")
        raise typer.Exit()


class RegionLevel(StrEnum):
    sido = "sido"
    sigungu = "sigungu"


class RegionFormat(StrEnum):
    csv = "csv"
    json = "json"
    geojson = "geojson"


def fail(message: str) -> typer.Exit:
    """Print an error in red and return the exit to raise."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


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

    with _status("Loading regions"):
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


ingest_app = typer.Typer(
    help="Validate raw carrier files into pseudonymised tables (one subcommand per source).",
    no_args_is_help=True,
)
app.add_typer(ingest_app, name="ingest")


@ingest_app.command("location")
def ingest_location(
    paths: Annotated[
        list[Path], typer.Argument(help="Location-event CSV files or folders of them.")
    ],
    cells: Annotated[Path, typer.Option(help="Cells CSV (carrier,cell_id,lat,lon).")],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/ingest"),
    key_file: Annotated[
        Path | None,
        typer.Option(help="Pseudonym key file (default ~/.config/spreadwatch/pseudonym.key)."),
    ] = None,
) -> None:
    """Validate location events, place cells in si-gun-gu, pseudonymise subscribers.

    Writes events.parquet, cells.parquet, quarantine.parquet (every rejected row with its file,
    row, column and reason) and quality.json (rows in = kept + quarantined + duplicates).
    """
    from spreadwatch.ingest import RawFileError
    from spreadwatch.pipeline import ingest_location
    from spreadwatch.privacy.pseudonym import load_key

    try:
        summary = ingest_location(cells, paths, out, load_key(key_file))
    except (RawFileError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"rows in {summary.rows_in:,} = kept {summary.rows_kept:,} + quarantined "
        f"{summary.rows_quarantined:,} + duplicates {summary.duplicates_removed:,}"
    )
    for reason, count in sorted(summary.quarantined_by_reason.items()):
        console.print(f"  quarantined {count:>8,}  {reason}")
    console.print(f"wrote [bold]{out}[/]")


@app.command()
def flows(
    events: Annotated[Path, typer.Argument(help="events.parquet written by `ingest`.")],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/flows"),
    k: Annotated[int, typer.Option(min=1, help="k-anonymity threshold.")] = 15,
) -> None:
    """Daily origin-destination flows, hourly presence and home-to-day-region commuting (KST days),
    cells below the k-anonymity threshold suppressed."""
    from spreadwatch.pipeline import build_flows

    if not events.exists():
        raise fail(f"{events}: no such file")
    for path in build_flows(events, out, k=k).values():
        console.print(f"wrote [bold]{path}[/]")


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote [bold]{out}[/]")


def _status(message: str):
    from spreadwatch.progress import step

    return step(message)


def main() -> None:
    """Entry point of the ``spreadwatch`` script."""
    app()


if __name__ == "__main__":
    main()
