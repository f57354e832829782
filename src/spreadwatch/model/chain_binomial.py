"""The compiled step of the stochastic engine: a block's hazard, then every particle's flows.

Each step computes the pressure on a block of particles (:mod:`spreadwatch.model.hazard`),
then, particle by particle, the exact binomial flows of every cell (age band and region) with
the streams and samplers of :mod:`spreadwatch.model.sampling`. A particle with nobody in E, I
or H is left as it is. The flows of one transition are drawn a row of regions at a time:

1. one pass without branches, in vector instructions, settles the cells with nobody to move,
   the tiny expected counts (``u <= 1 - n x <= P(X = 0)``) and BTRS's first tries that its
   squeeze accepts, and prepares the rest;
2. the cells left are gathered and treated side by side, also in vector instructions: BTRS's
   exact tests, the first steps of the inversion searches of small means, and the first steps
   of the searches of a constant exit's CDF table for small counts;
3. the few cells still left go one by one: longer searches, BTRS's further tries,
   probabilities over 1/2.

Every pass computes what the scalar samplers compute for the same uniforms (same formulas,
same order of operations), so the draws are theirs, cell for cell, and as exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np

from spreadwatch.model.hazard import block_pressure, particle_hazard
from spreadwatch.model.sampling import (
    INVERSION_MAX_MEAN,
    LOG_2,
    RECIPROCALS,
    binomial,
    binomial_at_rate,
    btrs_continue,
    btrs_exact_test,
    btrs_first_try,
    cdf_table,
    cell_key,
    exp_neg,
    expm1_small,
    probability_at_rate,
    seed_key,
    table_draw,
    table_start,
    transition_key,
    uniform,
)

# Transitions of one step, each with its own random stream.
_INFECT, _ONSET, _LEAVE_I, _TO_HOSPITAL, _LEAVE_H, _DIE = range(6)
#: The compartments of the state (as :mod:`spreadwatch.model.structured` orders them).
_S, _E, _I, _H, _R, _D = range(6)
#: Marks of cells a later pass draws (draws are >= 0): the scalar samplers from the start,
#: the lockstep inversion search, BTRS's exact test of the first try, the CDF table, BTRS's
#: further tries.
_LEFT, _SEARCHING, _EXACT, _TABLE, _CONTINUE = -1.0, -2.0, -3.0, -4.0, -5.0
#: Steps of the inversion searches and of the table searches made side by side.
INVERSION_STEPS = 12
TABLE_STEPS = 3


#: Columns of the exits' parameters: exposure, probability, largest count of its table,
#: whether the table counts those who stay.
_EXPOSURE, _PROBABILITY, _TABLE_MAX, _FLIPPED = range(4)


def constant_exits(exposures: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's constant exits (E -> I, out of I, out of H: exposures over one step) as the step
    kernel takes them: their parameters ``(exits, 4)``, CDF tables and guides
    (:func:`~spreadwatch.model.sampling.cdf_table`, stacked). Each exit's probability is the
    one :func:`~spreadwatch.model.sampling.binomial_at_rate` uses."""
    tables = [cdf_table(exposure) for exposure in exposures]
    params = np.array(
        [
            (exposure, _probability(exposure), table.shape[0] - 1, flipped)
            for exposure, (table, _, flipped) in zip(exposures, tables, strict=True)
        ]
    )
    return params, np.stack([t[0] for t in tables]), np.stack([t[1] for t in tables])


def _probability(exposure: float) -> float:
    """``1 - exp(-exposure)`` as :func:`~spreadwatch.model.sampling.binomial_at_rate` has it."""
    return probability_at_rate(exposure) if exposure <= LOG_2 else -math.expm1(-exposure)


#: Rows of a block's scratch space for one row of cells: the three drawn flows, then what the
#: first pass keeps per cell (BTRS's first candidate, its uniforms and probability, the
#: inversion search: what is left of u, n x, p / (1 - p)), then the cells a later
#: vectorised pass works on, gathered (cell, n, p, candidate, u, v, mass, ratio, draw).
_INFECTED, _ONSETS, _RECOVERED, _CANDIDATE, _U, _V, _P, _LEFT_U, _MASS, _RATIO = range(10)
_CELL, _CN, _CP, _CX, _CU, _CV, _CMASS, _CRATIO, _CDRAW = range(10, 19)
ROWS = 19


