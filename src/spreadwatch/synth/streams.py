"""Named, independent random streams derived from the run seed.

Each piece of the output draws from its own stream keyed by names and indices (for example
``("events", carrier, day, part)``), so pieces are reproducible on their own and independent of
the order they are generated in.
"""

from __future__ import annotations

import zlib

import numpy as np


def _word(key: int | str) -> int:
    if isinstance(key, str):
        return zlib.crc32(key.encode())
    if key < 0:
        raise ValueError("stream keys must be non-negative")
    return int(key)


def stream(seed: int, *keys: int | str) -> np.random.Generator:
    """A NumPy generator for the stream ``keys`` of run ``seed`` (stable across processes)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), len(keys), *map(_word, keys)]))
