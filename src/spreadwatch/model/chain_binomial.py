"""The compiled step of the stochastic engine: every particle's hazard, then its flows.

Each step computes the pressure of every block of particles (:mod:`spreadwatch.model.hazard`),
then, particle by particle, the exact binomial flows of every cell (age band and region) with
the streams and samplers of :mod:`spreadwatch.model.sampling`. The flows of one transition are
drawn a row of regions at a time in passes: one without branches that settles the cells with
nobody to move, the tiny expected counts and BTRS's accepted first tries in vector
instructions, then the few cells left (small counts by the run's CDF tables, rejections,
inversions) one by one. The draws are those of the scalar samplers, cell for cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np

from spreadwatch.model.hazard import BLOCK, block_pressure, particle_hazard
from spreadwatch.model.sampling import (
    INVERSION_MAX_MEAN,
    LOG_2,
    binomial,
    binomial_at_rate,
    btrs_first_try,
    cdf_table,
    cell_key,
    seed_key,
    table_draw,
    transition_key,
    uniform,
)

# Transitions of one step, each with its own random stream.
_INFECT, _ONSET, _LEAVE_I, _TO_HOSPITAL, _LEAVE_H, _DIE = range(6)
#: Marks a cell the vectorised pass left for the scalar one (draws are >= 0).
_LEFT = -1.0


#: Columns of the exits' parameters: exposure, probability, largest count of its table,
#: whether the table counts those who stay.
_EXPOSURE, _PROBABILITY, _TABLE_MAX, _FLIPPED = range(4)


def constant_exits(exposures: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's constant exits (E -> I, out of I, out of H: exposures over one step) as the step
    kernel takes them: their parameters ``(exits, 4)``, CDF tables and guides
    (:func:`~spreadwatch.model.sampling.cdf_table`, stacked)."""
    tables = [cdf_table(exposure) for exposure in exposures]
    params = np.array(
        [
            (exposure, -math.expm1(-exposure), table.shape[0] - 1, flipped)
            for exposure, (table, _, flipped) in zip(exposures, tables, strict=True)
        ]
    )
    return params, np.stack([t[0] for t in tables]), np.stack([t[1] for t in tables])


@numba.njit(cache=True, error_model="numpy")
def _infections_row(
    key: np.uint64,
    particle: int,
    step: int,
    first_cell: int,
    susceptible: np.ndarray,
    exposure: np.ndarray,
    probability: np.ndarray,
    out: np.ndarray,
) -> None:
    """``Binomial(S[r], 1 - exp(-exposure[r]))`` for a row of cells, exactly as
    :func:`~spreadwatch.model.sampling.binomial_at_rate` draws them (``probability`` is
    scratch)."""
    regions = susceptible.size
    for r in range(regions):  # the probabilities BTRS needs (a library call, not vectorised)
        x = exposure[r]
        probability[r] = -math.expm1(-x) if susceptible[r] * x >= INVERSION_MAX_MEAN else 0.0
    for r in range(regions):  # vectorised: nobody at risk, tiny means, BTRS's first try
        n = susceptible[r]
        x = exposure[r]
        p = probability[r]
        stream = transition_key(cell_key(key, particle, step, first_cell + r), _INFECT)
        u = uniform(stream, 0)
        candidate, accept = btrs_first_try(u, uniform(stream, 1), n, p)
        bound = n * x
        below_half = x <= LOG_2
        zero = (n <= 0.0) | (x <= 0.0)
        zero |= below_half & (bound < INVERSION_MAX_MEAN) & (u <= 1.0 - bound)
        accept &= below_half & (n * p >= INVERSION_MAX_MEAN)
        out[r] = 0.0 if zero else (candidate if accept else _LEFT)
    for r in range(regions):
        if out[r] == _LEFT:
            stream = transition_key(cell_key(key, particle, step, first_cell + r), _INFECT)
            out[r] = binomial_at_rate(stream, susceptible[r], exposure[r])


