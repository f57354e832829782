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
BLOCK = 128
#: Share of the regions with someone infectious below which only their kernel rows are used.
COMPACT_SHARE = 0.8


def blocks(particles: int) -> list[slice]:
    """The blocks of :data:`BLOCK` particles that cover ``particles``, in order."""
    return [slice(start, min(particles, start + BLOCK)) for start in range(0, particles, BLOCK)]


def block_scratch(
    particles: int, ages: int, regions: int, dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scratch space of :func:`block_pressure` for a block of ``particles`` (at most
    :data:`BLOCK`): ``(2, ages, particles, regions)`` for the infectious people and their
    pressure, ``(regions, regions)`` for kernel rows, ``(2, max(particles, regions))`` for
    indices."""
    return (
        np.empty((2, ages, particles, regions), dtype=dtype),
        np.empty((regions, regions), dtype=dtype),
        np.empty((2, max(particles, regions)), dtype=np.int64),
    )


@numba.njit(nogil=True, cache=True, error_model="numpy")
def block_pressure(infectious: np.ndarray, kernels: np.ndarray, scratch: tuple) -> None:
    """Fill ``scratch[0][1, b, p]`` with the pressure met in every region by age ``b`` from
    the infectious people ``infectious[p]`` ``(ages, regions)`` of each particle ``p`` of a
    block. Only the particles and the regions with someone infectious enter the matrix
    product (the others add nothing): a block where the epidemic has not spread everywhere, or
    has ended in some particles, costs less."""
    io, kernel_rows, index = scratch
    count, ages, regions = infectious.shape
    for b in range(ages):
        target = io[1, b]
        if kernels.shape[0] == 0:
            continue
        particles, places = index[0], index[1]
        places[:regions] = 0  # first how many particles have someone infectious in a region
        active = 0
        for p in range(count):
            particles[active] = p
            infected = 0
            for k in range(regions):
                nonzero = infectious[p, b, k] != 0.0
                infected += nonzero
                places[k] += nonzero
            active += infected > 0
        if active == 0:
            target[:, :] = 0.0
            continue
        spread = 0
        for k in range(regions):  # then the regions with someone infectious (in place)
            infected = places[k]
            places[spread] = k
            spread += infected > 0
        if spread > COMPACT_SHARE * regions:  # copying the kernel's rows would cost more
            spread = regions
            places[:regions] = np.arange(regions)
        source = io[0, b].reshape(-1)[: active * spread].reshape(active, spread)
        for i in range(active):
            for j in range(spread):
                source[i, j] = infectious[particles[i], b, places[j]]
        rows = kernels[b]
        if spread < regions:
            rows = kernel_rows.reshape(-1)[: spread * regions].reshape(spread, regions)
            for j in range(spread):
                rows[j] = kernels[b, places[j]]
        np.dot(source, rows, target[:active])
        for i in range(active - 1, -1, -1):  # each particle's row to its place, zeros between
            p = particles[i]
            if p != i:
                target[p] = target[i]
            below = particles[i - 1] + 1 if i > 0 else 0
            target[below:p] = 0.0
        target[particles[active - 1] + 1 :] = 0.0


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


@numba.njit(nogil=True, cache=True, error_model="numpy")
def block_hazards(
    infectious: np.ndarray,
    kernels: np.ndarray,
    away: np.ndarray,
    home: np.ndarray,
    inv_residents: np.ndarray,
    factors: np.ndarray,
    scratch: np.ndarray,
    out: np.ndarray,
) -> None:
    """The hazard ``(particles, ages, regions)`` of a block's ``infectious`` people (same
    shape) times each particle's ``factors``, into ``out``; ``scratch`` from
    :func:`block_scratch`."""
    block_pressure(infectious, kernels, scratch)
    for p in range(infectious.shape[0]):
        particle_hazard(
            scratch[0][1, :, p], infectious[p], away, home, inv_residents, factors[p], out[p]
        )
