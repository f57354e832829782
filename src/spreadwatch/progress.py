"""Progress display for long work: Rich bars on a terminal, silent when ``quiet`` or not a TTY."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

T = TypeVar("T")

#: Progress, notes and warnings go to standard error ...
console = Console(stderr=True, soft_wrap=True)
#: ... and results (what was written, summaries) to standard output.
results = Console(soft_wrap=True, highlight=False)


def say(*objects: object, **options: object) -> None:
    """Print a result on standard output (Rich markup allowed)."""
    results.print(*objects, **options)


def _enabled() -> bool:
    return os.environ.get("SPREADWATCH_QUIET", "") not in ("1", "true")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not _enabled(),
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar labelled ``description``."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with _progress() as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Show a spinner with elapsed time while a single step runs."""
    with _progress() as progress:
        task = progress.add_task(description, total=1)
        yield
        progress.update(task, completed=1)


@contextmanager
def meter(description: str, total: float) -> Iterator[Callable[[float], None]]:
    """A bar for work measured on a scale to ``total``; call the yielded function with the
    amount completed so far. An empty ``description`` shows nothing."""
    if not description:
        yield lambda completed: None
        return
    with _progress() as progress:
        task = progress.add_task(description, total=total)
        yield lambda completed: progress.update(task, completed=completed)
        progress.update(task, completed=total)