@numba.njit(cache=True, error_model="numpy")
def _gather(
    people: np.ndarray, out: np.ndarray, mark: float, rows: np.ndarray, fields: tuple
) -> int:
    """Copy the cells of a row marked ``mark`` in ``out`` side by side into the gathered rows:
    their cell (listed without branches), ``n`` and the four first-pass rows ``fields[:4]``
    into ``fields[4:]``. Returns how many there are."""
    cells = rows[_CELL]
    count = 0
    for r in range(people.size):
        cells[count] = r
        count += out[r] == mark
    a, b, c, d, to_a, to_b, to_c, to_d = fields
    for i in range(count):
        r = int(cells[i])
        rows[_CN, i] = people[r]
        rows[to_a, i] = rows[a, r]
        rows[to_b, i] = rows[b, r]
        rows[to_c, i] = rows[c, r]
        rows[to_d, i] = rows[d, r]
    return count


#: What each later pass gathers: four first-pass rows, then the rows they go to.
_SEARCH_FIELDS = (_LEFT_U, _MASS, _RATIO, _RATIO, _CU, _CMASS, _CRATIO, _CRATIO)
_EXACT_FIELDS = (_CANDIDATE, _U, _V, _P, _CX, _CU, _CV, _CP)
_TABLE_FIELDS = (_U, _U, _U, _U, _CU, _CU, _CU, _CU)


@numba.njit(inline="always", cache=True, error_model="numpy")
def _scatter(count: int, out: np.ndarray, rows: np.ndarray) -> None:
    for i in range(count):
        out[int(rows[_CELL, i])] = rows[_CDRAW, i]


@numba.njit(cache=True, error_model="numpy")
def _lockstep_inversion(people: np.ndarray, out: np.ndarray, rows: np.ndarray) -> None:
    """The first :data:`INVERSION_STEPS` steps of the inversion searches of the cells marked
    ``_SEARCHING``, side by side in vector instructions: a cell whose search ends there gets
    its draw, the others ``_LEFT``."""
    searches = _gather(people, out, _SEARCHING, rows, _SEARCH_FIELDS)
    if searches == 0:
        return
    left, mass, ratio = rows[_CU, :searches], rows[_CMASS, :searches], rows[_CRATIO, :searches]
    n, draw = rows[_CN, :searches], rows[_CDRAW, :searches]
    draw[:] = _SEARCHING
    for i in range(searches):
        mass[i] = exp_neg(min(mass[i], INVERSION_MAX_MEAN))
    for j in range(1, INVERSION_STEPS + 1):  # x = j - 1, or step on to x = j
        searching = 0
        for i in range(searches):
            u, m, s = left[i], mass[i], ratio[i]
            active = draw[i] == _SEARCHING
            onward = active & (u > m)
            left[i] = u - m if onward else u
            mass[i] = m * ((n[i] + 1.0) * s * RECIPROCALS[j - 1] - s) if onward else m
            draw[i] = j - 1.0 if active & (u <= m) else draw[i]
            draw[i] = _LEFT if onward & (j > n[i]) else draw[i]
            searching += onward & (j <= n[i])
        if searching == 0:
            break
    for i in range(searches):
        draw[i] = _LEFT if draw[i] == _SEARCHING else draw[i]
    _scatter(searches, out, rows)


@numba.njit(cache=True, error_model="numpy")
def _exact_tests(people: np.ndarray, out: np.ndarray, rows: np.ndarray) -> None:
    """BTRS's exact test of the first tries marked ``_EXACT``, side by side in vector
    instructions: an accepted candidate is the draw, the others are marked ``_CONTINUE``."""
    count = _gather(people, out, _EXACT, rows, _EXACT_FIELDS)
    for i in range(count):
        x = rows[_CX, i]
        accept = btrs_exact_test(x, rows[_CU, i], rows[_CV, i], rows[_CN, i], rows[_CP, i])
        rows[_CDRAW, i] = x if accept else _CONTINUE
    _scatter(count, out, rows)


