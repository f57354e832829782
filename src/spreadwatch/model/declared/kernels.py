"""The compiled steps of a declared model (:mod:`~spreadwatch.model.declared.compiled`).

State is ``(compartments, ages, regions)`` per particle; a transition ``t`` moves people from
``source[t]`` to ``target[t]`` at ``rates[t]`` a day, times the force of infection
``hazards[group[t]]`` for a contact transition. The deterministic engines integrate the flows'
means (:func:`derivative`); the chain binomial draws them (:func:`block_step`): a cell of a
compartment with exits loses ``Binomial(n, 1 - exp(-total dt))`` people over a step (``total``
the sum of its exits' rates), split over the exits by their shares of ``total``
(sequential binomials: a multinomial), exactly as the fixed model branches I -> H and
I -> R. Every draw has its own key (:mod:`spreadwatch.model.sampling`): runs are reproducible
by seed whatever the number of threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from spreadwatch.model.chain_binomial import StepDraw
from spreadwatch.model.hazard import block_hazards
from spreadwatch.model.sampling import (
    GUIDE_BUCKETS,
    TABLE_MAX_N,
    binomial,
    binomial_at_rate,
    cdf_table,
    cell_key,
    seed_key,
    table_draw,
    transition_key,
    uniform,
)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def weighted(state: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
    """``out[g] = sum_c weights[g, c] * state[c]`` (the infectious people of each contact
    group), ``state`` ``(compartments, ages, regions)``."""
    groups, compartments, ages, regions = weights.shape
    out[:] = 0.0
    for g in range(groups):
        for c in range(compartments):
            for a in range(ages):
                for r in range(regions):
                    w = weights[g, c, a, r]
                    if w != 0.0:
                        out[g, a, r] += w * state[c, a, r]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def derivative(
    state: np.ndarray,
    rates: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    group: np.ndarray,
    hazards: np.ndarray,
    out: np.ndarray,
) -> None:
    """The flows' rate of change ``out`` ``(compartments + 1, ages, regions)``: each
    compartment's, then the new infections' (every contact transition's flow)."""
    compartments, ages, regions = state.shape
    out[:] = 0.0
    for t in range(source.shape[0]):
        s, e, g = source[t], target[t], group[t]
        for a in range(ages):
            for r in range(regions):
                flow = rates[t, a, r] * state[s, a, r]
                if g >= 0:
                    flow *= hazards[g, a, r]
                    out[compartments, a, r] += flow
                out[s, a, r] -= flow
                out[e, a, r] += flow


@numba.njit(cache=True, nogil=True, error_model="numpy")
def block_step(
    state: np.ndarray,
    first_particle: int,
    rates: np.ndarray,
    model: tuple,
    transmission: tuple,
    factors: np.ndarray,
    dt: float,
    draw: StepDraw,
    new: np.ndarray,
    scratch: tuple,
    tables: tuple,
) -> None:
    """One step of ``dt`` days of a block of particles ``state`` ``(particles, compartments,
    ages, regions)``, drawn or their means as ``draw`` says (:class:`~spreadwatch.model.
    chain_binomial.StepDraw`); ``new`` ``(particles, ages, regions)`` gathers the day's
    infections (zeroed first on the day's first step).

    ``model`` is ``(source, target, group, weights, exit_start, exit_order)``,
    ``transmission`` the hazard's ``(kernels, away, home, inv_residents)``, ``factors`` each
    particle's multiplier of the hazard, ``scratch`` ``(infectious (groups, particles, ages,
    regions), hazards (same), moves (compartments, ages, regions), hazard scratch)``;
    ``tables`` ``(table_of, tables, guides, flipped)`` the CDF tables of the compartments
    whose exits have the same constant rate in every cell (``table_of[c]`` its table, or -1),
    from which small counts draw in a few comparisons (:func:`constant_tables`)."""
    _, target, group, weights, exit_start, exit_order = model
    table_of, cdf_tables, guides, flipped = tables
    kernels, away, home, inv_residents = transmission
    infectious, hazards, moves, hazard_scratch = scratch
    particles, compartments, ages, regions = state.shape
    groups = weights.shape[0]
    stochastic, step = draw.stochastic, draw.step
    if draw.fresh_day:
        new[:] = 0.0
    for p in range(particles):
        weighted(state[p], weights, infectious[:, p])
    for g in range(groups):
        block_hazards(
            infectious[g], kernels, away, home, inv_residents, factors, hazard_scratch, hazards[g]
        )
    # exits at constant rates: their totals and probabilities are the same for every particle
    contact = np.zeros(compartments, dtype=np.bool_)
    for c in range(compartments):
        for j in range(exit_start[c], exit_start[c + 1]):
            contact[c] |= group[exit_order[j]] >= 0
    constant_total = np.zeros((compartments, ages, regions))
    for c in range(compartments):
        if not contact[c]:
            for j in range(exit_start[c], exit_start[c + 1]):
                constant_total[c] += rates[exit_order[j]]
    key = seed_key(draw.seed)
    for p in range(particles):
        particle = first_particle + p
        moves[:] = 0.0
        for c in range(compartments):
            first, last = exit_start[c], exit_start[c + 1]
            if first == last:
                continue
            for a in range(ages):
                for r in range(regions):
                    n = state[p, c, a, r]
                    if n <= 0.0:
                        continue
                    if contact[c]:
                        total = 0.0
                        for j in range(first, last):
                            t = exit_order[j]
                            rate = rates[t, a, r]
                            if group[t] >= 0:
                                rate *= hazards[group[t], p, a, r]
                            total += rate
                    else:
                        total = constant_total[c, a, r]
                    if total <= 0.0:
                        continue
                    cell = cell_key(key, particle, step, (c * ages + a) * regions + r)
                    k = table_of[c]
                    if stochastic and k >= 0 and n <= TABLE_MAX_N:
                        u = uniform(transition_key(cell, 0), 0)
                        left = table_draw(cdf_tables[k], guides[k], flipped[k], n, u)
                    elif stochastic:  # 1 - exp(-total dt) of n leave
                        left = binomial_at_rate(transition_key(cell, 0), n, total * dt)
                    else:
                        left = -n * math.expm1(-total * dt)
                    rest = total
                    for j in range(first, last):
                        if left <= 0.0:
                            break
                        t = exit_order[j]
                        rate = rates[t, a, r]
                        if group[t] >= 0:
                            rate *= hazards[group[t], p, a, r]
                        if j == last - 1 or rate >= rest:
                            flow = left
                        elif not stochastic:
                            flow = left * rate / rest
                        else:
                            flow = binomial(transition_key(cell, j - first + 1), left, rate / rest)
                        left -= flow
                        rest -= rate
                        moves[c, a, r] -= flow
                        moves[target[t], a, r] += flow
                        if group[t] >= 0:
                            new[p, a, r] += flow
        for c in range(compartments):
            for a in range(ages):
                for r in range(regions):
                    state[p, c, a, r] += moves[c, a, r]


def constant_tables(
    rates: np.ndarray,
    source: np.ndarray,
    group: np.ndarray,
    compartments: int,
    dt: float,
    cache: dict[float, tuple[np.ndarray, np.ndarray, bool]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(table_of, tables, guides, flipped)`` of :func:`block_step`: a CDF table
    (:func:`~spreadwatch.model.sampling.cdf_table`) for each compartment whose exits are all
    spontaneous with the same total rate in every cell; ``cache`` keeps tables by exposure."""
    table_of = np.full(compartments, -1, dtype=np.int64)
    chosen: list[tuple[np.ndarray, np.ndarray, bool]] = []
    for c in range(compartments):
        exits = source == c
        if not exits.any() or (group[exits] >= 0).any():
            continue
        total = rates[exits].sum(axis=0)
        exposure = float(total.flat[0]) * dt
        if exposure <= 0 or not np.all(total == total.flat[0]):
            continue
        if exposure not in cache:
            cache[exposure] = cdf_table(exposure)
        table_of[c] = len(chosen)
        chosen.append(cache[exposure])
    size = TABLE_MAX_N + 1
    return (
        table_of,
        np.stack([t[0] for t in chosen]) if chosen else np.zeros((0, size, size)),
        np.stack([t[1] for t in chosen])
        if chosen
        else np.zeros((0, size, GUIDE_BUCKETS), dtype=np.int32),
        np.array([t[2] for t in chosen], dtype=np.bool_),
    )
