"""Compiled kernels of the stochastic engine: a counter-based random stream and binomial draws.

Every random number is a pure function of ``(seed, particle, step, cell, transition, k)``: the
kernels hash that key (SplitMix64) instead of advancing a shared generator state. So a run is
reproducible by seed whatever the number of threads, and particles are independent streams.

Binomial draws are exact: inversion when the mean is small, otherwise Hörmann's transformed
rejection with squeeze (BTRS, "The generation of binomial random variates", J. Stat. Comput.
Simul. 46, 1993), the algorithm TensorFlow and JAX use.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Below this mean (n * min(p, 1 - p)) draws use inversion, above it BTRS.
INVERSION_MAX_MEAN = 10.0


@numba.njit(inline="always", cache=True)
def _mix(z: np.uint64) -> np.uint64:
    """SplitMix64 finaliser: a bijective avalanche of 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always", cache=True)
def stream_key(seed: np.uint64, a: np.int64, b: np.int64, c: np.int64) -> np.uint64:
    """The key of one random stream, from a seed and three counters."""
    z = _mix(seed + np.uint64(0x9E3779B97F4A7C15))
    z = _mix(z ^ np.uint64(a))
    z = _mix(z ^ np.uint64(b))
    return _mix(z ^ np.uint64(c))


#: Odd multiplier spacing the streams of one cell's transitions (``2^32`` uniforms apart).
_TRANSITION_STRIDE = np.uint64(0x9E3779B97F4A7C15 << 32 & 0xFFFFFFFFFFFFFFFF)


@numba.njit(inline="always", cache=True)
def cell_key(seed_key: np.uint64, particle: np.int64, step: np.int64, cell: np.int64) -> np.uint64:
    """The key of one cell's draws in one step: two rounds over the packed counters (particle
    and step below 2^32 each)."""
    packed = (np.uint64(particle) << np.uint64(32)) | np.uint64(step)
    return _mix(_mix(seed_key ^ packed) ^ np.uint64(cell))


@numba.njit(inline="always", cache=True)
def transition_key(cell: np.uint64, transition: int) -> np.uint64:
    """The stream of one transition of a cell: uniforms ``uniform(key, k)`` of different
    transitions never share an input while ``k < 2^32``."""
    return cell + np.uint64(transition) * _TRANSITION_STRIDE


@numba.njit(inline="always", cache=True)
def uniform(key: np.uint64, k: np.int64) -> float:
    """The ``k``-th uniform number in (0, 1) of stream ``key``."""
    z = _mix(key + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15))
    return ((z >> np.uint64(11)).item() + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _inversion(key: np.uint64, n: float, p: float, log_q: float) -> float:
    """Binomial(n, p) by sequential search of the CDF (``p <= 0.5``, small mean);
    ``log_q = log(1 - p)``."""
    s = p / (1.0 - p)
    a = (n + 1.0) * s
    start = math.exp(n * log_q)
    attempt = 0
    while True:  # a search running past n (rounding in the far tail) starts again
        u = uniform(key, attempt)
        attempt += 1
        r = start
        x = 0.0
        while u > r and x <= n:
            u -= r
            x += 1.0
            r *= a / x - s
        if x <= n:
            return x


#: ``log(k!)`` minus its Stirling approximation ``(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2``.
_STIRLING_TAIL = np.array(
    [
        math.lgamma(k + 1.0)
        - ((k + 0.5) * math.log(k + 1.0) - (k + 1.0) + 0.5 * math.log(2 * math.pi))
        for k in range(10)
    ]
)


@numba.njit(inline="always", cache=True)
def _stirling_tail(k: float) -> float:
    if k < 10.0:
        return _STIRLING_TAIL[int(k)]
    kp1sq = (k + 1.0) * (k + 1.0)
    return (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / 1260.0 / kp1sq) / kp1sq) / (k + 1.0)


@numba.njit(cache=True)
def _btrs(key: np.uint64, n: float, p: float) -> float:
    """Binomial(n, p) by transformed rejection with squeeze (``p <= 0.5``, mean >= 10); the
    acceptance bound uses Stirling's series for the log factorials."""
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    r = p / (1.0 - p)
    m = math.floor((n + 1.0) * p)
    m_part = math.nan  # the bound's constant part, needed only when the squeeze fails
    m_tails = 0.0
    k = 0
    while True:
        u = uniform(key, k) - 0.5
        v = uniform(key, k + 1)
        k += 2
        us = 0.5 - abs(u)
        x = math.floor((2.0 * a / us + b) * u + c)
        if x < 0.0 or x > n:
            continue
        if us >= 0.07 and v <= v_r:
            return x
        v = math.log(v * alpha / (a / (us * us) + b))
        if math.isnan(m_part):
            m_part = (m + 0.5) * math.log((m + 1.0) / (r * (n - m + 1.0)))
            m_tails = _stirling_tail(m) + _stirling_tail(n - m)
        bound = (
            m_part
            + (n + 1.0) * math.log((n - m + 1.0) / (n - x + 1.0))
            + (x + 0.5) * math.log(r * (n - x + 1.0) / (x + 1.0))
            + m_tails
            - _stirling_tail(x)
            - _stirling_tail(n - x)
        )
        if v <= bound:
            return x