@numba.njit(cache=True, error_model="numpy")
def _table_lockstep(
    people: np.ndarray,
    table: np.ndarray,
    guide: np.ndarray,
    flipped: bool,
    out: np.ndarray,
    rows: np.ndarray,
) -> None:
    """:func:`~spreadwatch.model.sampling.table_draw` of the cells marked ``_TABLE``, its
    first :data:`TABLE_STEPS` steps side by side in vector instructions; a cell whose search
    goes on stays marked."""
    count = _gather(people, out, _TABLE, rows, _TABLE_FIELDS)
    for i in range(count):
        n = rows[_CN, i]
        u = rows[_CU, i]
        row = int(n)
        x = table_start(guide, row, u)
        for _ in range(TABLE_STEPS):
            x += u > table[row, x]
        draw = n - x if flipped else float(x)
        rows[_CDRAW, i] = draw if u <= table[row, x] else _TABLE
    _scatter(count, out, rows)


@numba.njit(inline="always", cache=True, error_model="numpy")
def _first_try(
    stream: np.uint64, n: float, p: float, r: int, rows: np.ndarray
) -> tuple[float, bool, float]:
    """BTRS's first try for cell ``r`` (kept in ``rows``): the candidate, whether the squeeze
    accepts it, and the stream's first uniform."""
    u = uniform(stream, 0)
    v = uniform(stream, 1)
    candidate, accept = btrs_first_try(u, v, n, p)
    rows[_CANDIDATE, r] = candidate
    rows[_U, r] = u
    rows[_V, r] = v
    rows[_P, r] = p
    return candidate, accept, u


@numba.njit(cache=True, error_model="numpy")
def _infections_row(
    cells: np.ndarray,
    susceptible: np.ndarray,
    exposure: np.ndarray,
    rows: np.ndarray,
) -> None:
    """``Binomial(S[r], 1 - exp(-exposure[r]))`` for a row of cells into ``rows[_INFECTED]``,
    exactly as :func:`~spreadwatch.model.sampling.binomial_at_rate` draws them: one
    vectorised pass (nobody at risk, tiny means, BTRS's first try), BTRS's exact tests and the
    first :data:`INVERSION_STEPS` steps of the inversion searches side by side, the rest one by
    one."""
    regions = susceptible.size
    out = rows[_INFECTED]
    for r in range(regions):  # vectorised
        n = susceptible[r]
        x = exposure[r]
        below_half = x <= LOG_2
        ratio = expm1_small(min(x, LOG_2))  # p / (1 - p)
        p = ratio / (1.0 + ratio)
        stream = transition_key(cells[r], _INFECT)
        candidate, accept, u = _first_try(stream, n, p, r, rows)
        bound = n * x
        small = below_half & (bound < INVERSION_MAX_MEAN)
        zero = (n <= 0.0) | (x <= 0.0) | (small & (u <= 1.0 - bound))
        btrs = below_half & (n * p >= INVERSION_MAX_MEAN)
        rows[_LEFT_U, r] = u
        rows[_MASS, r] = bound  # P(X = 0) = exp(-bound), for the searches only
        rows[_RATIO, r] = ratio
        later = _EXACT if btrs else (_SEARCHING if small else _LEFT)
        out[r] = 0.0 if zero else (candidate if btrs & accept else later)
    _exact_tests(susceptible, out, rows)
    _lockstep_inversion(susceptible, out, rows)
    for r in range(regions):  # the rest one by one
        if out[r] < 0.0:
            stream = transition_key(cells[r], _INFECT)
            if out[r] == _CONTINUE:
                out[r] = btrs_continue(stream, susceptible[r], rows[_P, r])
            else:
                out[r] = binomial_at_rate(stream, susceptible[r], exposure[r])


