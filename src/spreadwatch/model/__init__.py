"""Metapopulation SEIR model over regions coupled by daytime mobility, driven by a run config.

Quick use::

    from spreadwatch.model import load_config, simulate, run_simulation

    table = simulate(load_config("examples/three-countries.toml"))  # long Arrow table
    path = run_simulation("examples/korea-seir.toml", "out")         # out/states.parquet

See ``docs/model.md`` for the config keys, the equations and the mobility definition.

Names are imported on first use (PEP 562), so that a command that needs only the region tables
or the config does not load the engines, numba and scipy.
"""

from __future__ import annotations

import importlib

#: Where each public name lives.
_HOME = {
    "RunConfig": "config",
    "load_config": "config",
    "ConfigError": "errors",
    "RegionSet": "geography",
    "load_regions": "geography",
    "read_regions_csv": "geography",
    "gravity_mixing": "mobility",
    "mixing_from_fusion": "mobility",
    "mixing_from_matrix": "mobility",
    "mixing_from_trips": "mobility",
    "stay_home": "mobility",
    "STATES_SCHEMA": "outputs",
    "SUMMARY_SCHEMA": "outputs",
    "Scenario": "run",
    "build_scenario": "run",
    "run_simulation": "run",
    "simulate": "run",
    "states_table": "run",
    "COMPARTMENTS": "seir",
    "DeterministicEngine": "seir",
    "Engine": "seir",
    "Model": "seir",
    "SEIRParameters": "seir",
    "Trajectory": "seir",
    "ChainBinomialEngine": "engines",
    "DayInputs": "structured",
    "MeanFieldEngine": "engines",
    "AdaptiveEngine": "adaptive",
    "NaturalHistory": "structured",
    "StructuredModel": "structured",
}


def __getattr__(name: str) -> object:
    if name in _HOME:
        value = getattr(importlib.import_module(f"spreadwatch.model.{_HOME[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spreadwatch.model' has no attribute {name!r}")


__all__ = sorted(_HOME)
