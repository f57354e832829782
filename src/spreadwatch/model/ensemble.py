"""Runs with one particle per parameter set: calibration's likelihood, scenarios from a
posterior."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from spreadwatch.model.engines import ChainBinomialEngine
from spreadwatch.model.run import Scenario
from spreadwatch.model.structured import DailyOutput, DayInputs


def run_parameter_sets(
    scenario: Scenario,
    engine: ChainBinomialEngine,
    theta: dict[str, np.ndarray],
    fixed: dict[str, float] | None = None,
    observe: Callable[[DailyOutput], None] | None = None,
    keep: bool = True,
) -> np.ndarray | None:
    """Run ``scenario`` with one particle per parameter set (``r0``, ``seed_scale`` and, from
    ``[calibration] change_date`` on, ``change_factor`` from ``theta``, else ``fixed``, else the
    config's); returns new infections
    ``(particles, days, regions)`` (``None`` unless ``keep``). ``observe`` also sees every day's
    output, so long runs need not keep the infections."""
    size = engine.particles
    fixed = fixed or {}

    def value(name: str, default: float) -> np.ndarray:
        if name in theta:
            return np.asarray(theta[name], dtype=np.float64)
        return np.full(size, fixed.get(name, default), dtype=np.float64)

    base_r0 = scenario.model.r0
    scale = value("r0", base_r0) / base_r0
    seed_scale = value("seed_scale", 1.0)
    timeline = scenario.timeline
    run = scenario.config.run
    days = run.days
    change_date = scenario.config.calibration.change_date
    change_day = days if change_date is None else (change_date - run.start_date).days
    change = value("change_factor", 1.0)

    def schedule(day: int) -> DayInputs:
        inputs = timeline(day)
        if day >= change_day:
            inputs = replace(inputs, particle_scale=change)
        if inputs.seed_infectious is not None:
            seeds = seed_scale[:, None] * inputs.seed_infectious[None]
            inputs = replace(inputs, seed_infectious=seeds)
        if inputs.seeded:
            named = {c: seed_scale[:, None] * s[None] for c, s in inputs.seeded.items()}
            inputs = replace(inputs, seeded=named)
        return inputs

    out = np.empty((size, days, scenario.model.regions)) if keep else None

    def store(output: DailyOutput) -> None:
        if out is not None:
            out[:, output.day] = output.incidence
        if observe is not None:
            observe(output)

    engine.run(scenario.model, days, schedule, store, particle_transmissibility=scale)
    return out
