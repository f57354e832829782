"""``spreadwatch release``: differentially private OD flows and presence, charged to a signed
ledger; ``spreadwatch budget``: show, verify and raise the budgets in it."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import EngineOption, SparkRemoteOption, chosen_engine, fail
from spreadwatch.progress import say, step

KeyFile = Annotated[
    Path | None,
    typer.Option(
        help="Pseudonym key file: the ledger is signed with a key derived from it (default "
        "$SPREADWATCH_PSEUDONYM_KEY, else ~/.config/spreadwatch/pseudonym.key)."
    ),
]


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
            help="Total epsilon of a new data set over all its releases (default 5), or a lower "
            "total for an existing one; raising it is `spreadwatch budget raise`."
        ),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="Privacy-budget ledger (SQLite) of loose Parquet files; default: "
            "privacy-ledger.sqlite in the folder that holds OUT. A store's budget is always "
            "the store's own ledger."
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
            help="Charge loose Parquet files to this data-set name instead of the hash of "
            "their contents (files that keep growing; a store is always its own data set)."
        ),
    ] = None,
    key_file: KeyFile = None,
    engine: EngineOption = None,
    spark_remote: SparkRemoteOption = None,
    show: Annotated[
        bool, typer.Option("--show", help="Print the ledger (with --ledger) and exit.")
    ] = False,
) -> None:
    """Release OD flows and hourly presence with differential privacy (OpenDP, discrete Laplace).

    Each subscriber adds at most --max-trips-per-day trips and --max-hours-per-day presence cells
    per KST date; every region pair (and region-hour) of every date from --start to --end is
    released, observed or not. The release is charged to the privacy-budget ledger first and
    refused, with nothing written, if it would exceed the data set's total budget or if the
    ledger does not verify (its entries are signed with the key holder's key).

    Releasing from an ingest store charges the store's own ledger (STORE/privacy-ledger.sqlite):
    the budget belongs to the store, not to a ledger file or a name.
    `spreadwatch budget show STORE` prints it. With --engine spark the bounding runs on Spark,
    next to the events; only the bounded counts come back, to be noised and charged here.
    """
    if show:
        if ledger is None:
            raise fail("--show needs --ledger PATH (or: spreadwatch budget show PATH)")
        show_budget(ledger, key_file)
        return
    if events is None:
        raise fail("give the events to release (an ingest store, Parquet file, folder or glob)")
    if epsilon is None:
        raise fail("--epsilon is required (a number greater than 0)")
    from spreadwatch.release import dp
    from spreadwatch.release.ledger import BudgetExceeded

    key = _key(key_file)
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
    engine = chosen_engine(engine, spark_remote)
    chosen = list(dp.TABLES) if tables is ReleaseTables.both else [tables.value]
    try:
        with step(f"Releasing {' and '.join(chosen)} at epsilon {epsilon:g}"):
            result = dp.release(
                events,
                out,
                epsilon,
                keys,
                key,
                tables=chosen,  # type: ignore[arg-type]
                bounds=bounds,
                ledger_path=ledger,
                budget=budget,
                note=note,
                dataset=dataset,
                engine=engine,  # type: ignore[arg-type]  # checked by chosen_engine
                spark_remote=spark_remote,
            )
    except BudgetExceeded as exc:
        raise fail(str(exc)) from exc
    except (FileNotFoundError, FileExistsError, ValueError, ConnectionError, RuntimeError) as exc:
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


def _key(key_file: Path | None) -> bytes:
    from spreadwatch.privacy.pseudonym import load_key

    try:
        return load_key(key_file, create=False)
    except (OSError, ValueError) as exc:
        raise fail(
            f"the privacy ledger is signed with the pseudonym key, and it cannot be read: {exc} "
            "(give --key-file or set SPREADWATCH_PSEUDONYM_KEY)"
        ) from None


def _ledger(location: Path, key_file: Path | None):
    """The ledger at ``location``: a store (its own ledger) or a ledger file."""
    from spreadwatch.release.chain import is_store, ledger_key, store_ledger_path
    from spreadwatch.release.ledger import Ledger

    path = store_ledger_path(location) if is_store(location) else location
    if not path.exists() and not is_store(location):
        raise fail(f"{location}: no such ledger (give an ingest store or a ledger file)")
    return Ledger(path, ledger_key(_key(key_file)))


Location = Annotated[
    Path, typer.Argument(help="An ingest store (its own ledger) or a privacy-ledger file.")
]

budget_app = typer.Typer(
    help="Privacy budgets: show and verify a ledger; raise a data set's total (an "
    "administrator's recorded act).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@budget_app.command("show")
def show_budget(location: Location, key_file: KeyFile = None) -> None:
    """Every data set's budget, its charged tables and its budget changes, after verifying
    the ledger (exit code 2 when it does not verify)."""
    from spreadwatch.release.ledger import LedgerError

    ledger = _ledger(location, key_file)
    try:
        entries = ledger.verify()
        _print_ledger(ledger, entries)
    except LedgerError as exc:
        raise fail(str(exc)) from exc


@budget_app.command("verify")
def verify_budget(location: Location, key_file: KeyFile = None) -> None:
    """Check every entry's MAC and the recorded head; exit code 2, naming the first bad entry,
    when the ledger was changed outside spreadwatch."""
    from spreadwatch.release.ledger import LedgerError

    ledger = _ledger(location, key_file)
    try:
        count = ledger.verify()
    except LedgerError as exc:
        raise fail(str(exc)) from exc
    say(f"{ledger.path}: {count} entries, every one signed and in order")


@budget_app.command("raise")
def raise_budget(
    location: Location,
    to: Annotated[float, typer.Option(help="The new total epsilon of the data set.")],
    reason: Annotated[str, typer.Option(help="Why: kept in the ledger with your name.")],
    dataset: Annotated[
        str | None,
        typer.Option(help="The data set (default: the store's, or the ledger's only one)."),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who raises it (default: the login name).")] = None,
    key_file: KeyFile = None,
) -> None:
    """Change a data set's total budget, recorded in the signed ledger with who, when and
    why. Releases can never raise a total themselves."""
    import getpass

    from spreadwatch.release.ledger import LedgerError

    ledger = _ledger(location, key_file)
    try:
        if dataset is None:
            known = [s.dataset_id for s in ledger.datasets()]
            if len(known) != 1:
                raise LedgerError(
                    f"{ledger.path} holds {len(known)} data sets ({', '.join(known) or 'none'}): "
                    "name one with --dataset"
                )
            dataset = known[0]
        change = ledger.set_budget(dataset, to, reason, by or getpass.getuser())
    except (LedgerError, ValueError) as exc:
        raise fail(str(exc)) from exc
    say(
        f"data set {dataset}: total {change.old_budget:g} -> {change.new_budget:g}, by "
        f"{change.by} ({change.reason}); entry {change.id} of {ledger.path}"
    )


def _print_ledger(ledger, entries: int) -> None:
    """Every data set's budget, its charged tables and budget changes, as plain text on
    standard output."""
    out = typer.echo
    statuses = ledger.datasets()
    if not statuses:
        out(f"{ledger.path}: no releases")
        return
    out(f"ledger {ledger.path}: {entries} entries, verified")
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
        for c in ledger.budget_changes(status.dataset_id):
            out(
                f"  #{c.id:<4} {c.changed_at[:19]}Z  budget {c.old_budget:g} -> "
                f"{c.new_budget:g} by {c.by}: {c.reason}"
            )


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {"release": release}
GROUPS = {"budget": budget_app}
