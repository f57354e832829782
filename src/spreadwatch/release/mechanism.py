"""The noise: OpenDP's discrete Laplace on integer count vectors, its scale proven by OpenDP's
privacy map, drawn on several threads in chunks; and the post-processing of noisy counts."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from spreadwatch.release.bounding import (
    _check_bound,
)
from spreadwatch.release.ledger import (
    check_epsilon,
)

MECHANISM = "discrete Laplace (OpenDP make_laplace, i64 vectors, L1 distance)"


#: Cells per call into OpenDP when noise is drawn on several threads.
_CHUNK = 65_536


def _opendp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@dataclass(frozen=True)
class Mechanism:
    """An OpenDP discrete Laplace measurement on i64 count vectors, and its parameters."""

    sensitivity: int
    epsilon: float
    scale: float
    name: str = MECHANISM

    @classmethod
    def calibrate(cls, sensitivity: int, epsilon: float) -> Mechanism:
        """The smallest scale whose OpenDP privacy map gives at most ``epsilon`` at
        ``d_in = sensitivity`` (L1 distance between neighbouring count vectors)."""
        _check_bound("sensitivity", sensitivity)
        check_epsilon(epsilon)
        dp = _opendp()
        scale = dp.binary_search_param(
            lambda s: _make_laplace(dp, s), d_in=sensitivity, d_out=float(epsilon)
        )
        mechanism = cls(sensitivity=sensitivity, epsilon=float(epsilon), scale=float(scale))
        spent = mechanism.measurement().map(sensitivity)
        if spent > epsilon:  # pragma: no cover - binary_search_param guarantees this
            raise RuntimeError(f"calibration failed: map({sensitivity}) = {spent} > {epsilon}")
        return mechanism

    def measurement(self):
        """The OpenDP measurement (vector of i64 counts -> noisy vector)."""
        return _make_laplace(_opendp(), self.scale)

    @property
    def variance(self) -> float:
        """Variance of one cell's noise: ``2 p / (1 - p)^2`` with ``p = exp(-1 / scale)``."""
        p = math.exp(-1.0 / self.scale)
        return 2.0 * p / (1.0 - p) ** 2

    @property
    def mean_absolute_noise(self) -> float:
        """``E|noise| = 2 p / ((1 - p)(1 + p))`` for the discrete Laplace."""
        p = math.exp(-1.0 / self.scale)
        return 2.0 * p / ((1.0 - p) * (1.0 + p))

    def add_noise(self, counts: np.ndarray, threads: int | None = None) -> np.ndarray:
        """``counts`` plus independent discrete Laplace noise, drawn by OpenDP.

        The measurement is applied to chunks of the vector on several threads (OpenDP releases
        the GIL); noise is independent per cell, so this has exactly the distribution of one
        call on the whole vector. Not seedable: OpenDP draws from the OS's secure generator.
        """
        values = np.ascontiguousarray(counts, dtype=np.int64)
        if values.size == 0:
            return values.copy()
        measurement = self.measurement()
        chunks = [values[i : i + _CHUNK] for i in range(0, values.size, _CHUNK)]
        workers = max(1, min(threads or os.cpu_count() or 1, len(chunks)))

        def noisy(chunk: np.ndarray) -> np.ndarray:
            return np.asarray(measurement(chunk.tolist()), dtype=np.int64)

        if workers == 1:
            parts = [noisy(c) for c in chunks]
        else:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(noisy, chunks))
        return np.concatenate(parts)


def _make_laplace(dp, scale: float):
    return dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale=scale
    )


def post_process(noisy: np.ndarray) -> np.ndarray:
    """Round to integers (a no-op for the discrete mechanism) and clamp at 0."""
    return np.maximum(np.rint(noisy).astype(np.int64), 0)
