"""The chain-binomial engine and its age-structured model, against exact distributions,
branching-process and final-size theory, linear growth rates and the mean-field equations."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import optimize

from spreadwatch.model.engines import ChainBinomialEngine, MeanFieldEngine
from spreadwatch.model.mobility import gravity_mixing, stay_home
from spreadwatch.model.seir import DeterministicEngine, Model, SEIRParameters
from spreadwatch.model.structured import (
    DayInputs,
    E,
    I,
    NaturalHistory,
    S,
    StructuredModel,
    beta_for_r0,
    scaled_mixing,
)

ONE = {"all": np.ones((1, 1))}


def _region_model(population: float, r0: float, latent: float = 3.0, infectious: float = 4.0):
    history = NaturalHistory(r0 / infectious, latent, infectious)
    return StructuredModel(np.array([[population]]), stay_home(1), ONE, history)


def _seeded(counts) -> callable:
    counts = np.asarray(counts, dtype=float)
    return lambda day: DayInputs(seed_infectious=counts) if day == 0 else DayInputs()


def _final_infected(engine, model, days, schedule) -> np.ndarray:
    """Everyone who left S, per particle, at the end of the run."""
    last = {}
    engine.run(model, days, schedule, observe=lambda out: last.update(out=out))
    return model.population.sum() - last["out"].states[:, S].sum(axis=-1)


def test_minor_outbreaks_have_the_branching_process_probability():
    """One infectious person, exponential infectious period: P(extinction) = 1 / R0."""
    r0 = 2.0
    model = _region_model(200_000, r0)
    engine = ChainBinomialEngine(particles=3000, steps_per_day=8, seed=7)
    infected = _final_infected(engine, model, 120, _seeded([1]))
    minor = (infected < 0.01 * 200_000).mean()
    assert minor == pytest.approx(1 / r0, abs=0.035)


def test_major_outbreaks_reach_the_final_size():
    """Major outbreaks end at the chain's mean final size, which tends to the SEIR final size
    ``z = 1 - exp(-r0 z)`` as the step shrinks (the tau-leap bias is first order in the step)."""
    r0 = 1.8
    z = optimize.brentq(lambda x: x - 1 + np.exp(-r0 * x), 1e-6, 1)
    model = _region_model(500_000, r0)
    engine = ChainBinomialEngine(particles=200, steps_per_day=8, seed=3)
    attack = _final_infected(engine, model, 400, _seeded([50])) / 500_000
    chain = {
        steps: _final_infected(ChainBinomialEngine(1, steps, stochastic=False), model, 400,
                               _seeded([50]))[0] / 500_000
        for steps in (2, 8, 32, 128)
    }  # fmt: skip
    assert np.median(attack) == pytest.approx(chain[8], rel=0.005)
    biases = [chain[steps] - z for steps in (2, 8, 32, 128)]
    assert all(b > 0 for b in biases) and biases == sorted(biases, reverse=True)
    assert biases[-1] < 0.002 and biases[0] / biases[-1] > 30  # about 64: first order


def test_every_particle_conserves_whole_people():
    rng = np.random.default_rng(2)
    population = rng.integers(5_000, 50_000, size=(3, 6)).astype(float)
    mixing = gravity_mixing(population.sum(0), rng.uniform(35, 37, 6), rng.uniform(127, 129, 6))
    history = NaturalHistory(0.5, 2.0, 4.0, np.array([0.05, 0.1, 0.3]), 6.0, np.array([0.2]))
    contacts = {"home": rng.uniform(0, 2, (3, 3)), "work": rng.uniform(0, 3, (3, 3))}
    model = StructuredModel(population, mixing, contacts, history)
    seen = []
    engine = ChainBinomialEngine(particles=20, steps_per_day=3, seed=1)
    engine.run(model, 60, _seeded([20, 0, 0, 0, 0, 5]), observe=seen.append)
    residents = population.sum(0)
    for out in seen:
        assert (out.states >= 0).all() and (out.states == np.rint(out.states)).all()
        np.testing.assert_array_equal(out.states.sum(axis=1), np.broadcast_to(residents, (20, 6)))
    assert seen[-1].states[:, 5].sum() > 0  # deaths happened


def test_runs_are_reproducible_by_seed_whatever_the_threads(tmp_path):
    """300 particles are three blocks: with two threads, the threads share them."""
    script = (
        "import numpy as np\n"
        "from tests.model.test_stochastic import _region_model, _seeded\n"
        "from spreadwatch.model.engines import ChainBinomialEngine\n"
        "seen = []\n"
        "ChainBinomialEngine(particles=300, seed=5).run(_region_model(10_000, 2.5), 40,\n"
        "    _seeded([3]), observe=lambda o: seen.append(o.incidence.copy()))\n"
        f"np.save({str(tmp_path)!r} + '/inc.npy', np.array(seen))\n"
    )
    runs = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=os.getcwd())
        runs.append(np.load(tmp_path / "inc.npy"))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].std(axis=1).sum() > 0  # particles differ from each other


def test_mean_field_engine_equals_the_deterministic_seir_model():
    """Without age structure the model is the SEIR of spreadwatch.model.seir, same RK4."""
    rng = np.random.default_rng(4)
    population = rng.integers(10_000, 900_000, 12).astype(float)
    mixing = gravity_mixing(population, rng.uniform(34, 38, 12), rng.uniform(126, 129, 12), 0.2)
    seeds = np.zeros(12)
    seeds[3] = 10
    old = DeterministicEngine(8).run(
        Model(population, mixing, SEIRParameters(0.6, 3, 4)), 150, seeds={0: seeds}
    )
    model = StructuredModel(population[None], mixing, ONE, NaturalHistory(0.6, 3, 4))
    days = []
    MeanFieldEngine(8).run(model, 150, _seeded(seeds), observe=days.append)
    np.testing.assert_allclose([d.incidence[0] for d in days], old.incidence, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        [d.states[0][[S, E, I, 4]] for d in days], old.states, rtol=1e-9, atol=1e-6
    )


def test_stochastic_mean_is_the_chain_mean():
    rng = np.random.default_rng(8)
    population = rng.integers(200_000, 900_000, 5).astype(float)
    mixing = gravity_mixing(population, rng.uniform(34, 38, 5), rng.uniform(126, 129, 5), 0.1)
    model = StructuredModel(population[None], mixing, ONE, NaturalHistory(0.55, 3, 4))
    schedule = _seeded([500, 0, 0, 0, 0])
    stochastic, mean = [], []
    ChainBinomialEngine(300, 4, seed=2).run(model, 120, schedule, lambda o: stochastic.append(o))
    ChainBinomialEngine(1, 4, stochastic=False).run(model, 120, schedule, lambda o: mean.append(o))
    sample = np.array([o.incidence.sum(axis=1) for o in stochastic]).sum(axis=0)
    expected = np.array([o.incidence.sum() for o in mean]).sum()
    standard_error = sample.std() / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) < 4 * standard_error + 1e-3 * expected


def _growth_rate(history: NaturalHistory, contacts: np.ndarray, residents: np.ndarray) -> float:
    """Dominant eigenvalue of the linearised (E, I) system by age, fully susceptible."""
    a = residents.size
    transmission = history.beta * contacts * residents[:, None] / residents[None, :]
    sigma, gamma = 1 / history.latent_days, 1 / history.infectious_days
    jacobian = np.block(
        [[-sigma * np.eye(a), transmission], [sigma * np.eye(a), -gamma * np.eye(a)]]
    )
    return float(np.max(np.linalg.eigvals(jacobian).real))


def _observed_growth(model: StructuredModel, days: int, schedule) -> float:
    out = []
    MeanFieldEngine(8).run(model, days, schedule, observe=lambda o: out.append(o.incidence.sum()))
    incidence = np.array(out)
    return float(np.log(incidence[-1] / incidence[-11]) / 10)


def test_age_structured_growth_matches_the_linearised_system():
    from spreadwatch.regions.sources import prem_contact_matrices

    contacts = prem_contact_matrices("South_Korea")
    residents = np.linspace(3e6, 1e6, 16)
    beta = beta_for_r0(2.0, 5.0, contacts)
    history = NaturalHistory(beta, 3.0, 5.0)
    model = StructuredModel(residents[:, None], stay_home(1), contacts, history)
    expected = _growth_rate(history, sum(contacts.values()), residents)
    seeds = lambda day: DayInputs(seed_infectious=np.array([10.0])) if day == 0 else DayInputs()  # noqa: E731
    assert _observed_growth(model, 60, seeds) == pytest.approx(expected, rel=0.01)
    # the R0 normalisation: the next-generation matrix beta * D * C has spectral radius r0
    ngm = beta * 5.0 * sum(contacts.values())
    assert np.max(np.abs(np.linalg.eigvals(ngm))) == pytest.approx(2.0)


def test_contact_cuts_and_isolation_scale_the_growth_rate():
    from spreadwatch.regions.sources import prem_contact_matrices

    contacts = prem_contact_matrices("South_Korea")
    residents = np.linspace(3e6, 1e6, 16)
    history = NaturalHistory(beta_for_r0(2.5, 5.0, contacts), 3.0, 5.0)
    model = StructuredModel(residents[:, None], stay_home(1), contacts, history)
    cut = {"school": 0.0, "work": 0.5}
    isolation = (1 / 5.0) / (1 / 5.0 + 1 / 2.0)

    def schedule(day: int) -> DayInputs:
        seed = np.array([10.0]) if day == 0 else None
        return DayInputs(contact_scale=cut, transmissibility=isolation, seed_infectious=seed)

    kept = {s: m * cut.get(s, 1.0) for s, m in contacts.items()}
    cut_history = NaturalHistory(history.beta * isolation, 3.0, 5.0)
    expected = _growth_rate(cut_history, sum(kept.values()), residents)
    assert _observed_growth(model, 80, schedule) == pytest.approx(expected, rel=0.02)


def test_a_full_mobility_cut_keeps_the_epidemic_in_its_region():
    population = np.array([[1e5, 2e5, 3e5]])
    mixing = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    model = StructuredModel(population, mixing, ONE, NaturalHistory(0.7, 3, 4))
    np.testing.assert_array_equal(scaled_mixing(mixing, np.zeros(3)), np.eye(3))
    halved = scaled_mixing(mixing, np.full(3, 0.5))
    np.testing.assert_allclose(1 - np.diag(halved), 0.5 * (1 - np.diag(mixing)))

    def schedule(day: int) -> DayInputs:
        seed = np.array([10.0, 0, 0]) if day == 0 else None
        return DayInputs(away_scale=np.zeros(3), seed_infectious=seed)

    last = {}
    ChainBinomialEngine(50, seed=1).run(model, 100, schedule, lambda o: last.update(o=o))
    infected = population[0] - last["o"].states[:, S]
    assert (infected[:, 1:] == 0).all() and infected[:, 0].max() > 1000


def test_importations_arrive_as_poisson_exposed():
    model = _region_model(1e6, 0.5)  # subcritical: arrivals stay visible

    def schedule(day: int) -> DayInputs:
        return DayInputs(imported_exposed=np.array([4.0]) if day == 0 else None)

    first = []
    ChainBinomialEngine(4000, seed=9).run(model, 1, schedule, lambda o: first.append(o))
    arrived = model.population.sum() - first[0].states[:, S].sum(axis=-1) - first[0].incidence[:, 0]
    assert arrived.mean() == pytest.approx(4.0, abs=0.1)
    assert arrived.var() == pytest.approx(4.0, rel=0.1)  # Poisson: variance = mean
    assert first[0].states[:, E].sum() + first[0].states[:, I].sum() > 0


def test_outputs_kept_by_an_observer_keep_their_own_day():
    """Outputs are read from the engine's state lazily; one kept past its call gets copies."""
    model = _region_model(50_000, 2.5)
    kept, during = [], []

    def observe(output) -> None:
        kept.append(output)
        if output.day % 2:  # read some days during the call, others only afterwards
            during.append((output.day, output.states.copy(), output.incidence.copy()))

    ChainBinomialEngine(8, seed=4).run(model, 30, _seeded([20]), observe)
    assert [o.day for o in kept] == list(range(30))
    for day, states, incidence in during:
        np.testing.assert_array_equal(kept[day].states, states)
        np.testing.assert_array_equal(kept[day].incidence, incidence)
    infected = [model.population.sum() - o.states[:, S].sum() for o in kept]
    assert infected == sorted(infected) and infected[0] < infected[-1]  # each its own day
