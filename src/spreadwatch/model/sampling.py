"""A counter-based random stream and exact binomial draws, compiled.

Every random number is a pure function of ``(seed, particle, step, cell, transition, k)``: the
kernels hash that key (SplitMix64) instead of advancing a shared generator state. So a run is
reproducible by seed whatever the number of threads, and particles are independent streams.

Binomial draws are exact: inversion when the mean is small (a sequential search of the CDF, or
of a table of CDFs when the probability is the same for a whole run), otherwise Hörmann's
transformed rejection with squeeze (BTRS, "The generation of binomial random variates",
J. Stat. Comput. Simul. 46, 1993), the algorithm TensorFlow and JAX use. BTRS's first try is a
branch-free function of two uniforms (:func:`btrs_first_try`), so the engine can make it for a
whole row of cells at once in vector instructions and finish only the rest one by one.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic
from scipy import stats

#: Below this mean (n * min(p, 1 - p)) draws use inversion, above it BTRS.
INVERSION_MAX_MEAN = 10.0
LOG_2 = math.log(2.0)


@numba.njit(inline="always", cache=True, error_model="numpy")
def _mix(z: np.uint64) -> np.uint64:
    """SplitMix64 finaliser: a bijective avalanche of 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always", cache=True, error_model="numpy")
def stream_key(seed: np.uint64, a: np.int64, b: np.int64, c: np.int64) -> np.uint64:
    """The key of one random stream, from a seed and three counters."""
    z = _mix(seed + np.uint64(0x9E3779B97F4A7C15))
    z = _mix(z ^ np.uint64(a))
    z = _mix(z ^ np.uint64(b))
    return _mix(z ^ np.uint64(c))


@numba.njit(inline="always", cache=True, error_model="numpy")
def seed_key(seed: np.uint64) -> np.uint64:
    """The key every cell key of a run derives from."""
    return _mix(seed + np.uint64(0x9E3779B97F4A7C15))


#: Odd multiplier spacing the streams of one cell's transitions (``2^32`` uniforms apart).
_TRANSITION_STRIDE = np.uint64(0x9E3779B97F4A7C15 << 32 & 0xFFFFFFFFFFFFFFFF)


@numba.njit(inline="always", cache=True, error_model="numpy")
def cell_key(key: np.uint64, particle: np.int64, step: np.int64, cell: np.int64) -> np.uint64:
    """The key of one cell's draws in one step: two rounds over the packed counters (particle
    and step below 2^32 each) on a run's :func:`seed_key`."""
    packed = (np.uint64(particle) << np.uint64(32)) | np.uint64(step)
    return _mix(_mix(key ^ packed) ^ np.uint64(cell))


@numba.njit(inline="always", cache=True, error_model="numpy")
def transition_key(cell: np.uint64, transition: int) -> np.uint64:
    """The stream of one transition of a cell: uniforms ``uniform(key, k)`` of different
    transitions never share an input while ``k < 2^32``."""
    return cell + np.uint64(transition) * _TRANSITION_STRIDE


@numba.njit(inline="always", cache=True, error_model="numpy")
def uniform(key: np.uint64, k: np.int64) -> float:
    """The ``k``-th uniform number in (0, 1) of stream ``key``."""
    z = _mix(key + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15))
    return ((z >> np.uint64(11)).item() + 0.5) * (1.0 / 9007199254740992.0)


#: ``1 / x`` for the small counts the inversion search steps through.
RECIPROCALS = 1.0 / np.arange(1.0, 65.0)
#: ``log 2`` in two parts (the first with trailing zero bits), its inverse, powers ``2^-k``.
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_HALVINGS = 2.0 ** -np.arange(64.0)
#: ``1 / k!``, the Taylor coefficients of :func:`exp_neg` and :func:`expm1_small`.
_TAYLOR = np.array([1.0 / math.factorial(k) for k in range(20)])


@intrinsic
def _float_bits(typingctx, x):
    """The 64 bits of a float64 as an int64 (a bit cast, free)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, x):
    """The float64 whose 64 bits are an int64's (a bit cast, free)."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


#: fdlibm's polynomial of ``log(1 + f)``, ``f = 2 s / (1 - s)``.
_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)
_SQRT_2 = math.sqrt(2.0)


@numba.njit(inline="always", cache=True, error_model="numpy")
def log_positive(x: float) -> float:
    """``log(x)`` for normal ``x > 0`` to within one unit in the last place, without branches
    or library calls (so it vectorises): fdlibm's method, ``x = 2^k m`` by the bits, ``m`` in
    ``[sqrt(2) / 2, sqrt(2))``, a polynomial of ``log(m)``."""
    bits = _float_bits(x)
    k = (bits >> 52) - 1023
    m = _bits_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    high = m > _SQRT_2
    m = m * 0.5 if high else m
    dk = float(k + 1 if high else k)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    odd = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    even = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    half_square = 0.5 * f * f
    return dk * _LN2_HI - ((half_square - (s * (half_square + odd + even) + dk * _LN2_LO)) - f)


