"""A ``[model]`` section compiled into arrays the engines' kernels step.

Every rate is evaluated to an array ``(ages, regions)`` per transition; a day's rates depend
on the date only through the modifiers, so each distinct set of modifier factors is evaluated
once. Contact transitions are grouped by their infectious weights: a group's force of infection
is the contact structure's hazard (:mod:`spreadwatch.model.hazard`) of its weighted sum of
compartments, computed once a step whatever the number of transitions that use it.

``r0`` sets ``beta`` by the next-generation matrix (Diekmann, Heesterbeek and Roberts, J. R.
Soc. Interface 7, 2010) of the model without mobility: ``K = F V^-1`` over the infected
compartments (those from which an infectious one can be reached) and age bands, ``F`` the new
infections a person of each compartment and age causes per day in a wholly susceptible
population, ``V`` the transitions between and out of the infected compartments; ``R0`` is
the spectral radius of ``K``, linear in ``beta``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from spreadwatch.model.declared import expressions
from spreadwatch.model.declared.spec import (
    BETA,
    R0,
    ContactTransition,
    ModelSection,
    RegionalValue,
)
from spreadwatch.model.errors import ConfigError

#: Marks a spontaneous transition in :attr:`CompiledModel.group`.
SPONTANEOUS = -1


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """Compartments and transitions as arrays: ``source``, ``target`` and ``group`` (the
    contact group, or :data:`SPONTANEOUS`) per transition; ``weights`` ``(groups,
    compartments, ages, regions)``; exits per compartment as ``exit_start``/``exit_order``
    (transitions sorted by source)."""

    section: ModelSection
    compartments: tuple[str, ...]
    source: np.ndarray
    target: np.ndarray
    group: np.ndarray
    weights: np.ndarray
    exit_start: np.ndarray
    exit_order: np.ndarray
    parameters: Mapping[str, np.ndarray]
    start_date: dt.date
    beta: float | None = None
    """``beta`` derived from ``r0`` (``None`` when given)."""
    label: str = "config"
    """The config's name in errors."""
    _rates: dict[tuple[float, ...], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def transitions(self) -> int:
        return self.source.shape[0]

    def index(self, name: str) -> int:
        return self.compartments.index(name)

    @property
    def initial(self) -> int:
        return self.index(self.section.initial_compartment)

    @property
    def seed_into(self) -> int:
        return self.index(self.section.seed_compartment)

    @property
    def import_into(self) -> int:
        return self.index(self.section.import_compartment)

    def base_rates(self) -> np.ndarray:
        """Every transition's rate ``(transitions, ages, regions)`` without modifiers."""
        return self._rates_with((1.0,) * len(self.section.modifiers))

    def factors_on(self, day: int) -> tuple[float, ...]:
        """Each modifier's factor on run day ``day``."""
        date = self.start_date + dt.timedelta(days=day)
        return tuple(m.factor_on(date) for m in self.section.modifiers)

    def rates_on(self, day: int) -> np.ndarray:
        """Every transition's rate ``(transitions, ages, regions)`` on run day ``day``; a
        modifier that makes one negative raises :class:`ConfigError` naming the date."""
        date = self.start_date + dt.timedelta(days=day)
        return self._rates_with(self.factors_on(day), f" on {date}")

    def _rates_with(self, factors: tuple[float, ...], when: str = "") -> np.ndarray:
        """The rates with the modifiers' ``factors``, made and checked once per set of
        factors (the engines ask every step)."""
        if factors not in self._rates:
            values = dict(self.parameters)
            for modifier, factor in zip(self.section.modifiers, factors, strict=True):
                values[modifier.parameter] = values[modifier.parameter] * factor
            rates = _rates(self.section, values)
            _check_rates(self.section, rates, self.label, when)
            self._rates[factors] = rates
        return self._rates[factors]


def compile_model(
    section: ModelSection,
    population: np.ndarray,
    contacts: Mapping[str, np.ndarray],
    codes: Sequence[str],
    start_date: dt.date,
    label: str = "config",
) -> CompiledModel:
    """Compile ``section`` for residents ``population`` ``(ages, regions)`` of regions
    ``codes`` and the contact matrices by setting; problems raise :class:`ConfigError`."""
    ages, regions = population.shape
    compartments = tuple(section.compartment_names)
    values = {
        name: _parameter(name, value, ages, codes, label)
        for name, value in section.parameters.items()
        if name != R0
    }
    transitions = section.transition_list
    groups: list[tuple[tuple[str, float | str], ...]] = []
    group = np.full(len(transitions), SPONTANEOUS, dtype=np.int64)
    for i, transition in enumerate(transitions):
        if isinstance(transition, ContactTransition):
            key = tuple(sorted(transition.infectious.items(), key=lambda kv: kv[0]))
            if key not in groups:
                groups.append(key)
            group[i] = groups.index(key)
    source = np.array([compartments.index(t.source) for t in transitions], dtype=np.int64)
    target = np.array([compartments.index(t.to) for t in transitions], dtype=np.int64)
    order = np.argsort(source, kind="stable")
    exit_start = np.searchsorted(source[order], np.arange(len(compartments) + 1))
    beta = None
    if section.derives_beta:
        values[BETA] = np.ones((ages, regions))
    weights = _weights(groups, compartments, values, (ages, regions), label, transitions, group)
    model = CompiledModel(
        section,
        compartments,
        source,
        target,
        group,
        weights,
        exit_start.astype(np.int64),
        order.astype(np.int64),
        values,
        start_date,
        label=label,
    )
    _check_rates(section, model.base_rates(), label)
    if section.derives_beta:
        per_beta = reproduction_number(model, population, contacts)
        if not per_beta > 0:
            raise ConfigError(f"{label}: model.parameters.r0: the model has no path to infect")
        beta = float(section.parameters[R0]) / per_beta  # type: ignore[arg-type]
        values[BETA] = np.full((ages, regions), beta)  # the model's own parameters
        model = replace(model, beta=beta, _rates={})  # rates made with beta = 1 forgotten
    return model


def _parameter(
    name: str,
    value: float | list[float] | RegionalValue,
    ages: int,
    codes: Sequence[str],
    label: str,
) -> np.ndarray:
    """A parameter as an array ``(ages, regions)``."""
    base = value.value if isinstance(value, RegionalValue) else value
    by_age = np.atleast_1d(np.asarray(base, dtype=np.float64))
    if by_age.size not in (1, ages):
        raise ConfigError(
            f"{label}: model.parameters.{name}: expected one number or {ages} (one per age "
            f"band), got {by_age.size}"
        )
    out = np.repeat(np.broadcast_to(by_age, (ages,))[:, None], len(codes), axis=1)
    if isinstance(value, RegionalValue):
        position = {code: i for i, code in enumerate(codes)}
        for code, number in value.regions.items():
            if code not in position:
                raise ConfigError(
                    f"{label}: model.parameters.{name}.regions.{code}: unknown region "
                    f"(not among the {len(codes)} regions)"
                )
            out[:, position[code]] = number
    return out


def _weights(
    groups: list[tuple[tuple[str, float | str], ...]],
    compartments: tuple[str, ...],
    values: Mapping[str, np.ndarray],
    shape: tuple[int, int],
    label: str,
    transitions: list,
    group: np.ndarray,
) -> np.ndarray:
    """Each contact group's infectious weights ``(groups, compartments, ages, regions)``."""
    weights = np.zeros((len(groups), len(compartments), *shape))
    for g, key in enumerate(groups):
        for name, weight in key:
            text = isinstance(weight, str)
            value = expressions.parse(weight).evaluate(values) if text else weight
            weights[g, compartments.index(name)] = value
            bad = weights[g, compartments.index(name)]
            if not (np.isfinite(bad).all() and (bad >= 0).all()):
                t = int(np.flatnonzero(group == g)[0])
                raise ConfigError(
                    f"{label}: model: the infectious weight of {name} in "
                    f"{transitions[t].label} ({weight!r}) is not a finite number >= 0 "
                    "everywhere"
                )
    return weights


def _rates(section: ModelSection, values: Mapping[str, np.ndarray]) -> np.ndarray:
    shape = next(iter(values.values())).shape if values else (1, 1)
    return np.stack(
        [
            np.broadcast_to(expressions.parse(t.rate).evaluate(values), shape)
            for t in section.transition_list
        ]
    ).astype(np.float64)


def _check_rates(section: ModelSection, rates: np.ndarray, label: str, when: str = "") -> None:
    if np.isfinite(rates).all() and (rates >= 0).all():
        return
    for i, transition in enumerate(section.transition_list):
        bad = ~np.isfinite(rates[i]) | (rates[i] < 0)
        if bad.any():
            a, r = (int(x) for x in np.argwhere(bad)[0])
            raise ConfigError(
                f"{label}: model: the rate of {transition.label} ({transition.rate!r}) is "
                f"{rates[i, a, r]:g} for age band {a}, region {r}{when}; expected a finite "
                "number >= 0"
            )


def infected_compartments(model: CompiledModel) -> list[int]:
    """The compartments from which an infectious one can be reached by spontaneous
    transitions (the infectious ones included), in order."""
    infectious = set(
        np.flatnonzero(
            model.weights.reshape(model.weights.shape[0], len(model.compartments), -1).max(
                axis=(0, 2)
            )
            > 0
        )
    )
    found = set(infectious)
    changed = True
    while changed:
        changed = False
        for t in range(model.transitions):
            if (
                model.group[t] == SPONTANEOUS
                and model.target[t] in found
                and model.source[t] not in found
            ):
                found.add(int(model.source[t]))
                changed = True
    return sorted(int(c) for c in found)


def _generators(
    model: CompiledModel,
    population: np.ndarray,
    contacts: Mapping[str, np.ndarray],
    exact: bool = True,
):
    """``F`` and ``V`` of the next-generation method over (infected compartment, age band),
    with the national residents per age and the summed contact matrix. Rates that vary by
    region raise :class:`ConfigError` when ``exact``, else enter as their means over the
    residents of each age band."""
    rates, weights = model.base_rates(), model.weights
    regional = not (np.allclose(rates, rates[:, :, :1]) and np.allclose(weights, weights[..., :1]))
    if regional and exact:
        raise ConfigError(
            "model.parameters.r0: the rates vary by region, so the model has no single R0; "
            "give beta instead"
        )
    share = population / np.maximum(population.sum(axis=1, keepdims=True), 1e-300)
    rates = (rates * share).sum(axis=-1)
    weights = (weights * share).sum(axis=-1)
    infected = infected_compartments(model)
    place = {c: i for i, c in enumerate(infected)}
    ages = population.shape[0]
    residents = population.sum(axis=1)
    matrix = sum(np.asarray(m, dtype=np.float64) for m in contacts.values())
    ratio = np.divide(
        residents[:, None],
        residents[None, :],
        out=np.zeros((ages, ages)),
        where=residents[None, :] > 0,
    )
    size = len(infected) * ages
    f = np.zeros((size, size))
    v = np.zeros((size, size))
    for t in range(model.transitions):
        s, e, g = int(model.source[t]), int(model.target[t]), int(model.group[t])
        if g != SPONTANEOUS:
            if s != model.initial or e not in place:
                continue  # nobody outside the initial compartment before the epidemic
            for j in infected:
                block = rates[t][:, None] * matrix * ratio * weights[g, j][None, :]
                f[
                    place[e] * ages : (place[e] + 1) * ages, place[j] * ages : (place[j] + 1) * ages
                ] += block
        elif s in place:
            rows = np.arange(ages)
            v[place[s] * ages + rows, place[s] * ages + rows] += rates[t]
            if e in place:
                v[place[e] * ages + rows, place[s] * ages + rows] -= rates[t]
    return f, v, infected, weights


def reproduction_number(
    model: CompiledModel,
    population: np.ndarray,
    contacts: Mapping[str, np.ndarray],
    exact: bool = True,
) -> float:
    """The basic reproduction number of ``model`` without mobility and modifiers (rates that
    vary by region: a :class:`ConfigError` when ``exact``, else their means over residents)."""
    f, v, infected, _ = _generators(model, population, contacts, exact)
    if not f.size:
        return 0.0
    k = f @ _inverse(model, v, infected)
    return float(np.max(np.abs(np.linalg.eigvals(k))))


def infectious_days(
    model: CompiledModel, population: np.ndarray, contacts: Mapping[str, np.ndarray]
) -> float:
    """The mean time infectious of a new infection (the target of the first contact
    transition), each compartment's time weighted by its infectiousness relative to the most
    infectious one, over age bands (and regional rates) by residents: ``1 / gamma`` of
    isolation measures. A :class:`ConfigError` when no infection becomes infectious."""
    _, v, infected, weights = _generators(model, population, contacts, exact=False)
    ages = population.shape[0]
    first = next(t for t in range(model.transitions) if model.group[t] != SPONTANEOUS)
    entry, group = int(model.target[first]), int(model.group[first])
    weights = weights[group]
    top = weights.max()
    if entry not in infected or top <= 0:
        raise ConfigError(
            f"{model.label}: model: nobody infected through "
            f"{model.compartments[model.source[first]]} -> {model.compartments[entry]} ever "
            "becomes infectious, so isolation has nothing to shorten"
        )
    sojourn = _inverse(model, v, infected)  # column (entry, a): days in each compartment, age
    residents = population.sum(axis=1)
    share = residents / residents.sum()
    days = 0.0
    for a in range(ages):  # no transition changes the age band
        column = sojourn[:, infected.index(entry) * ages + a]
        days += share[a] * sum(
            weights[c, a] / top * column[i * ages + a] for i, c in enumerate(infected)
        )
    return float(days)


def _inverse(model: CompiledModel, v: np.ndarray, infected: list[int]) -> np.ndarray:
    """``V^-1``: the expected days in each infected compartment; a :class:`ConfigError`
    names the compartments nobody leaves."""
    ages = v.shape[0] // max(len(infected), 1)
    stuck = [
        model.compartments[c]
        for i, c in enumerate(infected)
        if not np.all(np.diag(v)[i * ages : (i + 1) * ages] > 0)
    ]
    try:
        if stuck:
            raise np.linalg.LinAlgError
        return np.linalg.inv(v)
    except np.linalg.LinAlgError:
        names = ", ".join(stuck) or "an infected compartment"
        raise ConfigError(
            f"{model.label}: model: nobody leaves {names} (no transition out, or rates of 0), "
            "so an infection never ends"
        ) from None
