"""Files that survive a crash: written whole under a temporary name, then renamed, so a reader
never sees half a file and a crash leaves the old file or the new one."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def replace(tmp: Path, path: Path) -> None:
    """Move the written file ``tmp`` over ``path`` so that its content and the rename both
    survive a crash (each flushed to disk)."""
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextmanager
def written(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` (created with ``mode``) to write the new file to; on
    leaving the block it replaces ``path`` (:func:`replace`), or, on an error, is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode))
    try:
        yield tmp
        replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole (see :func:`written`)."""
    with written(path, mode) as tmp:
        tmp.write_text(text, encoding="utf-8")
