"""The engine's random draws against exact distributions: the scalar samplers, the CDF tables of
constant exits, the row samplers (vectorised first pass, scalar rest) in every regime, and the
compiled hazard against its definition."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats

from spreadwatch.model import chain_binomial, hazard, sampling

SIZE = 100_000


def assert_binomial(draws: np.ndarray, n: int, p: float) -> None:
    """Chi-square of ``draws`` against the Binomial(n, p) pmf (tails pooled into one bin)."""
    draws = np.asarray(draws).astype(np.int64)
    assert draws.min() >= 0 and draws.max() <= n
    size = draws.size
    expected = stats.binom.pmf(np.arange(n + 1), n, p) * size
    observed = np.bincount(draws, minlength=n + 1)
    keep = expected > 5
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    rest_observed, rest_expected = size - observed[keep].sum(), size - expected[keep].sum()
    bins = keep.sum()
    if rest_expected > 5:
        chi2 += (rest_observed - rest_expected) ** 2 / rest_expected
        bins += 1
    assert stats.chi2.sf(chi2, max(bins - 1, 1)) > 1e-4, (n, p, chi2, bins)


def _draws(n: float, p: float, size: int, seed: int = 11) -> np.ndarray:
    out = np.empty(size)
    sampling.draw_binomials(np.uint64(seed), np.full(size, n), np.full(size, p), out)
    return out


@pytest.mark.parametrize(
    ("n", "p"),
    [(6, 0.3), (40, 0.1), (1000, 0.02), (1000, 0.3), (200_000, 0.001), (50, 0.9), (3000, 0.75)],
)
def test_binomial_draws_follow_the_exact_distribution(n, p):
    """Every sampler regime: inversion, BTRS, and p > 1/2 by symmetry."""
    assert_binomial(_draws(n, p, SIZE), n, p)


def test_binomial_edge_cases_and_streams():
    assert _draws(0, 0.5, 10).sum() == 0
    assert (_draws(17, 1.0, 10) == 17).all()
    assert _draws(17, 0.0, 10).sum() == 0
    np.testing.assert_array_equal(_draws(500, 0.2, 1000, seed=3), _draws(500, 0.2, 1000, seed=3))
    assert not np.array_equal(_draws(500, 0.2, 1000, seed=3), _draws(500, 0.2, 1000, seed=4))


@numba.njit(cache=True)
def _cells(key: np.uint64, row: int, regions: int) -> np.ndarray:
    """The stream keys of a row of cells (rows as particles and steps)."""
    cells = np.empty(regions, dtype=np.uint64)
    for r in range(regions):
        cells[r] = sampling.cell_key(key, row % 97, row // 97, r)
    return cells


@numba.njit(cache=True)
def _infection_rows(n: float, exposure: float, rows: int, regions: int) -> np.ndarray:
    out = np.empty((rows, regions))
    susceptible = np.full(regions, n)
    exposures = np.full(regions, exposure)
    scratch = np.empty((chain_binomial.ROWS, regions))
    for row in range(rows):
        chain_binomial._infections_row(
            _cells(np.uint64(5), row, regions), susceptible, exposures, scratch
        )
        out[row] = scratch[0]
    return out


@pytest.mark.parametrize(
    ("n", "exposure"),
    [
        (100_000, 1e-8),  # almost always nobody: settled by the first pass
        (100_000, 2e-5),  # mean 2: inversion
        (100_000, 1e-4),  # mean 10: the border of inversion and BTRS
        (2_000, 0.01),  # mean 20: BTRS with a weak squeeze (many exact bound tests)
        (100_000, 1e-3),  # mean 100: BTRS
        (40, 0.5),  # p = 0.39
        (30, 1.5),  # p > 1/2: by symmetry
    ],
)
def test_infection_rows_draw_the_exact_binomial(n, exposure):
    draws = _infection_rows(float(n), exposure, SIZE // 250, 250)
    assert_binomial(draws.ravel(), n, -math.expm1(-exposure))


def test_infection_rows_with_nobody_at_risk_draw_nothing():
    assert not _infection_rows(0.0, 0.3, 10, 250).any()
    assert not _infection_rows(1000.0, 0.0, 10, 250).any()


@numba.njit(cache=True)
def _exit_rows(n: float, exits: tuple, rows: int, regions: int) -> np.ndarray:
    params, tables, guides = exits
    out = np.empty((rows, regions))
    people = np.full(regions, n)
    scratch = np.empty((chain_binomial.ROWS, regions))
    for row in range(rows):
        chain_binomial._exits_row(
            _cells(np.uint64(9), row, regions), 1, people, params[0], tables[0], guides[0],
            scratch, out[row],
        )  # fmt: skip
    return out


@pytest.mark.parametrize("exposure", [1 / 3, 1.2])  # p = 0.28 and p = 0.70 (flipped table)
@pytest.mark.parametrize("n", [1, 7, 40, sampling.TABLE_MAX_N, sampling.TABLE_MAX_N + 1, 5000])
def test_exit_rows_draw_the_exact_binomial(n, exposure):
    """Counts up to the table's size by the table, larger ones by the samplers."""
    exits = chain_binomial.constant_exits([exposure])
    draws = _exit_rows(float(n), exits, SIZE // 250, 250)
    assert_binomial(draws.ravel(), n, -math.expm1(-exposure))


def test_cdf_tables_are_the_binomial_cdf_and_guide_the_search():
    table, guide, flipped = sampling.cdf_table(0.25)
    p = -math.expm1(-0.25)
    assert not flipped
    for n in (0, 1, 13, 200):
        np.testing.assert_allclose(table[n, : n + 1], stats.binom.cdf(np.arange(n + 1), n, p))
        assert (table[n, n:] == 1.0).all()
        for j in range(sampling.GUIDE_BUCKETS):  # the first x whose CDF reaches j / buckets
            level = j / sampling.GUIDE_BUCKETS
            assert table[n, guide[n, j]] >= level
            assert guide[n, j] == 0 or table[n, guide[n, j] - 1] < level
    assert sampling.cdf_table(1.0)[2]  # p = 0.63: rows of those who stay


def _hazard_by_definition(model_parts, infectious: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``factor * (away @ (I[b] @ K_b) + home @ (I / N))`` per particle, in float64."""
    kernels, away, home, inv_residents = model_parts
    pressure = np.einsum("pbk,bkr->pbr", infectious, kernels.astype(np.float64))
    local = infectious * inv_residents
    total = np.einsum("ab,pbr->par", away, pressure) + np.einsum("ab,pbr->par", home, local)
    return factors[:, None, None] * total


def test_block_hazard_equals_its_definition():
    """Several blocks (the last one partial), age bands, home and away settings, zeros."""
    rng = np.random.default_rng(3)
    particles, ages, regions = 2 * hazard.BLOCK + 44, 3, 7
    kernels = rng.uniform(0, 1e-5, (ages, regions, regions)).astype(np.float32)
    kernels = (kernels + kernels.transpose(0, 2, 1)) / 2
    away, home = rng.uniform(0, 2, (ages, ages)), rng.uniform(0, 2, (ages, ages))
    inv_residents = 1.0 / rng.uniform(1e4, 1e5, (ages, regions))
    infectious = rng.integers(0, 50, (particles, ages, regions)).astype(np.float64)
    infectious[rng.random(infectious.shape) < 0.5] = 0.0
    infectious[: hazard.BLOCK] = 0.0  # a block without anyone infectious but one
    infectious[3, 1, 2] = 9.0
    sparse = slice(hazard.BLOCK, 2 * hazard.BLOCK)  # a few particles and regions
    infectious[sparse] = 0.0
    infectious[hazard.BLOCK + 5, :, 1] = 4.0
    infectious[hazard.BLOCK + 40, 2, [1, 3]] = 7.0
    infectious[2 * hazard.BLOCK - 1, 0, 6] = 1.0
    factors = rng.uniform(0.5, 2, particles)
    parts = (kernels, away, home, inv_residents)
    no_away = (np.zeros((0, regions, regions), np.float32), np.zeros((ages, ages)), home,
               inv_residents)  # fmt: skip
    for given, definition, rtol in (
        (parts, parts, 1e-5),
        (no_away, (kernels, *no_away[1:]), 1e-12),
    ):
        out = np.empty_like(infectious)
        for part in hazard.blocks(particles):
            scratch = hazard.block_scratch(part.stop - part.start, ages, regions, np.float32)
            hazard.block_hazards(infectious[part], *given, factors[part], scratch, out[part])
        expected = _hazard_by_definition(definition, infectious, factors)
        np.testing.assert_allclose(out, expected, rtol=rtol)


@numba.njit(cache=True)
def _rows_and_scalar(n: np.ndarray, x: np.ndarray, exits: tuple) -> tuple:
    """Rows of cells ``(n[i, r], x[i, r])`` by the row samplers and the same cells one by one
    by the scalar samplers, for infections and for a constant exit."""
    params, tables, guides = exits
    rows, regions = n.shape
    scratch = np.empty((chain_binomial.ROWS, regions))
    by_row = np.empty((2, rows, regions))
    one_by_one = np.empty((2, rows, regions))
    key = sampling.seed_key(np.uint64(21))
    for i in range(rows):
        cells = _cells(key, i, regions)
        chain_binomial._infections_row(cells, n[i], x[i], scratch)
        by_row[0, i] = scratch[0]
        chain_binomial._exits_row(
            cells, 2, n[i], params[0], tables[0], guides[0], scratch, by_row[1, i]
        )
        for r in range(regions):
            cell = cells[r]
            stream = sampling.transition_key(cell, 0)
            one_by_one[0, i, r] = sampling.binomial_at_rate(stream, n[i, r], x[i, r])
            stream = sampling.transition_key(cell, 2)
            if n[i, r] <= params[0, 2]:
                one_by_one[1, i, r] = sampling.table_draw(
                    tables[0], guides[0], params[0, 3] != 0.0, n[i, r], sampling.uniform(stream, 0)
                )
            else:
                one_by_one[1, i, r] = sampling.binomial_at_rate(stream, n[i, r], params[0, 0])
    return by_row, one_by_one


@pytest.mark.parametrize("exposure", [0.25, 1.5, float(np.nextafter(math.log(2.0), 1.0))])
def test_rows_draw_what_the_scalar_samplers_draw_cell_for_cell(exposure):
    """Cells of every kind side by side in one row (empty, tiny, inversion of every length,
    BTRS accepted and rejected, p > 1/2): the vectorised passes change no draw."""
    rng = np.random.default_rng(5)
    n = np.floor(10 ** rng.uniform(-0.5, 6, (400, 250)))
    n[rng.random(n.shape) < 0.2] = 0.0
    x = 10 ** rng.uniform(-9, 0.3, n.shape)
    x[rng.random(n.shape) < 0.1] = 0.0
    by_row, one_by_one = _rows_and_scalar(n, x, chain_binomial.constant_exits([exposure]))
    np.testing.assert_array_equal(by_row, one_by_one)
    mean = n * -np.expm1(-x)
    regimes = {
        "btrs": (x <= math.log(2)) & (mean >= 10),
        "inversion": (x <= math.log(2)) & (mean > 0.5) & (mean < 10),
        "over one half": (x > math.log(2)) & (n > 0),
    }
    assert all(cells.sum() > 2000 for cells in regimes.values())


@numba.njit(cache=True)
def _elementary(x: np.ndarray) -> np.ndarray:
    out = np.empty((3, x.size))
    for i in range(x.size):
        out[0, i] = sampling.exp_neg(min(x[i], 43.0))
        out[1, i] = sampling.expm1_small(min(x[i], math.log(2.0)))
        out[2, i] = sampling.log_positive(x[i])
    return out


def test_branch_free_elementary_functions_are_within_two_units_in_the_last_place():
    rng = np.random.default_rng(8)
    x = np.concatenate(
        [
            rng.uniform(0, 43, 200_000),
            rng.uniform(0, 1e-6, 20_000),
            10 ** rng.uniform(-300, 300, 200_000),
            1 + rng.uniform(-1e-9, 1e-9, 20_000),
            [1e-300, 0.5, 1.0, 2.0, math.log(2.0)],
        ]
    )
    got = _elementary(x)
    small = np.minimum(x, math.log(2.0))
    for values, exact in (
        (got[0], np.exp(-np.minimum(x, 43.0))),
        (got[1], np.expm1(small)),
        (got[2], np.log(x)),
    ):
        ulps = np.abs(values - exact) / np.spacing(np.maximum(np.abs(exact), 1e-300))
        assert ulps.max() <= 2.0
