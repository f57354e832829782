"""``[model]``: a compartmental model declared in the run config, or one of the presets.

Compartments are names; transitions move people from one compartment to another at a rate
written over the parameters (:mod:`~spreadwatch.model.declared.expressions`). A
``spontaneous`` transition moves each person at its rate; a ``contact`` transition at its rate
times the force of infection of the contact structure (ages, settings and mobility, as for the
``[disease]`` model) from the compartments it names as ``infectious``, each with its weight::

    [model]
    compartments = ["S", "E", "I", "R"]
    transitions = [
      { kind = "contact", from = "S", to = "E", rate = "beta", infectious = { I = 1 } },
      { kind = "spontaneous", from = "E", to = "I", rate = "1 / latent_days" },
      { kind = "spontaneous", from = "I", to = "R", rate = "1 / infectious_days" },
    ]
    parameters = { r0 = 2.5, latent_days = 3, infectious_days = 5 }

A parameter is a number, a list (one per age band), or ``{ value = ..., regions = { CODE =
number } }`` for regional values. ``r0`` instead of ``beta`` derives ``beta`` from the basic
reproduction number of the model. ``[[model.modifiers]]`` scale a parameter over time (a
``step`` between dates, a ``seasonal`` cosine).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import Field, Strict, field_validator, model_validator

from spreadwatch.configfile import FieldError, dotted
from spreadwatch.model.declared import expressions
from spreadwatch.model.declared.presets import PRESETS
from spreadwatch.model.sections import Date, DatedSection, Number, Section

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40)]
#: The parameter that ``r0`` derives.
BETA = "beta"
R0 = "r0"
#: Output name of the new infections; no compartment may take it.
INCIDENCE = "incidence"


def _expression(text: str) -> str:
    expressions.parse(text)  # a ValueError names the problem
    return text


Rate = Annotated[str, Field(min_length=1, max_length=200)]
Weight = Annotated[float, Strict()] | Rate


class _Transition(Section):
    kind: str  # each kind's own literal (first, as users write it)
    source: Name = Field(alias="from")
    to: Name
    rate: Rate

    _rate = field_validator("rate")(_expression)

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.to}"

    @property
    def parameter_names(self) -> set[str]:
        """The parameters its rate (and its weights) name."""
        names = set(expressions.parse(self.rate).names)
        for weight in getattr(self, "infectious", {}).values():
            if isinstance(weight, str):
                names |= expressions.parse(weight).names
        return names


class SpontaneousTransition(_Transition):
    """Each person of ``from`` moves to ``to`` at ``rate`` a day."""

    kind: Literal["spontaneous"]


class ContactTransition(_Transition):
    """Each person of ``from`` moves to ``to`` at ``rate`` times the force of infection of the
    ``infectious`` compartments (each weighted: a number or an expression)."""

    kind: Literal["contact"]
    infectious: dict[Name, Weight] = Field(min_length=1)

    @field_validator("infectious")
    @classmethod
    def _weights(cls, value: dict[str, float | str]) -> dict[str, float | str]:
        for name, weight in value.items():
            if isinstance(weight, str):
                try:
                    expressions.parse(weight)
                except ValueError as exc:
                    raise FieldError((name,), str(exc)) from None
            elif not weight >= 0:
                raise FieldError((name,), f"expected a weight >= 0, got {weight:g}")
        return value


Transition = Annotated[SpontaneousTransition | ContactTransition, Field(discriminator="kind")]


class StepModifier(DatedSection):
    """``parameter`` times ``factor`` from ``start`` to ``end`` (both included)."""

    kind: Literal["step"]
    parameter: Name
    factor: Number = Field(ge=0)

    def factor_on(self, date: dt.date) -> float:
        return self.factor if self.active(date) else 1.0


class SeasonalModifier(Section):
    """``parameter`` times ``1 + amplitude cos(2 pi (date - peak) / period_days)``."""

    kind: Literal["seasonal"]
    parameter: Name
    amplitude: Number = Field(ge=0, le=1)
    peak: Date
    period_days: Number = Field(default=365.25, gt=0)

    def factor_on(self, date: dt.date) -> float:
        phase = 2 * math.pi * (date - self.peak).days / self.period_days
        return 1.0 + self.amplitude * math.cos(phase)


Modifier = Annotated[StepModifier | SeasonalModifier, Field(discriminator="kind")]


class RegionalValue(Section):
    """A parameter with ``value`` (a number or one per age band) and other numbers in some
    regions."""

    value: Number | Annotated[list[Number], Field(min_length=1)]
    regions: dict[Annotated[str, Field(min_length=1)], Number] = Field(default_factory=dict)


ParameterValue = Number | list[Number] | RegionalValue


class ModelSection(Section):
    """``[model]``: a declared model (``compartments`` and ``transitions``) or a ``preset``,
    with its ``parameters``, time ``modifiers``, and where people start (``initial``), where
    seeds go (``seed_into``) and where infected arrivals go (``import_into``)."""

    preset: Literal["seir", "seihrd", "seirs", "seirv", "seapir", "two-strain"] | None = None
    compartments: list[Name] | None = Field(default=None, min_length=2)
    transitions: list[Transition] | None = Field(default=None, min_length=1)
    parameters: dict[Name, ParameterValue] = Field(default_factory=dict)
    modifiers: list[Modifier] = Field(default_factory=list)
    initial: Name | None = None
    seed_into: Name | None = None
    import_into: Name | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelSection:
        declared = self.compartments is not None or self.transitions is not None
        if self.preset is not None and declared:
            key = "compartments" if self.compartments is not None else "transitions"
            raise FieldError((key,), "give a preset or compartments and transitions, not both")
        if self.preset is None:
            for key in ("compartments", "transitions"):
                if getattr(self, key) is None:
                    raise FieldError((key,), "required without a preset")
        self._check_compartments()
        self._check_parameters()
        return self

    @property
    def compartment_names(self) -> list[str]:
        """The model's compartments, in order (the preset's or the declared ones)."""
        if self.preset is not None:
            return list(PRESETS[self.preset]["compartments"])
        return list(self.compartments or ())

    @property
    def transition_list(self) -> list[SpontaneousTransition | ContactTransition]:
        """The model's transitions (the preset's or the declared ones)."""
        if self.preset is not None:
            return self.transitions_of(self.preset)
        return list(self.transitions or ())

    @staticmethod
    def transitions_of(preset: str) -> list[SpontaneousTransition | ContactTransition]:
        """A preset's transitions."""
        kinds = {"spontaneous": SpontaneousTransition, "contact": ContactTransition}
        return [kinds[t["kind"]].model_validate(t) for t in PRESETS[preset]["transitions"]]

    @property
    def contacts(self) -> list[ContactTransition]:
        return [t for t in self.transition_list if isinstance(t, ContactTransition)]

    @property
    def initial_compartment(self) -> str:
        """Where residents start: given, or the first contact transition's source."""
        return self.initial or self.contacts[0].source

    @property
    def seed_compartment(self) -> str:
        """Where seeds go: given, or the most infectious compartment of the first contact
        transition (the first of the heaviest with a numeric weight)."""
        if self.seed_into is not None:
            return self.seed_into
        weights = self.contacts[0].infectious
        numeric = {c: w for c, w in weights.items() if isinstance(w, float | int)}
        return max(numeric, key=lambda c: numeric[c]) if numeric else next(iter(weights))

    @property
    def import_compartment(self) -> str:
        """Where infected arrivals go: given, or the first contact transition's target."""
        return self.import_into or self.contacts[0].to

    @property
    def derives_beta(self) -> bool:
        return R0 in self.parameters

    def _check_compartments(self) -> None:
        names = self.compartment_names
        where = "transitions" if self.preset is None else "preset"
        for i, name in enumerate(names):
            if name == INCIDENCE:
                raise FieldError(
                    ("compartments", i), f"{INCIDENCE!r} is the output of new infections"
                )
            if name in names[:i]:
                raise FieldError(("compartments", i), f"{name!r} is given twice")
        known = ", ".join(names)
        transitions = self.transition_list
        for i, transition in enumerate(transitions):
            for key, value in (("from", transition.source), ("to", transition.to)):
                if value not in names:
                    raise FieldError((where, i, key), f"unknown compartment {value!r} ({known})")
            if transition.source == transition.to:
                raise FieldError((where, i, "to"), "a transition must change compartment")
            for other in transitions[:i]:
                if (other.source, other.to, other.kind) == (
                    transition.source,
                    transition.to,
                    transition.kind,
                ):
                    raise FieldError(
                        (where, i), f"another {transition.kind} transition is {transition.label}"
                    )
            if isinstance(transition, ContactTransition):
                for name in transition.infectious:
                    if name not in names:
                        raise FieldError(
                            (where, i, "infectious", name), f"unknown compartment ({known})"
                        )
        if not self.contacts:
            raise FieldError((where,), "no contact transition: nobody could be infected")
        for key in ("initial", "seed_into", "import_into"):
            value = getattr(self, key)
            if value is not None and value not in names:
                raise FieldError((key,), f"unknown compartment {value!r} ({known})")
        initial = self.initial_compartment
        if initial not in {t.source for t in self.contacts}:
            raise FieldError(
                ("initial",), f"{initial!r} is not the source of any contact transition"
            )
        for i, transition in enumerate(transitions):
            if isinstance(transition, ContactTransition) and initial in transition.infectious:
                raise FieldError(
                    (where, i, "infectious", initial),
                    f"{initial!r} is where residents start: it cannot be infectious",
                )

    def _check_parameters(self) -> None:
        used: dict[str, tuple[str | int, ...]] = {}
        in_weights: set[str] = set()
        where = "transitions" if self.preset is None else "preset"
        for i, transition in enumerate(self.transition_list):
            texts = [("rate", transition.rate)]
            if isinstance(transition, ContactTransition):
                for c, w in transition.infectious.items():
                    if isinstance(w, str):
                        texts.append((f"infectious.{c}", w))
                        in_weights |= expressions.parse(w).names
            for key, text in texts:
                for name in sorted(expressions.parse(text).names):
                    used.setdefault(name, (where, i, *key.split(".")))
        if R0 in used:
            raise FieldError(
                (*used[R0][:2], used[R0][2]), "r0 is not a parameter of the rates: it sets beta"
            )
        given = set(self.parameters) - {R0}
        if self.derives_beta:
            self._check_r0(used, in_weights, where)
            given.add(BETA)
        for name, place in used.items():
            if name not in given:
                preset = f" (the preset {self.preset!r} needs it)" if self.preset else ""
                hint = " or r0" if name == BETA else ""
                raise FieldError(
                    ("parameters", name), f"missing: used by {dotted(place)}{hint}{preset}"
                )
        for name in self.parameters:
            if name not in used and name != R0:
                raise FieldError(
                    ("parameters", name), f"not used by any rate ({', '.join(sorted(used))})"
                )
        for i, modifier in enumerate(self.modifiers):
            place = ("modifiers", i, "parameter")
            if modifier.parameter == R0:
                raise FieldError(place, "modify beta, which r0 sets")
            if modifier.parameter not in given:
                raise FieldError(place, f"unknown parameter {modifier.parameter!r}")
            if modifier.parameter in in_weights:
                raise FieldError(
                    place,
                    f"{modifier.parameter!r} sets infectious weights, which stay the same over "
                    "a run: modify a parameter of the contact rates instead",
                )

    def _check_r0(self, used: dict, in_weights: set[str], where: str) -> None:
        """``r0`` sets ``beta`` when ``R0`` is proportional to it: every contact rate is beta
        times a factor without beta, and no weight uses beta."""
        r0 = self.parameters[R0]
        place = ("parameters", R0)
        if BETA in self.parameters:
            raise FieldError(place, "give r0 or beta, not both")
        if not isinstance(r0, float | int):
            raise FieldError(place, "expected one number")
        if not r0 > 0:
            raise FieldError(place, f"expected a number > 0, got {r0:g}")
        if BETA not in used:
            raise FieldError(place, "no rate uses beta, which r0 would set")
        if BETA in in_weights:
            raise FieldError(place, "with r0, infectious weights cannot use beta")
        for i, transition in enumerate(self.transition_list):
            rate = expressions.parse(transition.rate)
            if isinstance(transition, ContactTransition) and not rate.scales_with(BETA):
                raise FieldError(
                    (where, i, "rate"),
                    f"with r0, a contact rate must be beta times a factor without beta "
                    f"(got {transition.rate!r}); or give beta instead of r0",
                )
            if not isinstance(transition, ContactTransition) and BETA in rate.names:
                raise FieldError((where, i, "rate"), "with r0, only contact rates may use beta")
