"""Metapopulation SEIR model over regions coupled by daytime mobility, driven by a run config.

Quick use::

    from spreadwatch.model import load_config, simulate, run_simulation

    table = simulate(load_config("examples/three-countries.toml"))  # long Arrow table
    path = run_simulation("examples/korea-seir.toml", "out")         # out/states.parquet

See ``docs/model.md`` for the config keys, the equations and the mobility definition.
"""

from spreadwatch.model.config import RunConfig, load_config
from spreadwatch.model.errors import ConfigError
from spreadwatch.model.geography import RegionSet, load_regions, read_regions_csv
from spreadwatch.model.mobility import (
    gravity_mixing,
    mixing_from_fusion,
    mixing_from_matrix,
    mixing_from_trips,
    stay_home,
)
from spreadwatch.model.outputs import STATES_SCHEMA, SUMMARY_SCHEMA
from spreadwatch.model.run import (
    Scenario,
    build_scenario,
    run_simulation,
    simulate,
    states_table,
)
from spreadwatch.model.seir import (
    COMPARTMENTS,
    DeterministicEngine,
    Engine,
    Model,
    SEIRParameters,
    Trajectory,
)
from spreadwatch.model.structured import (
    ChainBinomialEngine,
    DayInputs,
    MeanFieldEngine,
    NaturalHistory,
    StructuredModel,
)

__all__ = [
    "COMPARTMENTS",
    "STATES_SCHEMA",
    "SUMMARY_SCHEMA",
    "ChainBinomialEngine",
    "ConfigError",
    "DayInputs",
    "DeterministicEngine",
    "Engine",
    "MeanFieldEngine",
    "Model",
    "NaturalHistory",
    "RegionSet",
    "RunConfig",
    "SEIRParameters",
    "Scenario",
    "StructuredModel",
    "Trajectory",
    "build_scenario",
    "gravity_mixing",
    "load_config",
    "load_regions",
    "mixing_from_fusion",
    "mixing_from_matrix",
    "mixing_from_trips",
    "read_regions_csv",
    "run_simulation",
    "simulate",
    "states_table",
    "stay_home",
]
