"""The SEIR engine against independent truth: final-size relation, a scipy reference integration of
a hand-written double-loop ODE, conservation, independence and spread order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from spreadwatch.model import DeterministicEngine, Model, SEIRParameters, stay_home
from spreadwatch.model.seir import COMPARTMENTS

RNG = np.random.default_rng(20240301)


def random_mixing(n: int, away: float = 0.3) -> np.ndarray:
    """A dense row-stochastic matrix with ``1 - away`` on the diagonal."""
    off = RNG.random((n, n))
    np.fill_diagonal(off, 0.0)
    m = away * off / off.sum(axis=1, keepdims=True)
    np.fill_diagonal(m, 1.0 - away)
    return m


def hazard_double_loop(m, population, infectious, beta):
    """Force of infection on residents, written out term by term (the definition)."""
    n = len(population)
    lam = []
    for j in range(n):
        present = sum(m[i][j] * population[i] for i in range(n))
        infectious_present = sum(m[i][j] * infectious[i] for i in range(n))
        lam.append(beta * infectious_present / present)
    return [sum(m[i][j] * lam[j] for j in range(n)) for i in range(n)]


@pytest.mark.parametrize("r0", [1.5, 2.5, 4.0])
def test_single_region_final_size_matches_the_analytic_relation(r0):
    n_people, seed = 1e6, 1.0
    model = Model(np.array([n_people]), stay_home(1), SEIRParameters.from_r0(r0, 2.0, 4.0))
    out = DeterministicEngine(steps_per_day=4).run(model, days=1500, seeds={0: [seed]})
    final = out.states[-1, :, 0] / n_people
    assert final[1] + final[2] < 1e-9, "epidemic not over"
    z = final[3]
    # Classic final-size relation (vanishing seed): z = 1 - exp(-R0 z).
    z_classic = brentq(lambda x: x - 1 + np.exp(-r0 * x), 1e-6, 1.0)
    assert abs(z - z_classic) < 1e-3
    # Exact for a finite seed moved from S to I: 1 - z = s0 exp(-R0 z).
    s0 = 1 - seed / n_people
    z_exact = brentq(lambda x: 1 - x - s0 * np.exp(-r0 * x), 1e-6, 1.0)
    assert abs(z - z_exact) < 1e-7


def test_force_of_infection_equals_a_double_loop():
    m = random_mixing(3, away=0.4)
    population = np.array([1000.0, 250.0, 4000.0])
    state = np.array(
        [[900.0, 200.0, 3990.0], [40.0, 10.0, 5.0], [50.0, 30.0, 5.0], [10.0, 10.0, 0.0]]
    )
    params = SEIRParameters(beta=0.7, latent_days=3.0, infectious_days=5.0)
    model = Model(population, m, params)
    expected = hazard_double_loop(m.tolist(), population.tolist(), state[2].tolist(), 0.7)
    np.testing.assert_allclose(model.hazard(state[2]), expected, rtol=1e-13)
    rates = model.rates(state)
    np.testing.assert_allclose(rates[4], np.array(expected) * state[0], rtol=1e-13)
    np.testing.assert_allclose(rates[:4].sum(axis=0), 0.0, atol=1e-12)


def test_rk4_matches_a_reference_integration_of_the_hand_written_ode():
    m = random_mixing(3, away=0.25)
    population = np.array([2e5, 5e4, 1e6])
    beta, sigma, gamma = 0.6, 1 / 3, 1 / 5

    def rhs(_t, y):
        s, e, i, _r = y.reshape(4, 3)
        h = np.array(hazard_double_loop(m, population, i, beta))
        return np.concatenate([-h * s, h * s - sigma * e, sigma * e - gamma * i, gamma * i])

    start = np.zeros((4, 3))
    start[0] = population
    start[0, 0] -= 100.0
    start[2, 0] = 100.0
    days = 60
    reference = solve_ivp(
        rhs, (0, days), start.ravel(), t_eval=np.arange(1, days + 1), rtol=1e-11, atol=1e-6
    )
    model = Model(population, m, SEIRParameters(beta, 3.0, 5.0))
    out = DeterministicEngine(steps_per_day=8).run(model, days, initial=start)
    got = out.states.reshape(days, 12)
    np.testing.assert_allclose(got, reference.y.T, rtol=1e-6, atol=1e-3)


def test_population_is_conserved_every_day_with_mobility_and_seeds():
    population = np.array([3e5, 1.2e6, 8e4, 5e5])
    model = Model(population, random_mixing(4, 0.35), SEIRParameters.from_r0(3.0, 3.0, 4.0))
    seeds = {0: [10.0, 0, 0, 0], 20: [0, 0, 5.0, 0], 45: [0, 7.0, 0, 0]}
    out = DeterministicEngine(steps_per_day=6).run(model, days=200, seeds=seeds)
    totals = out.states.sum(axis=1)  # (days, regions): residents counted at home
    np.testing.assert_allclose(totals, np.broadcast_to(population, totals.shape), rtol=1e-6)
    assert np.abs(totals / population - 1).max() < 1e-12
    assert (out.states > -1e-9).all()
    # Everyone who left S did so by infection (incidence) or seeding.
    seeded = np.zeros_like(out.incidence)
    for day, counts in seeds.items():
        seeded[day] = counts
    left_s = population - out.states[:, 0, :]
    np.testing.assert_allclose(left_s, np.cumsum(out.incidence + seeded, axis=0), rtol=1e-9)


def test_identity_mixing_keeps_regions_independent():
    population = np.array([1e5, 2e5])
    model = Model(population, stay_home(2), SEIRParameters.from_r0(2.5, 3.0, 5.0))
    out = DeterministicEngine().run(model, days=150, seeds={0: [5.0, 0.0]})
    assert out.states[-1, 3, 0] > 0.5 * population[0]
    b = out.states[:, :, 1]
    assert (b[:, 0] == population[1]).all()
    assert (b[:, 1:] == 0).all()
    assert (out.incidence[:, 1] == 0).all()


def test_infection_arrives_earlier_in_the_more_strongly_coupled_region():
    # A sends 5% of residents to B each day but only 0.5% to C; B and C don't mix.
    m = np.array([[0.945, 0.05, 0.005], [0.05, 0.95, 0.0], [0.005, 0.0, 0.995]])
    population = np.array([1e6, 1e6, 1e6])
    model = Model(population, m, SEIRParameters.from_r0(2.0, 3.0, 5.0))
    out = DeterministicEngine().run(model, days=300, seeds={0: [10.0, 0.0, 0.0]})
    ever_infected = np.cumsum(out.incidence, axis=0)
    arrival = [int(np.argmax(ever_infected[:, k] >= 100.0)) for k in range(3)]
    assert all(ever_infected[-1] >= 100.0)
    assert arrival[0] < arrival[1] < arrival[2]


def test_region_nobody_is_in_during_the_day_has_no_force_of_infection():
    m = np.array([[0.0, 1.0], [0.0, 1.0]])  # everyone spends the day in region 1
    model = Model(np.array([100.0, 100.0]), m, SEIRParameters(0.5, 2.0, 4.0))
    state = model.initial_state()
    state[:, 0] = [90.0, 0.0, 10.0, 0.0]
    h = model.hazard(state[2])
    assert np.isfinite(h).all()
    np.testing.assert_allclose(h, [0.5 * 10 / 200, 0.5 * 10 / 200])


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="sums to"):
        Model(np.array([1.0, 2.0]), np.array([[0.5, 0.4], [0.0, 1.0]]), SEIRParameters(1, 1, 1))
    with pytest.raises(ValueError, match="regions"):
        Model(np.array([1.0, 2.0, 3.0]), stay_home(2), SEIRParameters(1, 1, 1))
    with pytest.raises(ValueError, match="latent_days"):
        SEIRParameters(1.0, 0.0, 1.0)
    assert len(COMPARTMENTS) == 4
