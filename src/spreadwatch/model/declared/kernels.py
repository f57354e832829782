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

from spreadwatch.model.hazard import block_hazards
from spreadwatch.model.sampling import binomial, cell_key, seed_key, transition_key


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
    seed: np.uint64,
    step: np.int64,
    stochastic: bool,
    new: np.ndarray,
    fresh_day: bool,
    scratch: tuple,
) -> None:
    """One step of ``dt`` days of a block of particles ``state`` ``(particles, compartments,
    ages, regions)``; ``new`` ``(particles, ages, regions)`` gathers the day's infections
    (zeroed first on the day's first step).

    ``model`` is ``(source, target, group, weights, exit_start, exit_order)``,
    ``transmission`` the hazard's ``(kernels, away, home, inv_residents)``, ``factors`` each
    particle's multiplier of the hazard, ``scratch`` ``(infectious (groups, particles, ages,
    regions), hazards (same), moves (compartments, ages, regions), hazard scratch)``."""
    _, target, group, weights, exit_start, exit_order = model
    kernels, away, home, inv_residents = transmission
    infectious, hazards, moves, hazard_scratch = scratch
    particles, compartments, ages, regions = state.shape
    groups = weights.shape[0]
    if fresh_day:
        new[:] = 0.0
    for p in range(particles):
        weighted(state[p], weights, infectious[:, p])
    for g in range(groups):
        block_hazards(
            infectious[g], kernels, away, home, inv_residents, factors, hazard_scratch, hazards[g]
        )
    key = seed_key(seed)
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
                    total = 0.0
                    for j in range(first, last):
                        t = exit_order[j]
                        rate = rates[t, a, r]
                        if group[t] >= 0:
                            rate *= hazards[group[t], p, a, r]
                        total += rate
                    if total <= 0.0:
                        continue
                    probability = -math.expm1(-total * dt)
                    cell = cell_key(key, particle, step, (c * ages + a) * regions + r)
                    if stochastic:
                        left = binomial(transition_key(cell, 0), n, probability)
                    else:
                        left = n * probability
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