@numba.njit(inline="always", cache=True, error_model="numpy")
def exp_neg(t: float) -> float:
    """``exp(-t)`` for ``0 <= t < 44`` to a few units in the last place, without branches or
    library calls (so it vectorises): ``t = k log 2 + r``, ``|r| <= log 2 / 2``, a Taylor
    polynomial of ``exp(-r)`` times ``2^-k``."""
    k = np.floor(t * _INV_LN2 + 0.5)
    z = (k * _LN2_HI - t) + k * _LN2_LO
    y = _TAYLOR[13]
    for j in range(12, -1, -1):
        y = y * z + _TAYLOR[j]
    return y * _HALVINGS[int(k)]


@numba.njit(inline="always", cache=True, error_model="numpy")
def expm1_small(x: float) -> float:
    """``exp(x) - 1`` for ``0 <= x <= log 2`` to a few units in the last place, without
    branches or library calls: ``x`` times a Taylor polynomial of degree 17."""
    y = _TAYLOR[18]
    for j in range(17, 0, -1):
        y = y * x + _TAYLOR[j]
    return x * y


@numba.njit(cache=True, error_model="numpy")
def _inversion(key: np.uint64, n: float, start: float, s: float, u: float) -> float:
    """Binomial(n, p) by sequential search of the CDF from the stream's first uniform ``u``
    (``p <= 0.5``, small mean); ``start = (1 - p)^n`` is ``P(X = 0)``, ``s = p / (1 - p)``."""
    a = (n + 1.0) * s
    attempt = 1
    while True:  # a search running past n (rounding in the far tail) starts again
        r = start
        x = 0.0
        while u > r and x <= n:
            u -= r
            x += 1.0
            r *= (a * RECIPROCALS[int(x) - 1] if x <= 64.0 else a / x) - s
        if x <= n:
            return x
        u = uniform(key, attempt)
        attempt += 1


#: ``log(k!)`` minus its Stirling approximation ``(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2``.
_STIRLING_TAIL = np.array(
    [
        math.lgamma(k + 1.0)
        - ((k + 0.5) * math.log(k + 1.0) - (k + 1.0) + 0.5 * math.log(2 * math.pi))
        for k in range(10)
    ]
)


@numba.njit(inline="always", cache=True, error_model="numpy")
def _stirling_tail(k: float) -> float:
    t = 1.0 / (k + 1.0)
    t2 = t * t
    series = (1.0 / 12.0 - (1.0 / 360.0 - t2 * (1.0 / 1260.0)) * t2) * t
    return _STIRLING_TAIL[int(min(max(k, 0.0), 9.0))] if k < 10.0 else series


@numba.njit(inline="always", cache=True, error_model="numpy")
def btrs_first_try(u: float, v: float, n: float, p: float) -> tuple[float, bool]:
    """BTRS's candidate from the uniforms ``u`` and ``v``, and whether the squeeze accepts it
    (``p <= 0.5``, mean >= 10); without branches, so it vectorises over cells."""
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    us = 0.5 - abs(u - 0.5)
    x = np.floor((2.0 * a / us + b) * (u - 0.5) + n * p + 0.5)
    accept = (x >= 0.0) & (x <= n) & (us >= 0.07) & (v <= 0.92 - 4.2 / b)
    return x, accept


@numba.njit(inline="always", cache=True, error_model="numpy")
def btrs_exact_test(x: float, u: float, v: float, n: float, p: float) -> bool:
    """BTRS's exact acceptance test of the candidate ``x`` from the uniforms ``u`` and ``v``
    where the squeeze failed: the log-likelihood ratio bound with Stirling's series for the
    log factorials. Without branches, so it vectorises."""
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    us = 0.5 - abs(u - 0.5)
    alpha = (2.83 + 5.1 / b) * spq
    r = p / (1.0 - p)
    m = np.floor((n + 1.0) * p)
    v = log_positive(v * alpha / (a / (us * us) + b))
    bound = (
        (m + 0.5) * log_positive((m + 1.0) / (r * (n - m + 1.0)))
        + (n + 1.0) * log_positive((n - m + 1.0) / (n - x + 1.0))
        + (x + 0.5) * log_positive(r * (n - x + 1.0) / (x + 1.0))
        + _stirling_tail(m)
        + _stirling_tail(n - m)
        - _stirling_tail(x)
        - _stirling_tail(n - x)
    )
    return (x >= 0.0) & (x <= n) & (v <= bound)


@numba.njit(cache=True, error_model="numpy")
def btrs_continue(key: np.uint64, n: float, p: float) -> float:
    """Binomial(n, p) by BTRS whose first try was rejected: the tries from the stream's third
    uniform on."""
    k = 2
    while True:
        u = uniform(key, k)
        v = uniform(key, k + 1)
        k += 2
        x, accept = btrs_first_try(u, v, n, p)
        if accept:
            return x
        if btrs_exact_test(x, u, v, n, p):
            return x


