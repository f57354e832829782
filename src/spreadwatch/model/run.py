"""From a run config to the states table and ``states.parquet``.

A deterministic run integrates the model's equations (RK4) and writes one trajectory in long
form (``STATES_SCHEMA``). A stochastic run draws ``particles`` chain-binomial realisations and
writes their mean and quantiles per date, region and compartment (``SUMMARY_SCHEMA``), reduced
day by day; with ``[output] particles = true`` every particle is also streamed to
``particles.parquet``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import durable
from spreadwatch.model import mobility
from spreadwatch.model.adaptive import AdaptiveEngine
from spreadwatch.model.config import (
    HOMOGENEOUS,
    RunConfig,
    RunSection,
    check_references,
    load_config,
)
from spreadwatch.model.declared.compiled import compile_model
from spreadwatch.model.declared.engines import (
    DeclaredAdaptiveEngine,
    DeclaredChainBinomialEngine,
    DeclaredMeanFieldEngine,
)
from spreadwatch.model.declared.lowering import lowered
from spreadwatch.model.declared.model import DeclaredModel
from spreadwatch.model.engines import ChainBinomialEngine, MeanFieldEngine
from spreadwatch.model.errors import ConfigError
from spreadwatch.model.geography import RegionSet
from spreadwatch.model.outputs import (
    STATES_SCHEMA,
    SUMMARY_SCHEMA,
    ParticleWriter,
    QuantileReducer,
    TrajectoryCollector,
    long_table,
)
from spreadwatch.model.seir import COMPARTMENTS, Trajectory
from spreadwatch.model.structured import NaturalHistory, Observer, StructuredModel, beta_for_r0
from spreadwatch.model.timeline import Timeline, seed_schedule
from spreadwatch.regions.sources import CONTACT_SETTINGS, prem_contact_matrices, wpp_age_pyramid

STATES_FILE = "states.parquet"
PARTICLES_FILE = "particles.parquet"
__all__ = ["STATES_SCHEMA", "SUMMARY_SCHEMA", "Scenario", "build_scenario", "seed_schedule"]


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything a run needs, resolved from a config: regions, model, engine and timeline."""

    config: RunConfig
    regions: RegionSet
    model: StructuredModel | DeclaredModel
    engine: ChainBinomialEngine | MeanFieldEngine | AdaptiveEngine
    timeline: Timeline

    def run(self, observe: Observer | list[Observer], progress: str | None = None) -> None:
        self.engine.run(self.model, self.config.run.days, self.timeline, observe, progress)


def build_scenario(config: RunConfig, label: str = "config") -> Scenario:
    """Load the regions, build the mixing matrix, age structure, engine and timeline, and check
    every reference."""
    regions = config.regions.load()
    check_references(config, regions, label)
    mixing = build_mixing(config, regions, label)
    model: StructuredModel | DeclaredModel
    if config.model is None:
        model = build_model(config, regions, mixing, label)
        days = model.history.infectious_days
    else:
        model = build_declared(config, regions, mixing, label)
        isolates = any(m.kind == "isolation" for _, m in config.all_interventions())
        days = model.infectious_days if isolates else 1.0  # isolation's 1 / gamma
        model = lowered(model) or model
    timeline = Timeline.from_config(config, regions, label, days)
    return Scenario(config, regions, model, engine_for(config.run, model), timeline)


def engine_for(
    run: RunSection, model: StructuredModel | DeclaredModel
) -> ChainBinomialEngine | MeanFieldEngine | AdaptiveEngine:
    """The engine ``[run]`` asks for, for the kind of ``model``: the chain binomial when
    stochastic, RK4 when fixed steps are given, else the adaptive solver."""
    declared = isinstance(model, DeclaredModel)
    if run.engine == "stochastic":
        return chain_engine(model, run.particle_count, run.steps, run.random_seed)
    if run.steps_per_day is not None:
        return (DeclaredMeanFieldEngine if declared else MeanFieldEngine)(run.steps)
    return DeclaredAdaptiveEngine() if declared else AdaptiveEngine()


def chain_engine(
    model: StructuredModel | DeclaredModel,
    particles: int,
    steps_per_day: int,
    seed: int = 0,
    stochastic: bool = True,
) -> ChainBinomialEngine:
    """The chain-binomial engine for the kind of ``model`` (``stochastic=False``: its mean)."""
    chain = DeclaredChainBinomialEngine if isinstance(model, DeclaredModel) else ChainBinomialEngine
    return chain(particles, steps_per_day, seed, stochastic)  # type: ignore[return-value]


def build_declared(
    config: RunConfig, regions: RegionSet, mixing: np.ndarray, label: str = "config"
) -> DeclaredModel:
    """The :class:`DeclaredModel` of a config with a ``[model]`` section."""
    population, contacts = contact_structure(config, regions, label)
    compiled = compile_model(
        config.model,
        population,
        contacts,
        regions.codes,
        config.run.start_date,
        label,  # type: ignore[arg-type]
    )
    return DeclaredModel(population, mixing, contacts, compiled)


def build_model(
    config: RunConfig, regions: RegionSet, mixing: np.ndarray, label: str = "config"
) -> StructuredModel:
    """The :class:`StructuredModel` of a config with a ``[disease]`` section."""
    disease = config.disease
    assert disease is not None
    population, contacts = contact_structure(config, regions, label)
    beta = disease.beta or beta_for_r0(disease.r0, disease.infectious_days, contacts)  # type: ignore[arg-type]
    history = NaturalHistory(
        beta=beta,
        latent_days=disease.latent_days,
        infectious_days=disease.infectious_days,
        hospital_fraction=np.atleast_1d(disease.hospital_fraction or 0.0),
        hospital_days=disease.hospital_days or 1.0,
        fatality_fraction=np.atleast_1d(disease.fatality_fraction or 0.0),
    )
    return StructuredModel(population, mixing, contacts, history)


