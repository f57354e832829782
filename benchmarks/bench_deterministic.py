"""The deterministic engine against scipy's ``odeint`` on the same equations, same run.

Korea's 229 si-gun-gu with the config path's gravity mobility, an SEIR with R0 2.5 seeded in
Daegu, 365 days. ``det_vs_odeint_speed``: ``odeint`` (LSODA) of the plain NumPy right-hand side
of :mod:`spreadwatch.model.seir` (all four compartments, two matrix products), over the time of
the engine a run config gets (:class:`~spreadwatch.model.adaptive.AdaptiveEngine`), both with
tolerances 1e-6 and daily output. ``det_vs_rk4_speed``: the fixed-step RK4 engine at 8 steps a
day (the engine before) over the same. Best of five runs each; the largest difference of the
two solutions, in people, is printed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.integrate import odeint

from spreadwatch.model.config import config_from_mapping
from spreadwatch.model.engines import MeanFieldEngine
from spreadwatch.model.run import build_scenario
from spreadwatch.model.seir import Model, SEIRParameters

CONFIG = {
    "run": {"start_date": "2020-02-18", "days": 365},
    "disease": {"r0": 2.5, "latent_days": 4.0, "infectious_days": 5.0},
    "regions": {"source": "korea-sigungu"},
    "mobility": {"kind": "gravity", "away_fraction": 0.1, "distance_exponent": 2.0},
    "seed": [{"region": "22040", "infected": 30}],
}
REPEATS = 5


def _best(work) -> tuple[object, float]:
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return result, best


def run() -> dict[str, float]:
    scenario = build_scenario(config_from_mapping(CONFIG, Path.cwd(), "bench"))
    model = scenario.model
    days = CONFIG["run"]["days"]

    def ours() -> np.ndarray:
        states = []
        scenario.engine.run(model, days, scenario.timeline, lambda o: states.append(o.states[0]))
        return np.array(states)

    def rk4() -> None:
        MeanFieldEngine(8).run(model, days, scenario.timeline, lambda o: None)

    history = model.history
    plain = Model(
        model.population[0],
        model.mixing,
        SEIRParameters(history.beta, history.latent_days, history.infectious_days),
    )
    seeds = np.zeros(model.regions)
    seeds[list(scenario.regions.codes).index("22040")] = 30
    start = plain.initial_state()
    start[0] -= seeds
    start[2] += seeds

    def reference() -> np.ndarray:
        rhs = lambda y, t: plain.rates(y.reshape(4, -1))[:4].ravel()  # noqa: E731
        solution = odeint(rhs, start.ravel(), np.arange(days + 1.0), rtol=1e-6, atol=1e-6)
        return solution[1:].reshape(days, 4, -1)

    ours(), reference()  # warm
    states, ours_s = _best(ours)
    truth, odeint_s = _best(reference)
    _, rk4_s = _best(rk4)
    gap = float(np.abs(states[:, [0, 1, 2, 4]] - truth).max())
    name = type(scenario.engine).__name__
    print(
        f"   {name}: {ours_s * 1000:.1f} ms; odeint {odeint_s * 1000:.1f} ms; "
        f"RK4 8/day {rk4_s * 1000:.0f} ms; largest difference {gap:.2f} people"
    )
    return {
        "det_vs_odeint_speed": round(odeint_s / ours_s, 2),
        "det_vs_rk4_speed": round(rk4_s / ours_s, 1),
    }