@numba.njit(cache=True, error_model="numpy")
def _btrs(key: np.uint64, n: float, p: float) -> float:
    """Binomial(n, p) by transformed rejection with squeeze (``p <= 0.5``, mean >= 10)."""
    u = uniform(key, 0)
    v = uniform(key, 1)
    x, accept = btrs_first_try(u, v, n, p)
    if accept or btrs_exact_test(x, u, v, n, p):
        return x
    return btrs_continue(key, n, p)


@numba.njit(cache=True, error_model="numpy")
def _binomial_small_p(key: np.uint64, n: float, p: float, log_q: float) -> float:
    """Binomial(n, p) for ``p <= 0.5``; ``log_q = log(1 - p)``."""
    if n * p >= INVERSION_MAX_MEAN:
        return _btrs(key, n, p)
    u = uniform(key, 0)
    if u <= 1.0 + n * log_q:  # u <= P(X = 0) = exp(n log q), which is >= 1 + n log q
        return 0.0
    return _inversion(key, n, math.exp(n * log_q), p / (1.0 - p), u)


@numba.njit(cache=True, error_model="numpy")
def binomial(key: np.uint64, n: float, p: float) -> float:
    """An exact Binomial(n, p) draw from stream ``key`` (``n`` a whole number as float)."""
    if n <= 0.0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - _binomial_small_p(key, n, 1.0 - p, math.log(p))
    return _binomial_small_p(key, n, p, math.log1p(-p))


@numba.njit(inline="always", cache=True, error_model="numpy")
def probability_at_rate(exposure: float) -> float:
    """``1 - exp(-exposure)`` for ``0 <= exposure <= log 2``, as ``s / (1 + s)`` with ``s =
    exp(exposure) - 1`` (:func:`expm1_small`): no cancellation, no library call."""
    s = expm1_small(exposure)
    return s / (1.0 + s)


@numba.njit(cache=True, error_model="numpy")
def draw_binomials(seed: np.uint64, n: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` with independent Binomial(n[i], p[i]) draws of stream ``seed``."""
    for i in range(n.size):
        out[i] = binomial(stream_key(seed, i, 0, 0), n[i], p[i])


#: Largest ``n`` of a :func:`cdf_table`, and the buckets of its guide.
TABLE_MAX_N = 256
GUIDE_BUCKETS = 32


def cdf_table(exposure: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """The CDFs of Binomial(n, p), ``p = 1 - exp(-exposure)``, for ``n`` up to
    :data:`TABLE_MAX_N`, as rows ``table[n, x] = P(X <= x)`` (1 from ``x = n`` on); their
    guide, ``guide[n, j]`` the first ``x`` with ``P(X <= x) >= j / GUIDE_BUCKETS``; and whether
    the rows are of ``1 - p`` (counting those who stay) because ``p > 1/2``. Exact draws for
    a run's constant exits in about two comparisons (:func:`table_draw`)."""
    p = -math.expm1(-exposure)
    flipped = p > 0.5
    n = np.arange(TABLE_MAX_N + 1)[:, None]
    x = np.arange(TABLE_MAX_N + 1)[None, :]
    table = np.where(x >= n, 1.0, stats.binom.cdf(x, n, 1.0 - p if flipped else p))
    levels = np.arange(GUIDE_BUCKETS) / GUIDE_BUCKETS
    guide = (table[:, None, :] < levels[None, :, None]).sum(axis=2)
    return np.ascontiguousarray(table), guide.astype(np.int32), flipped


@numba.njit(inline="always", cache=True, error_model="numpy")
def table_draw(table: np.ndarray, guide: np.ndarray, flipped: bool, n: float, u: float) -> float:
    """Binomial(n, p) by inversion of row ``n`` of a :func:`cdf_table` with the uniform ``u``,
    starting where its guide says."""
    row = int(n)
    x = table_start(guide, row, u)
    while u > table[row, x]:
        x += 1
    return n - x if flipped else float(x)


@numba.njit(inline="always", cache=True, error_model="numpy")
def table_start(guide: np.ndarray, row: int, u: float) -> int:
    """Where the search of row ``row`` of a :func:`cdf_table` for the uniform ``u`` starts:
    no later than its answer."""
    return guide[row, int(u * GUIDE_BUCKETS)]


@numba.njit(cache=True, error_model="numpy")
def binomial_at_rate(key: np.uint64, n: float, exposure: float) -> float:
    """Binomial(n, 1 - exp(-exposure)): how many of ``n`` leave at a rate whose integral over
    the step is ``exposure``. The common case, a tiny expected count, costs one uniform and a
    comparison: no logarithm, no exponential."""
    if n <= 0.0 or exposure <= 0.0:
        return 0.0
    if exposure > LOG_2:  # p > 1/2
        p = -math.expm1(-exposure)
        return n - _binomial_small_p(key, n, 1.0 - p, math.log(p))
    if n * exposure < INVERSION_MAX_MEAN:  # the mean n p is below n * exposure
        u = uniform(key, 0)
        if u <= 1.0 - n * exposure:  # P(X = 0) = exp(-n exposure) >= 1 - n exposure
            return 0.0
        return _inversion(key, n, exp_neg(n * exposure), expm1_small(exposure), u)
    return _binomial_small_p(key, n, probability_at_rate(exposure), -exposure)