def contact_structure(
    config: RunConfig, regions: RegionSet, label: str = "config"
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Residents ``(ages, regions)`` and contact matrices by setting: one age band and one
    setting without ``[age]``; else 16 bands (the regions' own, or the national pyramid) and
    Prem 2021."""
    if config.age is None:
        population = regions.population[None, :]
        contacts = {HOMOGENEOUS: np.ones((1, 1))}
    else:
        country = config.age.country
        matrices = prem_contact_matrices(country)
        contacts = {s: matrices[s] for s in CONTACT_SETTINGS}
        if regions.ages is not None:
            population = regions.ages
        else:
            try:
                pyramid = wpp_age_pyramid(location=country)
            except (KeyError, ValueError) as exc:
                raise ConfigError(
                    f"{label}: age.country: no UN WPP age pyramid for {country!r} to split the "
                    f"regions by age ({exc}); give age columns in the regions CSV"
                ) from None
            population = np.outer(pyramid / pyramid.sum(), regions.population)
    return population, contacts


def build_mixing(config: RunConfig, regions: RegionSet, label: str = "config") -> np.ndarray:
    """The daytime mixing matrix that ``[mobility]`` describes, over ``regions``."""
    section = config.mobility
    if section.kind == "gravity":
        return mobility.gravity_mixing(
            regions.population,
            regions.lat,  # type: ignore[arg-type]  # checked by check_references
            regions.lon,  # type: ignore[arg-type]
            section.away_fraction,
            section.distance_exponent,
        )
    try:
        if section.kind == "commuting":
            return mobility.mixing_from_commuting(
                section.commuting,  # type: ignore[arg-type]  # required for kind "commuting"
                regions.codes,
                section.suppressed_people,
            )
        if section.kind == "od":
            return mobility.mixing_from_fusion(
                section.od_flows,  # type: ignore[arg-type]  # required for kind "od"
                section.presence,  # type: ignore[arg-type]
                regions.codes,
                section.max_away,
            )
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{label}: mobility: {exc}") from None
    return mobility.stay_home(regions.size)


def model_name(config: RunConfig) -> str:
    """A short name of the config's model: its compartments' letters, or its preset."""
    names = config.compartments
    if config.model is not None and config.model.preset is not None:
        return config.model.preset.upper()
    return "".join(names) if all(len(n) == 1 for n in names) else "declared model"


def states_table(
    start_date: dt.date,
    codes: tuple[str, ...],
    trajectory: Trajectory,
    compartments: tuple[str, ...] | list[str] = ("S", "E", "I", "R", "incidence"),
) -> pa.Table:
    """Long table (``STATES_SCHEMA``) of a :class:`~spreadwatch.model.seir.Trajectory`, ordered
    by date, region, then ``compartments`` as given."""
    columns = {name: trajectory.states[:, i, :] for i, name in enumerate(COMPARTMENTS)}
    columns["incidence"] = trajectory.incidence
    values = np.stack([columns[c] for c in compartments], axis=1)  # (days, k, regions)
    return long_table(start_date, codes, values, list(compartments))


def simulate(config: RunConfig | str | os.PathLike[str], out_dir: Path | None = None) -> pa.Table:
    """Run a config (or a config file) and return its table.

    Deterministic: ``STATES_SCHEMA``, columns ``date`` (end of that day), ``region_code``,
    ``compartment`` (the model's compartments and ``incidence``, the new infections S -> E
    during that day), ``value``. Stochastic: ``SUMMARY_SCHEMA``, the mean and quantiles over
    particles; with ``[output] particles`` and ``out_dir``, every particle goes to
    ``out_dir/particles.parquet`` as the run goes.
    """
    label = "config"
    if not isinstance(config, RunConfig):
        label, config = str(config), load_config(config)
    scenario = build_scenario(config, label)
    compartments = config.output_compartments
    codes, start = scenario.regions.codes, config.run.start_date
    run = config.run
    what = f"{run.particle_count} particles, " if run.engine == "stochastic" else ""
    name = "".join(config.compartments) if config.model is None else model_name(config)
    progress = f"{run.engine.capitalize()} {name}, {what}{scenario.regions.size} regions"
    if run.engine != "stochastic":
        collector = TrajectoryCollector(compartments)
        scenario.run(collector, progress)
        return collector.table(start, codes)
    reducer = QuantileReducer(compartments, config.output.quantiles)
    observers: list[Observer] = [reducer]
    writer = None
    if config.output.particles and out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = ParticleWriter(out_dir / PARTICLES_FILE, start, codes, compartments)
        observers.append(writer)
    scenario.run(observers, progress)
    if writer is not None:
        writer.close()
    return reducer.table(start, codes)


def run_simulation(
    config_path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Run a config file and write ``out_dir/states.parquet`` (``out_dir`` defaults to the config's
    ``[output] dir``); returns the written path."""
    config = load_config(config_path)
    target = Path(out_dir) if out_dir is not None else config.output.dir
    if target is None:
        raise ConfigError(f"{config_path}: output.dir: not set and no output folder given")
    table = simulate(config, target)
    table = table.replace_schema_metadata({"spreadwatch.model.config": config.model_dump_json()})
    target.mkdir(parents=True, exist_ok=True)
    path = target / STATES_FILE
    with durable.written(path) as tmp:
        pq.write_table(table, tmp)
    return path
