"""``spreadwatch release``: differentially private OD flows and presence, charged to a ledger."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail
from spreadwatch.progress import say, step


class ReleaseTables(StrEnum):
    od_flows = "od_flows"
    presence = "presence"
    both = "both"


def _parse_date(option: str, text: str | None) -> date:
    if text is None:
        raise fail(
            f"{option} is required: the released dates are a public range given by you, never "
            "read from the data (give --start and --end as YYYY-MM-DD, KST dates, inclusive)"
        )
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: expected a date like 2020-02-01, got {text!r}") from None


def release(
    events: Annotated[
        Path | None,
        typer.Argument(
            help="Location events: an ingest store, a folder of Parquet files, a file or a glob."
        ),
    ] = None,
    epsilon: Annotated[
        float | None,
        typer.Option(
            help="Epsilon charged by this release, per subscriber-day; split evenly over the "
            "tables released."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Output folder (must not hold a release already).")
    ] = Path("out/release"),
    start: Annotated[
        str | None, typer.Option(help="First released date (KST), YYYY-MM-DD. Required.")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last released date (KST), YYYY-MM-DD. Required.")
    ] = None,
    tables: Annotated[ReleaseTables, typer.Option(help="Which tables to release.")] = (
        ReleaseTables.both
    ),
    budget: Annotated[
        float | None,
        typer.Option(
            help="Total epsilon of the data set over all releases (stored in the ledger; "
            "default: the stored total, or 5 for a new data set)."
        ),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="Privacy-budget ledger (SQLite); default: privacy-ledger.sqlite in the folder "
            "that holds OUT."
        ),
    ] = None,
    max_trips_per_day: Annotated[
        int, typer.Option(help="Trips a subscriber adds to the OD table per day, at most.")
    ] = 4,
    max_hours_per_day: Annotated[
        int,
        typer.Option(help="(hour, region) cells a subscriber adds to presence per day, at most."),
    ] = 24,
    regions: Annotated[
        Path | None,
        typer.Option(
            help="Regions CSV (code,population[,name,lat,lon]) of the released key set; "
            "default Korea's 229 si-gun-gu."
        ),
    ] = None,
    note: Annotated[str, typer.Option(help="Why this release: kept in the ledger.")] = "",
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Charge this data-set name instead of the hash of the input files (for a "
            "store that keeps growing)."
        ),
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Print the ledger (with --ledger) and exit.")
    ] = False,
) -> None:
    """Release OD flows and hourly presence with differential privacy (OpenDP, discrete Laplace).

    Each subscriber adds at most --max-trips-per-day trips and --max-hours-per-day presence cells
    per KST date; every region pair (and region-hour) of every date from --start to --end is
    released, observed or not. The release is charged to the privacy-budget ledger first and
    refused, with nothing written, if it would exceed the data set's total budget.
    `spreadwatch release --ledger PATH --show` prints the ledger.
    """
    from spreadwatch.privacy.ledger import Ledger

    if show:
        if ledger is None:
            raise fail("--show needs --ledger PATH")
        if not ledger.exists():
            raise fail(f"{ledger}: no such ledger")
        try:
            _print_ledger(Ledger(ledger))
        except ValueError as exc:
            raise fail(str(exc)) from exc
        return
    if events is None:
        raise fail("give the events to release (an ingest store, Parquet file, folder or glob)")
    if epsilon is None:
        raise fail("--epsilon is required (a number greater than 0)")
    from spreadwatch.privacy import dp
    from spreadwatch.privacy.ledger import BudgetExceeded

    try:
        dp.check_epsilon(epsilon)
        if budget is not None and not budget > 0:
            raise ValueError(f"--budget must be greater than 0, got {budget}")
        bounds = dp.Bounds(max_trips_per_day, max_hours_per_day)
    except ValueError as exc:
        raise fail(str(exc).replace("epsilon must", "--epsilon must")) from exc
    first = _parse_date("--start", start)
    last = _parse_date("--end", end)
    try:
        region_codes = _region_codes(regions)
        keys = dp.KeySpace(region_codes, first, last)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    chosen = list(dp.TABLES) if tables is ReleaseTables.both else [tables.value]
    try:
        with step(f"Releasing {' and '.join(chosen)} at epsilon {epsilon:g}"):
            result = dp.release(
                events,
                out,
                epsilon,
                keys,
                tables=chosen,  # type: ignore[arg-type]
                bounds=bounds,
                ledger_path=ledger,
                budget=budget,
                note=note,
                dataset=dataset,
            )
    except BudgetExceeded as exc:
        raise fail(str(exc)) from exc
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise fail(str(exc)) from exc
    for name, path in result.paths.items():
        mechanism = result.mechanisms[name]
        say(
            f"wrote [bold]{path}[/]: epsilon {mechanism.epsilon:g}, sensitivity "
            f"{mechanism.sensitivity}, discrete Laplace scale {mechanism.scale:g}"
        )
    say(
        f"data set {result.dataset_id}: spent {result.spent:g} of {result.total_budget:g} "
        f"(ledger {result.ledger})"
    )


def _region_codes(csv: Path | None) -> tuple[str, ...]:
    from spreadwatch.model.errors import ConfigError
    from spreadwatch.model.geography import load_regions

    try:
        return load_regions(csv).codes
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc


def _print_ledger(ledger) -> None:
    """Every data set's budget and its charged tables, as plain text on standard output."""
    out = typer.echo
    statuses = ledger.datasets()
    if not statuses:
        out(f"{ledger.path}: no releases")
        return
    out(f"ledger {ledger.path}")
    for status in statuses:
        out(
            f"data set {status.dataset_id}: spent {status.spent:g} of {status.total_budget:g}, "
            f"{status.remaining:g} left, {status.releases} table(s) released"
        )
        for e in ledger.entries(status.dataset_id):
            note = f"  note: {e.note}" if e.note else ""
            out(
                f"  #{e.id:<4} {e.created_at[:19]}Z  {e.table_name:<9} epsilon {e.epsilon:<8g} "
                f"{e.status:<9} release {e.release_id[:12]}  {e.output}{note}"
            )
