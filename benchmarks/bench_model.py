"""The chain-binomial engine against a straightforward NumPy implementation, same run.

``sim_speedup_vs_naive``: 250 regions x 1000 particles x 365 days of the stochastic SEIR with
gravity mobility, one step a day. The naive version is what one writes first: the force of
infection with two matrix products, then one ``Generator.binomial`` call per transition per step
over the whole ``(particles, regions)`` array. spreadwatch's engine runs the same model (same
hazard, same exact binomial flows) through its compiled kernel. Both attack rates are printed:
they agree to sampling error, so the two compute the same thing. Each runs twice, and the
shorter time of each counts.

``declared_generic_vs_fixed_speed``: the same SEIR declared as data (``[model] preset =
"seir"``) and forced onto the declared model's generic kernels, over the fixed model's tuned
kernel, same run (a ratio below 1: the generic kernels' cost). Through a config, a declared
model of the fixed family runs on the tuned kernel itself.

``quantiles_vs_numpy_speed``: a stochastic run's daily summary, the quantiles over 1,000
particles of 7 rows of 229 regions (people counts), by ``np.quantile(..., axis=0)`` over
:func:`~spreadwatch.model.outputs.particle_quantiles` (the same numbers), same run.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from spreadwatch.model.declared.compiled import compile_model
from spreadwatch.model.declared.engines import DeclaredChainBinomialEngine
from spreadwatch.model.declared.model import DeclaredModel
from spreadwatch.model.declared.spec import ModelSection
from spreadwatch.model.engines import ChainBinomialEngine
from spreadwatch.model.mobility import gravity_mixing
from spreadwatch.model.structured import DayInputs, NaturalHistory, StructuredModel

REGIONS = int(os.environ.get("SPREADWATCH_BENCH_REGIONS", "250"))
PARTICLES = int(os.environ.get("SPREADWATCH_BENCH_PARTICLES", "1000"))
DAYS = int(os.environ.get("SPREADWATCH_BENCH_DAYS", "365"))
#: Runs of each, the shortest counting (this machine's speed varies by several per cent).
REPEATS = int(os.environ.get("SPREADWATCH_BENCH_REPEATS", "2"))
R0, LATENT, INFECTIOUS = 2.5, 3.0, 4.0


def _regions(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    population = rng.integers(20_000, 500_000, REGIONS).astype(np.float64)
    mixing = gravity_mixing(
        population, rng.uniform(34, 38, REGIONS), rng.uniform(126, 129.5, REGIONS), 0.1, 2.0
    )
    return population, mixing


def naive(population: np.ndarray, mixing: np.ndarray, seed: int = 1) -> float:
    """Straightforward NumPy chain binomial; returns the mean attack rate."""
    rng = np.random.default_rng(seed)
    beta = R0 / INFECTIOUS
    s = np.tile(population, (PARTICLES, 1)).astype(np.int64)
    e, i = np.zeros_like(s), np.zeros_like(s)
    s[:, 0] -= 10
    i[:, 0] += 10
    present = population @ mixing
    onset, recover = -np.expm1(-1 / LATENT), -np.expm1(-1 / INFECTIOUS)
    infected = 0
    for _ in range(DAYS):
        force = beta * (i @ mixing) / present
        hazard = force @ mixing.T
        new = rng.binomial(s, -np.expm1(-hazard))
        ons = rng.binomial(e, onset)
        rec = rng.binomial(i, recover)
        s -= new
        e += new - ons
        i += ons - rec
        infected += int(new.sum())
    return infected / PARTICLES / population.sum()


def engine(
    population: np.ndarray,
    mixing: np.ndarray,
    seed: int = 1,
    days: int = DAYS,
    declared: bool = False,
) -> float:
    """The same model on :class:`ChainBinomialEngine` (``declared``: the preset SEIR on the
    declared model's engine); returns the mean attack rate."""
    contacts = {"all": np.ones((1, 1))}
    if declared:
        model = _declared(population, mixing, contacts)
        chain = DeclaredChainBinomialEngine
    else:
        history = NaturalHistory(R0 / INFECTIOUS, LATENT, INFECTIOUS)
        model = StructuredModel(population[None], mixing, contacts, history)
        chain = ChainBinomialEngine
    seeds = np.zeros(REGIONS)
    seeds[0] = 10
    infected = [0.0]

    def count(output) -> None:
        infected[0] += float(output.incidence.sum())

    chain(PARTICLES, steps_per_day=1, seed=seed).run(
        model, days, lambda d: DayInputs(seed_infectious=seeds) if d == 0 else DayInputs(), count
    )
    return infected[0] / PARTICLES / population.sum()


def _declared(population: np.ndarray, mixing: np.ndarray, contacts: dict) -> DeclaredModel:
    parameters = {"beta": R0 / INFECTIOUS, "latent_days": LATENT, "infectious_days": INFECTIOUS}
    section = ModelSection.model_validate({"preset": "seir", "parameters": parameters})
    codes = [str(k) for k in range(REGIONS)]
    compiled = compile_model(section, population[None], contacts, codes, dt.date(2026, 1, 1))
    return DeclaredModel(population[None], mixing, contacts, compiled)


def _best(work, repeats: int) -> tuple[float, float]:
    """The result of ``work()`` and its shortest wall time over ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return result, best


def quantiles_speed(days: int = 20) -> float:
    """np.quantile's time over particle_quantiles' on ``days`` days of particle counts."""
    from spreadwatch.model.outputs import particle_quantiles

    rng = np.random.default_rng(3)
    day = rng.poisson(20_000, (1000, 7, 229)).astype(np.float64)
    levels = np.array([0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975])
    assert np.array_equal(particle_quantiles(day, levels), np.quantile(day, levels, axis=0))
    _, ours = _best(lambda: [particle_quantiles(day, levels) for _ in range(days)], REPEATS)
    _, numpy = _best(lambda: [np.quantile(day, levels, axis=0) for _ in range(days)], REPEATS)
    print(f"   daily quantiles of 1000 particles: {ours / days * 1000:.1f} ms, "
          f"np.quantile {numpy / days * 1000:.1f} ms")  # fmt: skip
    return numpy / ours


def run() -> dict[str, float]:
    population, mixing = _regions()
    engine(population, mixing, days=2)  # compile the kernel
    ours_attack, ours_s = _best(lambda: engine(population, mixing), REPEATS)
    with threadpool_limits(1, "blas"):  # as fast as NumPy gets here: spinning BLAS threads
        naive_attack, naive_s = _best(lambda: naive(population, mixing), REPEATS)  # slow it
    engine(population, mixing, days=2, declared=True)
    declared_attack, declared_s = _best(lambda: engine(population, mixing, declared=True), REPEATS)
    print(f"   attack rate: engine {ours_attack:.4f}, declared {declared_attack:.4f}, "
          f"naive {naive_attack:.4f}")  # fmt: skip
    print(f"   seconds (best of {REPEATS}): engine {ours_s:.2f}, declared {declared_s:.2f}, "
          f"naive {naive_s:.2f}")  # fmt: skip
    return {
        "sim_speedup_vs_naive": round(naive_s / ours_s, 2),
        "declared_generic_vs_fixed_speed": round(ours_s / declared_s, 2),
        "sim_engine_seconds_250x1000x365": round(ours_s, 2),
        "quantiles_vs_numpy_speed": round(quantiles_speed(), 2),
    }
