"""Files that survive a crash: written whole under a temporary name, then renamed."""

from __future__ import annotations

import os
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
