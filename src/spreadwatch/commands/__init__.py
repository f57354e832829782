"""Command-line commands that live in their own modules (registered in ``spreadwatch.cli``)."""

from __future__ import annotations

import typer

from spreadwatch.progress import console


def fail(message: str) -> typer.Exit:
    """Print an error in red and return the exit (code 2) to raise."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)
