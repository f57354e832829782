"""From a run config to the long ``states`` table and ``states.parquet``."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.model import mobility
from spreadwatch.model.config import COMPARTMENTS_OUT, RunConfig, check_references, load_config
from spreadwatch.model.errors import ConfigError
from spreadwatch.model.geography import RegionSet
from spreadwatch.model.seir import (
    COMPARTMENTS,
    DeterministicEngine,
    Engine,
    Model,
    SEIRParameters,
    Trajectory,
)

STATES_FILE = "states.parquet"
STATES_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("region_code", pa.string(), nullable=False),
        pa.field("compartment", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything a run needs, resolved from a config: regions, model, engine and seeds."""

    config: RunConfig
    regions: RegionSet
    model: Model
    engine: Engine
    seeds: dict[int, np.ndarray]

    def run(self, progress: str | None = None) -> Trajectory:
        return self.engine.run(self.model, self.config.run.days, self.seeds, progress=progress)


def build_scenario(config: RunConfig, label: str = "config") -> Scenario:
    """Load the regions, build the mixing matrix and seeds, and check every reference."""
    regions = config.regions.load()
    check_references(config, regions, label)
    disease = config.disease
    params = SEIRParameters(disease.transmission_rate, disease.latent_days, disease.infectious_days)
    model = Model(regions.population, build_mixing(config, regions, label), params)
    return Scenario(
        config=config,
        regions=regions,
        model=model,
        engine=DeterministicEngine(config.run.steps_per_day),
        seeds=seed_schedule(config, regions),
    )


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


def seed_schedule(config: RunConfig, regions: RegionSet) -> dict[int, np.ndarray]:
    """Infected people to seed per region, keyed by day index."""
    position = {code: i for i, code in enumerate(regions.codes)}
    schedule: dict[int, np.ndarray] = {}
    for entry in config.seed:
        counts = schedule.setdefault(config.seed_day(entry), np.zeros(regions.size))
        counts[position[entry.region]] += entry.infected
    return schedule


def states_table(
    start_date: dt.date,
    codes: tuple[str, ...],
    trajectory: Trajectory,
    compartments: tuple[str, ...] | list[str] = COMPARTMENTS_OUT,
) -> pa.Table:
    """Long table (``STATES_SCHEMA``) ordered by date, region, then ``compartments`` as given."""
    columns = {name: trajectory.states[:, i, :] for i, name in enumerate(COMPARTMENTS)}
    columns["incidence"] = trajectory.incidence
    values = np.stack([columns[c] for c in compartments], axis=-1)  # (days, regions, compartments)
    days, n, k = values.shape
    dates = np.datetime64(start_date, "D") + np.arange(days)
    return pa.Table.from_arrays(
        [
            pa.array(np.repeat(dates, n * k), type=pa.date32()),
            pa.array(np.tile(np.repeat(np.array(codes, dtype=object), k), days), pa.string()),
            pa.array(np.tile(np.array(compartments, dtype=object), days * n), pa.string()),
            pa.array(values.reshape(-1), pa.float64()),
        ],
        schema=STATES_SCHEMA,
    )


def simulate(config: RunConfig | str | os.PathLike[str]) -> pa.Table:
    """Run a config (or a config file) and return the long ``states`` table (``STATES_SCHEMA``).

    Columns: ``date`` (end of that day), ``region_code``, ``compartment`` (``S, E, I, R`` and
    ``incidence``, the new infections S -> E during that day), ``value``.
    """
    label = "config"
    if not isinstance(config, RunConfig):
        label, config = str(config), load_config(config)
    scenario = build_scenario(config, label)
    trajectory = scenario.run(progress=f"SEIR, {scenario.regions.size} regions")
    return states_table(
        config.run.start_date, scenario.regions.codes, trajectory, config.output.compartments
    )


def run_simulation(
    config_path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Run a config file and write ``out_dir/states.parquet`` (``out_dir`` defaults to the config's
    ``[output] dir``); returns the written path."""
    config = load_config(config_path)
    target = Path(out_dir) if out_dir is not None else config.output.dir
    if target is None:
        raise ConfigError(f"{config_path}: output.dir: not set and no output folder given")
    table = simulate(config)
    table = table.replace_schema_metadata({"spreadwatch.model.config": config.model_dump_json()})
    target.mkdir(parents=True, exist_ok=True)
    path = target / STATES_FILE
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path
