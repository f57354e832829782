"""``spreadwatch trace`` and ``spreadwatch access``: exposure tracing behind a role, audited."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail, write_table
from spreadwatch.progress import console, say

TOKEN_ENV = "SPREADWATCH_TOKEN"
ACCESS_ENV = "SPREADWATCH_ACCESS_DIR"
AccessDir = Annotated[
    Path,
    typer.Option(
        "--access",
        envvar=ACCESS_ENV,
        help=f"Folder of the token registry and audit log (or ${ACCESS_ENV}).",
    ),
]

access_app = typer.Typer(
    help="Tokens and roles (public, analyst, tracer, admin) and the audit log.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def parse_time(text: str, option: str) -> dt.datetime:
    """An ISO time; without a zone it is taken as Korea time (KST)."""
    from spreadwatch.tracing import TraceError, korea_time

    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TraceError(
            f"{option}: expected a time like 2020-02-20T09:00 (KST) or ...Z, got {text!r}"
        ) from None
    return korea_time(moment)


def _token(token_file: Path | None) -> str | None:
    """The token from ``--token-file`` or the environment (``AccessDenied`` if unreadable)."""
    from spreadwatch.access import AccessDenied

    if token_file is not None:
        try:
            return token_file.read_text().strip()
        except OSError as exc:
            raise AccessDenied(f"--token-file: {exc.strerror or exc}") from exc
    return os.environ.get(TOKEN_ENV)


def _output(out: Path) -> Path:
    if out.suffix not in (".csv", ".parquet"):
        raise fail(f"--out: expected a .parquet or .csv file name, got {out.name!r}")
    return out


def trace(
    store: Annotated[Path, typer.Argument(help="Ingest store with location events and cells.")],
    subscriber: Annotated[str, typer.Option(help="Pseudonym of the index case.")],
    start: Annotated[str, typer.Option("--from", help="Start, ISO time (KST if no zone).")],
    end: Annotated[str, typer.Option("--to", help="End, ISO time (KST if no zone).")],
    out: Annotated[Path, typer.Option(help="Contacts file (.parquet or .csv).")],
    access: AccessDir,
    tolerance: Annotated[
        float, typer.Option(min=0, max=720, help="Time tolerance, minutes.")
    ] = 15.0,
    radius: Annotated[
        float, typer.Option(min=0, max=50_000, help="Cells this close are one place, metres.")
    ] = 250.0,
    max_dwell: Annotated[
        float, typer.Option(min=1, max=1440, help="Longest stay one event stands for, minutes.")
    ] = 30.0,
    token_file: Annotated[
        Path | None, typer.Option(help=f"File holding the token (default: ${TOKEN_ENV}).")
    ] = None,
) -> None:
    """Exposure tracing: the pseudonyms that shared a place with the index case between --from
    and --to, across carriers, with contact time. Needs a tracer (or admin) token; every
    query, granted or refused, is written to the audit log."""
    import duckdb

    from spreadwatch.access import AccessDenied, AccessError, AuditLog, TokenRegistry, require
    from spreadwatch.tracing import TraceError, TraceQuery
    from spreadwatch.tracing import trace as run_trace

    audit = AuditLog(access)
    params = {
        "store": str(store),
        "subscriber": subscriber,
        "from": start,
        "to": end,
        "tolerance_min": tolerance,
        "radius_m": radius,
        "max_dwell_min": max_dwell,
    }
    _output(out)
    registry, actor, role = TokenRegistry(access), "unknown", "none"

    def record(outcome: str) -> None:
        try:
            audit.append(actor, role, "trace", params, outcome)
        except (OSError, ValueError) as exc:
            raise fail(f"{audit.path}: cannot write the audit log ({exc}); nothing done") from exc

    try:
        token = _token(token_file)
        holder = registry.holder(token)
        actor, role = holder.name, holder.role
        require(holder, "trace")
    except (AccessDenied, AccessError) as exc:
        record(f"refused: {exc}")
        raise fail(f"trace refused: {exc}") from exc
    try:
        query = TraceQuery(
            subscriber=subscriber,
            start=parse_time(start, "--from"),
            end=parse_time(end, "--to"),
            tolerance=dt.timedelta(minutes=tolerance),
            radius_m=radius,
            max_dwell=dt.timedelta(minutes=max_dwell),
        )
        result = run_trace(store, query)
    except (TraceError, duckdb.Error) as exc:
        record(f"failed: {exc}")
        raise fail(str(exc)) from exc
    contacts = result.contacts
    try:
        write_table(contacts, out)
    except OSError as exc:
        record(f"failed: cannot write {out}: {exc}")
        raise fail(f"cannot write {out}: {exc}") from exc
    record(f"granted: {contacts.num_rows} contacts written to {out}")
    if result.index_stays == 0:
        console.print(f"[yellow]no events of {subscriber} in the window[/]")
    console.print(
        f"wrote [bold]{out}[/]: {contacts.num_rows:,} contacts of {subscriber} "
        f"({result.index_stays:,} stays at {result.index_places:,} cells)"
    )


def trace_index(
    store: Annotated[Path, typer.Argument(help="Ingest store with location events and cells.")],
    force: Annotated[bool, typer.Option(help="Rebuild even if the index is current.")] = False,
) -> None:
    """Build (or refresh) the tracing index of a store: every location event with its next
    event, by day, sorted by place and by pseudonym. `trace` builds it when missing or out of
    date; run this after an ingest so that the first trace is fast."""
    from spreadwatch.tracing import TraceError, build_index, is_current

    try:
        if not force and is_current(store):
            say(f"{store}: the tracing index is current")
            return
        folder = build_index(store)
    except TraceError as exc:
        raise fail(str(exc)) from exc
    say(f"wrote [bold]{folder}[/]")


@access_app.command("grant")
def grant(
    name: Annotated[str, typer.Argument(help="Who holds the token (a person or a service).")],
    role: Annotated[str, typer.Option(help="public, analyst, tracer or admin.")],
    access: AccessDir,
) -> None:
    """Issue a token (printed once; only its hash is kept). Replaces NAME's earlier token."""
    from spreadwatch.access import AccessError, AuditLog, TokenRegistry

    try:
        token = TokenRegistry(access).grant(name, role)
    except AccessError as exc:
        raise fail(str(exc)) from exc
    AuditLog(access).append("local", "admin", "grant", {"name": name, "role": role}, "granted")
    say(f"token for [bold]{name}[/] ({role}); keep it, it is not shown again:")
    print(token)