@numba.njit(cache=True, error_model="numpy")
def _exits_row(
    key: np.uint64,
    particle: int,
    step: int,
    first_cell: int,
    transition: int,
    people: np.ndarray,
    params: np.ndarray,
    table: np.ndarray,
    guide: np.ndarray,
    out: np.ndarray,
) -> None:
    """``Binomial(people[r], p)`` for a row of cells and a constant exit of
    :func:`constant_exits` (its ``params``, ``table`` and ``guide``): small counts by the
    table, the others as :func:`~spreadwatch.model.sampling.binomial_at_rate` draws them."""
    exposure, p = params[_EXPOSURE], params[_PROBABILITY]
    table_max, flipped = params[_TABLE_MAX], params[_FLIPPED] != 0.0
    btrs = p <= 0.5
    regions = people.size
    for r in range(regions):  # vectorised: nobody to move, BTRS's first try
        n = people[r]
        stream = transition_key(cell_key(key, particle, step, first_cell + r), transition)
        candidate, accept = btrs_first_try(uniform(stream, 0), uniform(stream, 1), n, p)
        accept &= btrs & (n > table_max) & (n * p >= INVERSION_MAX_MEAN)
        out[r] = 0.0 if n <= 0.0 else (candidate if accept else _LEFT)
    for r in range(regions):
        if out[r] == _LEFT:
            n = people[r]
            stream = transition_key(cell_key(key, particle, step, first_cell + r), transition)
            if n <= table_max:
                out[r] = table_draw(table, guide, flipped, n, uniform(stream, 0))
            else:
                out[r] = binomial_at_rate(stream, n, exposure)


@numba.njit(cache=True, error_model="numpy")
def _particle_flows(
    state: np.ndarray,
    exposure: np.ndarray,
    exits: np.ndarray,
    tables: np.ndarray,
    guides: np.ndarray,
    hospital_fraction: np.ndarray,
    fatality_fraction: np.ndarray,
    key: np.uint64,
    particle: int,
    step: int,
    work: np.ndarray,
    new_infections: np.ndarray,
) -> None:
    """Draw and apply one particle's flows; ``state`` is its ``(6, ages, regions)``."""
    ages, regions = exposure.shape
    probability, infected, onsets, recovered = work[0], work[1], work[2], work[3]
    for a in range(ages):
        first = a * regions
        _infections_row(key, particle, step, first, state[0, a], exposure[a], probability, infected)
        for transition, people, exit_, out in (
            (_ONSET, state[1, a], 0, onsets),
            (_LEAVE_I, state[2, a], 1, recovered),
        ):
            _exits_row(
                key,
                particle,
                step,
                first,
                transition,
                people,
                exits[exit_],
                tables[exit_],
                guides[exit_],
                out,
            )
        to_h = hospital_fraction[a]
        to_d = fatality_fraction[a]
        for r in range(regions):
            inf = infected[r]
            ons = onsets[r]
            out_i = recovered[r]
            h = state[3, a, r]
            hosp = out_h = die = 0.0
            if (out_i > 0.0 and to_h > 0.0) or h > 0.0:  # the hospital part, when there is one
                cell = cell_key(key, particle, step, first + r)
                hosp = binomial(transition_key(cell, _TO_HOSPITAL), out_i, to_h)
                out_h = binomial_at_rate(transition_key(cell, _LEAVE_H), h, exits[2, _EXPOSURE])
                die = binomial(transition_key(cell, _DIE), out_h, to_d)
            state[0, a, r] -= inf
            state[1, a, r] += inf - ons
            state[2, a, r] += ons - out_i
            state[3, a, r] = h + hosp - out_h
            state[4, a, r] += out_i - hosp + out_h - die
            state[5, a, r] += die
            new_infections[a, r] += inf


