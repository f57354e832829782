"""Compiled force of infection of the structured model, a block of particles at a time.

With infectious people ``I[b, k]`` (age band ``b``, home region ``k``), the mobility kernels
``K_b = M diag(1 / N_eff[b]) M^T`` (symmetric: row ``k`` holds what one infectious resident of
``k`` adds to the pressure met by the residents of every region), the contact matrices summed
over the away and the home settings, and the residents' inverse ``1 / N[b, k]``::

    pressure[b, r] = sum_k I[b, k] K_b[k, r]
    hazard[a, r]   = factor * (sum_b away[a, b] pressure[b, r] + sum_b home[a, b] I[b, r] / N[b, r])

The pressure of a block of particles is one matrix product per age band (BLAS, in the kernels'
dtype); blocks have a fixed size, so results do not depend on the number of threads.
"""

from __future__ import annotations

import numba
import numpy as np

#: Particles whose pressure is one matrix product.
BLOCK = 256


def block_count(particles: int) -> int:
    """How many blocks of :data:`BLOCK` particles cover ``particles``."""
    return -(-particles // BLOCK)


def block_scratch(particles: int, ages: int, regions: int, dtype: type) -> np.ndarray:
    """Scratch space of :func:`block_pressure` for every block: ``(blocks, 2, ages, BLOCK,
    regions)`` (the infectious people and their pressure)."""
    size = min(particles, BLOCK)
    return np.empty((block_count(particles), 2, ages, size, regions), dtype=dtype)


@numba.njit(cache=True, error_model="numpy")
def block_pressure(infectious: np.ndarray, kernels: np.ndarray, scratch: np.ndarray) -> None:
    """Fill ``scratch[1, b, p]`` with the pressure met in every region by age ``b`` from the
    infectious people ``infectious[p]`` ``(ages, regions)`` of each particle ``p`` of a block
    (``scratch[0]`` holds them in the kernels' dtype on the way)."""
    count, ages, regions = infectious.shape
    for b in range(ages):
        source = scratch[0, b, :count]
        target = scratch[1, b, :count]
        if kernels.shape[0] == 0:
            continue
        any_infectious = False
        for p in range(count):
            for k in range(regions):
                value = infectious[p, b, k]
                source[p, k] = value
                any_infectious |= value != 0.0
        if any_infectious:
            np.dot(source, kernels[b], target)
        else:
            target[:, :] = 0.0


@numba.njit(inline="always", cache=True, error_model="numpy")
def particle_hazard(
    pressure: np.ndarray,
    infectious: np.ndarray,
    away: np.ndarray,
    home: np.ndarray,
    inv_residents: np.ndarray,
    factor: float,
    out: np.ndarray,
) -> None:
    """Write one particle's hazard ``(ages, regions)`` into ``out`` from its ``pressure``
    (``(ages, regions)``, or empty without away settings) and ``infectious`` people."""
    ages, regions = infectious.shape
    out[:, :] = 0.0
    for a in range(ages):
        for b in range(ages):
            contact = away[a, b] * factor
            if contact != 0.0:
                for r in range(regions):
                    out[a, r] += contact * pressure[b, r]
            contact = home[a, b] * factor
            if contact != 0.0:
                for r in range(regions):
                    out[a, r] += contact * infectious[b, r] * inv_residents[b, r]


@numba.njit(cache=True, error_model="numpy")
def hazards(
    infectious: np.ndarray,
    kernels: np.ndarray,
    away: np.ndarray,
    home: np.ndarray,
    inv_residents: np.ndarray,
    factors: np.ndarray,
    scratch: np.ndarray,
    out: np.ndarray,
) -> None:
    """The hazard ``(particles, ages, regions)`` of every particle's ``infectious`` people
    (same shape) times its ``factors``, into ``out``; ``scratch`` from :func:`block_scratch`."""
    particles = infectious.shape[0]
    for block in range(scratch.shape[0]):
        start = block * BLOCK
        stop = min(particles, start + BLOCK)
        block_pressure(infectious[start:stop], kernels, scratch[block])
        for p in range(start, stop):
            particle_hazard(
                scratch[block, 1, :, p - start],
                infectious[p],
                away,
                home,
                inv_residents,
                factors[p],
                out[p],
            )