@numba.njit(cache=True)
def _binomial_small_p(key: np.uint64, n: float, p: float, log_q: float) -> float:
    if n * p < INVERSION_MAX_MEAN:
        return _inversion(key, n, p, log_q)
    return _btrs(key, n, p)


@numba.njit(cache=True)
def binomial(key: np.uint64, n: float, p: float) -> float:
    """An exact Binomial(n, p) draw from stream ``key`` (``n`` a whole number as float)."""
    if n <= 0.0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - _binomial_small_p(key, n, 1.0 - p, math.log(p))
    return _binomial_small_p(key, n, p, math.log1p(-p))


@numba.njit(cache=True)
def binomial_at_rate(key: np.uint64, n: float, exposure: float) -> float:
    """Binomial(n, 1 - exp(-exposure)): how many of ``n`` leave at a rate whose integral over
    the step is ``exposure`` (saves the logarithm of the common case, tiny exposures)."""
    if n <= 0.0 or exposure <= 0.0:
        return 0.0
    p = -math.expm1(-exposure)
    if p > 0.5:
        return n - _binomial_small_p(key, n, 1.0 - p, math.log(p))
    return _binomial_small_p(key, n, p, -exposure)


@numba.njit(cache=True)
def poisson(key: np.uint64, mean: float) -> float:
    """A Poisson draw (inversion for small means, a fine binomial limit for large ones)."""
    if mean <= 0.0:
        return 0.0
    if mean < INVERSION_MAX_MEAN:
        u = uniform(key, 0)
        x, r = 0.0, math.exp(-mean)
        while u > r and x < 1000.0:
            u -= r
            x += 1.0
            r *= mean / x
        return x
    big = max(1e8, mean * 1e4)  # Binomial(N, mean / N) -> Poisson(mean) as N grows
    return binomial(key, big, mean / big)


@numba.njit(cache=True)
def draw_binomials(seed: np.uint64, n: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` with independent Binomial(n[i], p[i]) draws of stream ``seed``."""
    for i in range(n.size):
        out[i] = binomial(stream_key(seed, i, 0, 0), n[i], p[i])


# Transitions of one step, each with its own random stream.
_INFECT, _ONSET, _LEAVE_I, _TO_HOSPITAL, _LEAVE_H, _DIE = range(6)


@numba.njit(parallel=True, cache=True)
def chain_binomial_step(
    state: np.ndarray,
    infect_exposure: np.ndarray,
    onset_exposure: float,
    leave_i_exposure: float,
    hospital_fraction: np.ndarray,
    leave_h_exposure: float,
    fatality_fraction: np.ndarray,
    seed: np.uint64,
    step: np.int64,
    stochastic: bool,
    new_infections: np.ndarray,
) -> None:
    """Advance ``state`` (``(particles, 6, ages, regions)``: S, E, I, H, R, D) by one step.

    ``infect_exposure`` (``(particles, ages, regions)``) is each susceptible's hazard integrated
    over the step (infection probability ``1 - exp(-exposure)``); the other exits have constant
    exposures (step length over mean duration). People leaving I go to
    H with the age's ``hospital_fraction`` (else R); people leaving H die with the age's
    ``fatality_fraction`` (else R). With ``stochastic`` every flow is a binomial draw, otherwise
    its mean. New infections are added to ``new_infections`` (``(particles, ages, regions)``).
    """
    particles, _, ages, regions = state.shape
    seed_key = _mix(seed + np.uint64(0x9E3779B97F4A7C15))
    p_onset = -math.expm1(-onset_exposure)
    p_leave_i = -math.expm1(-leave_i_exposure)
    p_leave_h = -math.expm1(-leave_h_exposure)
    for pi in numba.prange(particles):
        for a in range(ages):
            to_h = hospital_fraction[a]
            to_d = fatality_fraction[a]
            for r in range(regions):
                s = state[pi, 0, a, r]
                e = state[pi, 1, a, r]
                i = state[pi, 2, a, r]
                h = state[pi, 3, a, r]
                x = infect_exposure[pi, a, r]
                if stochastic:
                    base = cell_key(seed_key, pi, step, a * regions + r)
                    inf = binomial_at_rate(transition_key(base, _INFECT), s, x)
                    ons = binomial_at_rate(transition_key(base, _ONSET), e, onset_exposure)
                    out_i = binomial_at_rate(transition_key(base, _LEAVE_I), i, leave_i_exposure)
                    hosp = binomial(transition_key(base, _TO_HOSPITAL), out_i, to_h)
                    out_h = binomial_at_rate(transition_key(base, _LEAVE_H), h, leave_h_exposure)
                    die = binomial(transition_key(base, _DIE), out_h, to_d)
                else:
                    inf = -s * math.expm1(-x)
                    ons = e * p_onset
                    out_i = i * p_leave_i
                    hosp = out_i * to_h
                    out_h = h * p_leave_h
                    die = out_h * to_d
                state[pi, 0, a, r] = s - inf
                state[pi, 1, a, r] = e + inf - ons
                state[pi, 2, a, r] = i + ons - out_i
                state[pi, 3, a, r] = h + hosp - out_h
                state[pi, 4, a, r] += out_i - hosp + out_h - die
                state[pi, 5, a, r] += die
                new_infections[pi, a, r] += inf