@access_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="Holder whose token to revoke.")],
    access: AccessDir,
) -> None:
    """Revoke NAME's token."""
    from spreadwatch.access import AuditLog, TokenRegistry

    if not TokenRegistry(access).revoke(name):
        raise fail(f"{name!r} holds no token in {access}")
    AuditLog(access).append("local", "admin", "revoke", {"name": name}, "revoked")
    say(f"revoked the token of [bold]{name}[/]")


@access_app.command("list")
def list_grants(access: AccessDir) -> None:
    """The token holders and their roles."""
    from spreadwatch.access import TokenRegistry

    for g in TokenRegistry(access).grants():
        say(f"{g.name}\t{g.role}\t{g.granted_at}")


@access_app.command("repair-log")
def repair_log(
    access: AccessDir,
    by: Annotated[str, typer.Option(help="Who repairs (recorded in the log).")] = "admin",
) -> None:
    """Set aside an unreadable tail of the audit log (a write torn by a crash or a full disk):
    moved to audit.unreadable-TIME.jsonl, and the repair recorded in the hash chain."""
    from spreadwatch.access import AuditLog

    log = AuditLog(access)
    try:
        moved = log.set_aside_unreadable_tail(by)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if moved:
        say(f"{log.path}: set aside {moved} unreadable line(s); the repair is recorded")
    else:
        say(f"{log.path}: nothing to repair")


@access_app.command("audit")
def audit(
    access: AccessDir,
    tail: Annotated[int, typer.Option(min=0, help="Show the last N records.")] = 20,
) -> None:
    """Verify the audit log's hash chain and show its last records."""
    from spreadwatch.access import AuditLog

    log = AuditLog(access)
    broken = log.verify()
    if broken is not None:
        raise fail(f"{log.path}: the hash chain breaks at line {broken} (edited or removed)")
    for r in log.records()[-tail:] if tail else []:
        say(f"{r.at}  {r.actor} ({r.role})  {r.action}  {r.outcome}", markup=False)
    say(f"{log.path}: hash chain intact ({len(log.records()):,} records)")


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {"trace": trace, "trace-index": trace_index}
GROUPS = {"access": access_app}
