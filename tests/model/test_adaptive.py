"""The adaptive deterministic engine against independent solutions: scipy's odeint of the plain
SEIR equations, the classical final-size relation, fine-step RK4 of the structured model
(ages, hospitals), and an intervention that starts exactly at a day's start."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import odeint
from scipy.optimize import brentq

from spreadwatch.model.adaptive import AdaptiveEngine, _spans
from spreadwatch.model.engines import MeanFieldEngine
from spreadwatch.model.mobility import gravity_mixing
from spreadwatch.model.seir import Model, SEIRParameters
from spreadwatch.model.structured import DayInputs, NaturalHistory, StructuredModel

ONE = {"all": np.ones((1, 1))}


def _world(regions: int, seed: int):
    rng = np.random.default_rng(seed)
    population = rng.integers(50_000, 900_000, regions).astype(float)
    mixing = gravity_mixing(
        population, rng.uniform(34, 38, regions), rng.uniform(126, 129, regions), 0.2
    )
    return population, mixing


def _seeded(seeds: np.ndarray, day: int = 0, **later):
    def schedule(d: int) -> DayInputs:
        inputs = DayInputs(**later) if later and d >= later.pop("_from", 10**9) else DayInputs()
        return DayInputs(seed_infectious=seeds) if d == day else inputs

    return schedule


def _run(engine, model, days, schedule):
    out = []
    engine.run(model, days, schedule, observe=lambda o: out.append(o))
    return (
        np.array([o.states[0] for o in out]),  # (days, 6, regions)
        np.array([o.incidence[0] for o in out]),  # (days, regions)
    )


def test_the_seir_equations_as_scipy_odeint_solves_them():
    population, mixing = _world(12, 1)
    params = SEIRParameters(0.6, 3, 4)
    seeds = np.zeros(12)
    seeds[3] = 20
    plain = Model(population, mixing, params)
    start = plain.initial_state()
    start[0] -= seeds
    start[2] += seeds
    truth = odeint(
        lambda y, t: plain.rates(y.reshape(4, -1))[:4].ravel(),
        start.ravel(),
        np.arange(151.0),
        rtol=1e-10,
        atol=1e-8,
    )[1:].reshape(150, 4, 12)
    model = StructuredModel(population[None], mixing, ONE, NaturalHistory(0.6, 3, 4))
    states, incidence = _run(AdaptiveEngine(), model, 150, _seeded(seeds))
    scale = population.max()
    np.testing.assert_allclose(states[:, [0, 1, 2, 4]], truth, atol=1e-5 * scale)
    # a day's new infections are what S lost that day
    lost = -np.diff(np.concatenate([start[0][None], truth[:, 0]]), axis=0)
    np.testing.assert_allclose(incidence, lost, atol=1e-5 * scale)
    np.testing.assert_allclose(states.sum(axis=1), np.broadcast_to(population, (150, 12)))


def test_one_region_ends_at_the_final_size_of_its_r0():
    """Everyone infected in the end: 1 - z = exp(-R0 z), the classical final-size relation."""
    r0, population = 2.0, 1_000_000.0
    model = StructuredModel(
        np.array([[population]]), np.eye(1), ONE, NaturalHistory(r0 / 5.0, 3.0, 5.0)
    )
    _, incidence = _run(AdaptiveEngine(), model, 400, _seeded(np.array([10.0])))
    expected = brentq(lambda z: 1 - z - np.exp(-r0 * z), 1e-6, 1.0)
    assert (incidence.sum() + 10) / population == pytest.approx(expected, rel=1e-4)


def test_ages_and_hospitals_as_fine_step_rk4_of_the_same_model():
    rng = np.random.default_rng(5)
    population, mixing = _world(8, 2)
    shares = rng.dirichlet(np.ones(3), 8).T  # (3 ages, 8 regions)
    contacts = {"home": rng.uniform(0.5, 2, (3, 3)), "work": rng.uniform(0.2, 1.5, (3, 3))}
    history = NaturalHistory(
        0.12,
        3.0,
        4.0,
        hospital_fraction=np.array([0.01, 0.05, 0.2]),
        hospital_days=6.0,
        fatality_fraction=np.array([0.0, 0.1, 0.3]),
    )
    model = StructuredModel(shares * population, mixing, contacts, history)
    seeds = np.zeros(8)
    seeds[0] = 50
    fine = _run(MeanFieldEngine(64), model, 120, _seeded(seeds))
    ours = _run(AdaptiveEngine(), model, 120, _seeded(seeds))
    scale = population.max()
    np.testing.assert_allclose(ours[0], fine[0], atol=1e-5 * scale)
    np.testing.assert_allclose(ours[1], fine[1], atol=1e-5 * scale)
    assert ours[0][-1, 5].sum() > 0  # deaths happened: the hospital branch was integrated


def test_an_intervention_starts_exactly_at_its_day():
    """Halved transmissibility from day 40: the same as integrating the first 40 days, then
    the rest with the halved rate from day 40's end state (two odeint solutions)."""
    population, mixing = _world(6, 3)
    seeds = np.zeros(6)
    seeds[2] = 30
    model = StructuredModel(population[None], mixing, ONE, NaturalHistory(0.7, 3, 4))

    def schedule(day: int) -> DayInputs:
        if day == 0:
            return DayInputs(seed_infectious=seeds)
        return DayInputs(transmissibility=0.5 if day >= 40 else 1.0)

    states, _ = _run(AdaptiveEngine(), model, 90, schedule)
    plain = Model(population, mixing, SEIRParameters(0.7, 3, 4))
    halved = Model(population, mixing, SEIRParameters(0.35, 3, 4))
    start = plain.initial_state()
    start[0] -= seeds
    start[2] += seeds

    def solve(m: Model, y0: np.ndarray, days: int) -> np.ndarray:
        rhs = lambda y, t: m.rates(y.reshape(4, -1))[:4].ravel()  # noqa: E731
        return odeint(rhs, y0.ravel(), np.arange(days + 1.0), rtol=1e-10, atol=1e-8)[1:]

    before = solve(plain, start, 40).reshape(40, 4, 6)
    after = solve(halved, before[-1], 50).reshape(50, 4, 6)
    truth = np.concatenate([before, after])
    np.testing.assert_allclose(states[:, [0, 1, 2, 4]], truth, atol=1e-5 * population.max())


def test_spans_break_where_the_equations_change():
    seeds = np.ones(3)
    inputs = [
        DayInputs(seed_infectious=seeds),
        DayInputs(),
        DayInputs(),
        DayInputs(transmissibility=0.5),
        DayInputs(transmissibility=0.5),
        DayInputs(imported_exposed=seeds, transmissibility=0.5),
        DayInputs(transmissibility=0.5),
    ]
    assert list(_spans(inputs)) == [(0, 3), (3, 5), (5, 7)]


def test_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="one deterministic trajectory"):
        AdaptiveEngine(particles=3)
    with pytest.raises(ValueError, match="tolerances"):
        AdaptiveEngine(rtol=0)