@numba.njit(cache=True, error_model="numpy")
def _particle_means(
    state: np.ndarray,
    exposure: np.ndarray,
    exits: np.ndarray,
    hospital_fraction: np.ndarray,
    fatality_fraction: np.ndarray,
    new_infections: np.ndarray,
) -> None:
    """Apply one particle's expected flows (the chain's mean)."""
    p_onset, p_leave_i, p_leave_h = exits[:, _PROBABILITY]
    ages, regions = exposure.shape
    for a in range(ages):
        to_h = hospital_fraction[a]
        to_d = fatality_fraction[a]
        for r in range(regions):
            s = state[0, a, r]
            inf = -s * math.expm1(-exposure[a, r])
            ons = state[1, a, r] * p_onset
            out_i = state[2, a, r] * p_leave_i
            hosp = out_i * to_h
            out_h = state[3, a, r] * p_leave_h
            die = out_h * to_d
            state[0, a, r] = s - inf
            state[1, a, r] += inf - ons
            state[2, a, r] += ons - out_i
            state[3, a, r] += hosp - out_h
            state[4, a, r] += out_i - hosp + out_h - die
            state[5, a, r] += die
            new_infections[a, r] += inf


@numba.njit(cache=True, error_model="numpy")
def _settled(state: np.ndarray) -> bool:
    """Whether a particle's ``(6, ages, regions)`` has nobody in E, I or H: then no flow can
    happen in the step."""
    for c in range(1, 4):
        for value in state[c].flat:
            if value != 0.0:
                return False
    return True


@numba.njit(parallel=True, cache=True, error_model="numpy")
def chain_binomial_step(
    state: np.ndarray,
    transmission: tuple,
    exposure_factors: np.ndarray,
    exits: np.ndarray,
    tables: np.ndarray,
    guides: np.ndarray,
    hospital_fraction: np.ndarray,
    fatality_fraction: np.ndarray,
    seed: np.uint64,
    step: np.int64,
    stochastic: bool,
    new_infections: np.ndarray,
    scratch: tuple,
) -> None:
    """Advance ``state`` (``(particles, 6, ages, regions)``: S, E, I, H, R, D) by one step.

    ``transmission`` is ``(kernels, away, home, inv_residents)`` of
    :mod:`spreadwatch.model.hazard`, which gives each particle's hazard from its infectious
    people at the start of the step; times the particle's ``exposure_factors`` (step length
    times transmissibility) it is the exposure of each susceptible (infection probability
    ``1 - exp(-exposure)``). ``exits``, ``tables`` and ``guides`` are the
    :func:`constant_exits` of E -> I, of leaving I and of leaving H. People leaving I go to H
    with the age's ``hospital_fraction`` (else R);
    people leaving H die with the age's ``fatality_fraction`` (else R). With ``stochastic``
    every flow is a binomial draw, otherwise its mean. New infections are added to
    ``new_infections`` (``(particles, ages, regions)``). ``scratch`` is ``(blocks, exposure,
    work)``: :func:`~spreadwatch.model.hazard.block_scratch`, ``(particles, ages, regions)``
    and ``(particles, 4, regions)``.
    """
    particles = state.shape[0]
    kernels, away, home, inv_residents = transmission
    blocks, exposure, work = scratch
    for block in range(blocks.shape[0]):
        start = block * BLOCK
        block_pressure(state[start : start + BLOCK, 2], kernels, blocks[block])
    key = seed_key(seed)
    for pi in numba.prange(particles):
        if _settled(state[pi]):
            continue
        block = pi // BLOCK
        particle_hazard(
            blocks[block, 1, :, pi - block * BLOCK],
            state[pi, 2],
            away,
            home,
            inv_residents,
            exposure_factors[pi],
            exposure[pi],
        )
        if stochastic:
            _particle_flows(
                state[pi],
                exposure[pi],
                exits,
                tables,
                guides,
                hospital_fraction,
                fatality_fraction,
                key,
                pi,
                step,
                work[pi],
                new_infections[pi],
            )
        else:
            _particle_means(
                state[pi],
                exposure[pi],
                exits,
                hospital_fraction,
                fatality_fraction,
                new_infections[pi],
            )