@numba.njit(cache=True, error_model="numpy")
def _exits_row(
    cells: np.ndarray,
    transition: int,
    people: np.ndarray,
    params: np.ndarray,
    table: np.ndarray,
    guide: np.ndarray,
    rows: np.ndarray,
    out: np.ndarray,
) -> None:
    """``Binomial(people[r], p)`` for a row of cells into ``out`` and a constant exit of
    :func:`constant_exits` (its ``params``, ``table`` and ``guide``): small counts by the
    table, the others as :func:`~spreadwatch.model.sampling.binomial_at_rate` draws them."""
    exposure, p = params[_EXPOSURE], params[_PROBABILITY]
    table_max, flipped = params[_TABLE_MAX], params[_FLIPPED] != 0.0
    btrs = exposure <= LOG_2  # as binomial_at_rate decides (p may round to 1/2 above)
    regions = people.size
    for r in range(regions):  # vectorised: nobody to move, table cells, BTRS's first try
        n = people[r]
        stream = transition_key(cells[r], transition)
        candidate, accept, _ = _first_try(stream, n, p, r, rows)
        eligible = btrs & (n * p >= INVERSION_MAX_MEAN)
        later = _TABLE if n <= table_max else (_EXACT if eligible else _LEFT)
        out[r] = 0.0 if n <= 0.0 else (candidate if eligible & accept & (n > table_max) else later)
    _table_lockstep(people, table, guide, flipped, out, rows)
    _exact_tests(people, out, rows)
    for r in range(regions):  # the rest one by one
        if out[r] < 0.0:
            n = people[r]
            stream = transition_key(cells[r], transition)
            if out[r] == _TABLE:
                out[r] = table_draw(table, guide, flipped, n, uniform(stream, 0))
            elif out[r] == _CONTINUE:
                out[r] = btrs_continue(stream, n, p)
            else:
                out[r] = binomial_at_rate(stream, n, exposure)


@numba.njit(inline="always", cache=True, error_model="numpy")
def _apply(state: np.ndarray, a: int, r: int, flows: tuple, new_infections: np.ndarray) -> None:
    """Move a cell's people by its ``flows``: infected (S -> E), onsets (E -> I), out of I
    (to H or R), into H, out of H (to R or D), died."""
    infected, onsets, out_i, hospitalised, out_h, died = flows
    state[_S, a, r] -= infected
    state[_E, a, r] += infected - onsets
    state[_I, a, r] += onsets - out_i
    state[_H, a, r] += hospitalised - out_h
    state[_R, a, r] += out_i - hospitalised + out_h - died
    state[_D, a, r] += died
    new_infections[a, r] += infected


@numba.njit(inline="always", cache=True, error_model="numpy")
def _any_positive(values: np.ndarray) -> bool:
    count = 0
    for value in values:
        count += value > 0.0
    return count > 0


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
    rows: np.ndarray,
    cells: np.ndarray,
    new_infections: np.ndarray,
) -> None:
    """Draw and apply one particle's flows; ``state`` is its ``(6, ages, regions)``, ``rows``
    ``(ROWS, regions)`` and ``cells`` ``(regions,)`` (uint64) scratch."""
    ages, regions = exposure.shape
    infected, onsets, recovered = rows[_INFECTED], rows[_ONSETS], rows[_RECOVERED]
    for a in range(ages):
        first = a * regions
        for r in range(regions):  # vectorised: the keys of the cells' random streams
            cells[r] = cell_key(key, particle, step, first + r)
        _infections_row(cells, state[_S, a], exposure[a], rows)
        for transition, people, exit_, out in (
            (_ONSET, state[_E, a], 0, onsets),
            (_LEAVE_I, state[_I, a], 1, recovered),
        ):
            _exits_row(
                cells,
                transition,
                people,
                exits[exit_],
                tables[exit_],
                guides[exit_],
                rows,
                out,
            )
        to_h = hospital_fraction[a]
        to_d = fatality_fraction[a]
        hospitalised = rows[_CANDIDATE]  # the H flows: hospitalised, left H, died
        left_h, died = rows[_U], rows[_V]
        hospitalised[:] = 0.0
        left_h[:] = 0.0
        died[:] = 0.0
        for r in range(regions if to_h > 0.0 or _any_positive(state[_H, a]) else 0):
            out_i = recovered[r]  # the hospital part, where there is one
            h = state[_H, a, r]
            if (out_i > 0.0 and to_h > 0.0) or h > 0.0:
                cell = cells[r]
                hospitalised[r] = binomial(transition_key(cell, _TO_HOSPITAL), out_i, to_h)
                left_h[r] = binomial_at_rate(transition_key(cell, _LEAVE_H), h, exits[2, _EXPOSURE])
                died[r] = binomial(transition_key(cell, _DIE), left_h[r], to_d)
        for r in range(regions):  # vectorised
            flows = (infected[r], onsets[r], recovered[r], hospitalised[r], left_h[r], died[r])
            _apply(state, a, r, flows, new_infections)


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
            s = state[_S, a, r]
            inf = -s * math.expm1(-exposure[a, r])
            ons = state[_E, a, r] * p_onset
            out_i = state[_I, a, r] * p_leave_i
            out_h = state[_H, a, r] * p_leave_h
            _apply(
                state, a, r, (inf, ons, out_i, out_i * to_h, out_h, out_h * to_d), new_infections
            )


