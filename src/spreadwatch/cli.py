"""The ``spreadwatch`` command line."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from spreadwatch import allocator
from spreadwatch.progress import console

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


#: Every command and command group, in the order ``--help`` lists them: (module in
#: :mod:`spreadwatch.commands`, its ``COMMANDS`` and ``GROUPS``). A module imports only what
#: its options need; a command imports the rest when it runs, so ``--help`` stays fast.
COMMAND_MODULES = (
    "data",
    "ingest",
    "release",
    "forecasting",
    "risk",
    "air",
    "tracing",
    "serve",
    "bridge",
    "model",
    "demo",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"spreadwatch.commands.{name}")
        for command, function in getattr(module, "COMMANDS", {}).items():
            app.command(command)(function)
        for group, sub_app in getattr(module, "GROUPS", {}).items():
            app.add_typer(sub_app, name=group)


_register()


def main() -> None:
    """Entry point of the ``spreadwatch`` script: file-system errors are reported, not traced."""
    allocator.settle()
    try:
        app()
    except OSError as exc:  # e.g. --out names an existing file, a folder is not writable
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(f"[bold red]error:[/] {where}{exc.strerror or exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
