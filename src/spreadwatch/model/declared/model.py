"""A declared model over residents, mixing and contacts: what the engines run."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from spreadwatch.model.declared.compiled import CompiledModel, infectious_days, reproduction_number
from spreadwatch.model.structured import Residents, check_structure


@dataclass(frozen=True, eq=False)
class DeclaredModel(Residents):
    """Residents ``population`` ``(ages, regions)``, baseline ``mixing``, ``contacts`` by
    setting (as :class:`~spreadwatch.model.structured.StructuredModel`) and the compiled
    declared model. The contact structure's hazard is per unit rate: each contact transition's
    rate carries its own ``beta``."""

    population: np.ndarray
    mixing: np.ndarray
    contacts: Mapping[str, np.ndarray]
    compiled: CompiledModel
    home_settings: frozenset[str] = frozenset({"home"})

    transmission_rate = 1.0

    def __post_init__(self) -> None:
        check_structure(self)

    @property
    def compartments(self) -> tuple[str, ...]:
        return self.compiled.compartments

    @property
    def initial(self) -> int:
        return self.compiled.initial

    @property
    def seed_into(self) -> int:
        return self.compiled.seed_into

    @property
    def import_into(self) -> int:
        return self.compiled.import_into

    @functools.cached_property
    def r0(self) -> float:
        """The basic reproduction number without mobility and modifiers (rates that vary by
        region enter as their means over residents)."""
        return reproduction_number(self.compiled, self.population, self.contacts, exact=False)

    @functools.cached_property
    def infectious_days(self) -> float:
        """Mean weighted time infectious of a new infection (isolation's ``1 / gamma``)."""
        return infectious_days(self.compiled, self.population, self.contacts)

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """``(source, target, group, weights, exit_start, exit_order)`` for the kernels."""
        c = self.compiled
        return c.source, c.target, c.group, c.weights, c.exit_start, c.exit_order