@numba.njit(cache=True, error_model="numpy")
def _settled(state: np.ndarray) -> bool:
    """Whether a particle's ``(6, ages, regions)`` has nobody in E, I or H: then no flow can
    happen in the step."""
    for c in (_E, _I, _H):
        for value in state[c].flat:
            if value != 0.0:
                return False
    return True


class Course(NamedTuple):
    """The disease's course as :func:`block_step` takes it: the :func:`constant_exits` of
    E -> I, of leaving I and of leaving H (``exits``, ``tables``, ``guides``), and by age band
    the shares of those leaving I who go to H and of those leaving H who die."""

    exits: np.ndarray
    tables: np.ndarray
    guides: np.ndarray
    hospital_fraction: np.ndarray
    fatality_fraction: np.ndarray


class StepDraw(NamedTuple):
    """Which step :func:`block_step` makes and how: the run's ``seed``, the ``step`` number
    (the draws' streams), whether flows are drawn (``stochastic``) or their means, and whether
    the step starts a day (``fresh_day``: the day's infections start from zero)."""

    seed: np.uint64
    step: np.int64
    stochastic: bool
    fresh_day: bool


@numba.njit(nogil=True, cache=True, error_model="numpy")
def block_step(
    state: np.ndarray,
    first_particle: int,
    transmission: tuple,
    exposure_factors: np.ndarray,
    course: Course,
    draw: StepDraw,
    new_infections: np.ndarray,
    scratch: tuple,
) -> None:
    """Advance one block of particles, ``state`` ``(particles, 6, ages, regions)`` (S, E, I,
    H, R, D; particle numbers from ``first_particle``), by one step; without the GIL, so
    blocks run in parallel threads.

    ``transmission`` is ``(kernels, away, home, inv_residents)`` of
    :mod:`spreadwatch.model.hazard`, which gives each particle's hazard from its infectious
    people at the start of the step; times the particle's ``exposure_factors`` (step length
    times transmissibility) it is the exposure of each susceptible (infection probability
    ``1 - exp(-exposure)``). People leaving I go to H with the age's hospital fraction (else
    R), people leaving H die with the age's fatality fraction (else R): the :class:`Course`.
    With ``draw.stochastic`` every flow is a binomial draw, otherwise its mean. New infections
    are added to ``new_infections`` (``(particles, ages, regions)``), zeroed first on a fresh
    day. ``scratch`` is the block's ``(pressure, exposure, rows, cells)``:
    :func:`~spreadwatch.model.hazard.block_scratch`, ``(particles, ages, regions)``,
    ``(ROWS, regions)`` and ``(regions,)`` (uint64).
    """
    kernels, away, home, inv_residents = transmission
    pressure, exposure, rows, cells = scratch
    if draw.fresh_day:
        new_infections[:] = 0.0
    block_pressure(state[:, _I], kernels, pressure)
    key = seed_key(draw.seed)
    for i in range(state.shape[0]):
        if _settled(state[i]):
            continue
        particle_hazard(
            pressure[0][1, :, i],
            state[i, _I],
            away,
            home,
            inv_residents,
            exposure_factors[i],
            exposure[i],
        )
        if draw.stochastic:
            _particle_flows(
                state[i],
                exposure[i],
                course.exits,
                course.tables,
                course.guides,
                course.hospital_fraction,
                course.fatality_fraction,
                key,
                first_particle + i,
                draw.step,
                rows,
                cells,
                new_infections[i],
            )
        else:
            _particle_means(
                state[i],
                exposure[i],
                course.exits,
                course.hospital_fraction,
                course.fatality_fraction,
                new_infections[i],
            )
