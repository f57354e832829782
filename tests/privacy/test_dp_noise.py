"""The noise is OpenDP's discrete Laplace at the scale the bound and epsilon call for.

OpenDP draws from the operating system's secure generator and cannot be seeded, so these tests
are statistical: tolerances are several standard errors wide (failure odds well below 1e-6).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spreadwatch.release import dp

CELLS = 100_000


def _discrete_laplace_pmf(k: np.ndarray, scale: float) -> np.ndarray:
    p = math.exp(-1 / scale)
    return (1 - p) / (1 + p) * p ** np.abs(k)


@pytest.mark.parametrize(("sensitivity", "epsilon"), [(4, 1.0), (24, 3.0), (1, 0.5)])
def test_scale_is_sensitivity_over_epsilon_and_opendp_proves_epsilon(sensitivity, epsilon):
    mechanism = dp.Mechanism.calibrate(sensitivity, epsilon)
    assert mechanism.scale == pytest.approx(sensitivity / epsilon, rel=1e-6)
    measurement = mechanism.measurement()
    assert measurement.map(sensitivity) <= epsilon
    assert measurement.map(2 * sensitivity) > epsilon  # twice the neighbours, twice the loss


@pytest.mark.parametrize(("sensitivity", "epsilon"), [(4, 1.0), (24, 2.0)])
def test_empirical_noise_matches_the_discrete_laplace(sensitivity, epsilon):
    mechanism = dp.Mechanism.calibrate(sensitivity, epsilon)
    rng = np.random.default_rng(0)
    exact = rng.poisson(30, CELLS).astype(np.int64)
    exact[: CELLS // 4] = 0  # noise does not depend on the count
    noise = mechanism.add_noise(exact) - exact
    assert noise.dtype == np.int64
    variance = mechanism.variance
    # mean: standard error sqrt(var / n)
    assert abs(noise.mean()) < 6 * math.sqrt(variance / CELLS)
    # variance: the discrete Laplace has kurtosis < 6, so SE(sample variance) < var sqrt(5 / n)
    assert noise.var() == pytest.approx(variance, rel=6 * math.sqrt(5 / CELLS))
    assert np.abs(noise).mean() == pytest.approx(mechanism.mean_absolute_noise, rel=0.03)
    zero_part = noise[: CELLS // 4]
    assert zero_part.var() == pytest.approx(variance, rel=6 * math.sqrt(5 / (CELLS // 4)))
    # the shape: P(0), P(+-1), P(+-scale) against the probability mass function
    for k in (0, 1, -1, round(mechanism.scale)):
        want = _discrete_laplace_pmf(np.array([k]), mechanism.scale)[0]
        got = np.mean(noise == k)
        assert abs(got - want) < 6 * math.sqrt(want * (1 - want) / CELLS)


def test_theoretical_moments_of_the_discrete_laplace():
    scale = 3.5
    k = np.arange(-2000, 2001)
    pmf = _discrete_laplace_pmf(k, scale)
    assert pmf.sum() == pytest.approx(1.0)
    mechanism = dp.Mechanism(sensitivity=7, epsilon=2.0, scale=scale)
    assert (pmf * k**2).sum() == pytest.approx(mechanism.variance)
    assert (pmf * np.abs(k)).sum() == pytest.approx(mechanism.mean_absolute_noise)


def test_noise_is_fresh_on_every_call_and_threads_do_not_change_it():
    mechanism = dp.Mechanism.calibrate(4, 1.0)
    zeros = np.zeros(200_000 // 4, dtype=np.int64)
    one, two = mechanism.add_noise(zeros, threads=1), mechanism.add_noise(zeros, threads=2)
    assert not np.array_equal(one, two)
    assert one.var() == pytest.approx(two.var(), rel=0.1)
    assert mechanism.add_noise(np.array([], dtype=np.int64)).size == 0


def test_post_processing_clamps_at_zero():
    assert dp.post_process(np.array([-3, 0, 2, 7])).tolist() == [0, 0, 2, 7]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_epsilon_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="epsilon must be"):
        dp.Mechanism.calibrate(4, bad)
