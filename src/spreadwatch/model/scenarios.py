"""Scenario comparison: the config as it is (the baseline) against each ``[[scenario]]``.

Every scenario runs the stochastic engine with the same particles: particle ``p`` takes the
``p``-th parameter draw (from a calibration posterior, or the config's parameters) and the same
random streams in every scenario (common random numbers), so differences between scenarios
are the interventions' effect, not sampling noise. Per particle: total infections, infections
averted against the baseline, the national peak day and its shift, and attack rates by region.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from spreadwatch.model.config import RunConfig, ScenarioEntry
from spreadwatch.model.ensemble import run_parameter_sets
from spreadwatch.model.errors import ConfigError
from spreadwatch.model.run import build_scenario, chain_engine
from spreadwatch.model.structured import DailyOutput
from spreadwatch.progress import track

BASELINE = "baseline"
#: Posterior columns that change the epidemic (reporting only changes what is seen).
DYNAMIC_PARAMETERS = ("r0", "seed_scale", "change_factor")
CURVE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def posterior_draws(path: Path, draws: int, seed: int) -> dict[str, np.ndarray]:
    """``draws`` parameter sets (r0, seed_scale, change_factor) from a ``posterior.parquet``."""
    try:
        table = pq.read_table(path).to_pandas()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the posterior: {exc}") from None
    columns = [c for c in DYNAMIC_PARAMETERS if c in table.columns]
    if table.empty:
        raise ConfigError(f"{path}: the posterior has no draws")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(table), size=draws, replace=draws > len(table))
    return {c: table[c].to_numpy(dtype=np.float64)[pick] for c in columns}


class _Tally:
    """Per particle: national daily infections and infections by region."""

    def __init__(
        self, particles: int, days: int, regions: int, on_day: Callable[[int], None] | None = None
    ) -> None:
        self.daily = np.zeros((particles, days))
        self.by_region = np.zeros((particles, regions))
        self.on_day = on_day

    def __call__(self, output: DailyOutput) -> None:
        self.daily[:, output.day] = output.incidence.sum(axis=1)
        self.by_region += output.incidence
        if self.on_day is not None:
            self.on_day(output.day)


@dataclass(frozen=True)
class Comparison:
    """Results of a baseline and its scenarios, by scenario name (baseline first)."""

    names: list[str]
    daily: dict[str, np.ndarray]
    """National new infections ``(particles, days)``."""
    by_region: dict[str, np.ndarray]
    """Infections ``(particles, regions)`` over the run."""
    population: np.ndarray
    codes: tuple[str, ...]
    start: object
    first_measure: int = 0
    """Day of the scenarios' first measure: peaks are looked for from it on (before it every
    scenario is the baseline, and a peak already past is no scenario's doing)."""

    def summary(self) -> pd.DataFrame:
        """Per scenario: infections, averted (absolute and share), peak date and shift, and
        ``peak_at_end`` when most particles peak on the last simulated day (the peak and the
        averted share then depend on the horizon). Peaks are those from the first measure on."""
        base = self.daily[BASELINE]
        first = self.first_measure
        base_total, base_peak = base.sum(axis=1), first + base[:, first:].argmax(axis=1)
        rows = []
        for name in self.names:
            daily = self.daily[name]
            total = daily.sum(axis=1)
            averted = base_total - total
            peak = first + daily[:, first:].argmax(axis=1)
            rows.append(
                {
                    "scenario": name,
                    "infections": float(np.median(total)),
                    "infections_q0.05": float(np.quantile(total, 0.05)),
                    "infections_q0.95": float(np.quantile(total, 0.95)),
                    "averted": float(np.median(averted)),
                    "averted_q0.05": float(np.quantile(averted, 0.05)),
                    "averted_q0.95": float(np.quantile(averted, 0.95)),
                    "averted_share": float(np.median(averted / np.maximum(base_total, 1))),
                    "peak_date": self.start + pd.Timedelta(days=int(np.median(peak))),
                    "peak_shift_days": float(np.median(peak - base_peak)),
                    "peak_infections": float(np.median(daily[:, first:].max(axis=1))),
                    "peak_at_end": bool(np.mean(peak == daily.shape[1] - 1) > 0.5),
                }
            )
        return pd.DataFrame(rows)

    def curves(self) -> pd.DataFrame:
        """National daily infections per scenario: mean and quantiles over particles."""
        frames = []
        for name in self.names:
            daily = self.daily[name]
            frame = pd.DataFrame(
                {
                    "scenario": name,
                    "date": [self.start + pd.Timedelta(days=d) for d in range(daily.shape[1])],
                    "mean": daily.mean(axis=0),
                }
            )
            for level in CURVE_LEVELS:
                frame[f"q{level:g}"] = np.quantile(daily, level, axis=0)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def attack_rates(self) -> pd.DataFrame:
        """Mean share of residents infected, per scenario and region."""
        return pd.DataFrame(
            [
                {"scenario": name, "region_code": code, "attack_rate": rate}
                for name in self.names
                for code, rate in zip(
                    self.codes,
                    self.by_region[name].mean(axis=0) / np.maximum(self.population, 1),
                    strict=True,
                )
            ]
        )


def compare(
    config: RunConfig,
    parameters: dict[str, np.ndarray] | None = None,
    particles: int = 100,
    label: str = "config",
    on_progress: Callable[[float], None] | None = None,
) -> Comparison:
    """Run the baseline and every ``[[scenario]]`` of ``config`` (see the module docstring).

    ``parameters`` holds one value per particle of ``r0`` and ``seed_scale`` (a posterior
    sample); without it every particle has the config's parameters. ``on_progress`` is
    called with the share of the work done (0 to 1) after each simulated day."""
    if not config.scenario:
        raise ConfigError(f"{label}: scenario: no [[scenario]] to compare with the baseline")
    base = build_scenario(config, label)
    if parameters:
        particles = len(next(iter(parameters.values())))
    entries: Sequence[ScenarioEntry | None] = [None, *config.scenario]
    run = config.run
    days, regions = run.days, base.model.regions
    daily, by_region, names = {}, {}, []
    for number, entry in enumerate(track(entries, f"Scenarios, {particles} particles each")):
        scenario_config = config if entry is None else config.with_scenario(entry)
        # only the interventions differ: seeds, arrivals and measured mobility are read once
        timeline = replace(base.timeline, config=scenario_config)
        scenario = replace(base, config=scenario_config, timeline=timeline)
        engine = chain_engine(base.model, particles, run.steps, run.random_seed)
        on_day = (
            None
            if on_progress is None
            else lambda day, n=number: on_progress((n + (day + 1) / days) / len(entries))
        )
        tally = _Tally(particles, days, regions, on_day)
        run_parameter_sets(
            scenario, engine, parameters or {}, config.calibration.fixed, tally, keep=False
        )
        name = BASELINE if entry is None else entry.name
        names.append(name)
        daily[name], by_region[name] = tally.daily, tally.by_region
    starts = [
        (m.start - run.start_date).days
        for entry in config.scenario
        for m in entry.intervention
        if m.start is not None
    ]
    return Comparison(
        names,
        daily,
        by_region,
        base.model.population.sum(axis=0),
        base.regions.codes,
        pd.Timestamp(run.start_date),
        first_measure=max(0, min(starts, default=0)),
    )
