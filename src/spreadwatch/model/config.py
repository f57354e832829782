"""Run config of the SEIR model: a TOML or YAML file validated by pydantic.

Every section forbids unknown keys. :func:`load_config` turns any problem into a
:class:`ConfigError` whose message names the file, the field and what was expected, e.g.
``config.toml: disease.r0: expected a number > 0, got -1``. Paths are resolved against the folder
of the config file. The keys are documented in ``docs/model.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Strict, Tag, ValidationError, model_validator

from spreadwatch.configfile import ConfigError, FieldError, dotted, format_errors, read_mapping
from spreadwatch.model.declared.spec import ModelSection
from spreadwatch.model.geography import AGE_BANDS, RegionSet, load_regions
from spreadwatch.model.sections import (
    Count,
    Date,
    DatedSection,
    Fraction,
    InputPath,
    Number,
    OutputPath,
    Section,
)
from spreadwatch.regions.sources import CONTACT_SETTINGS, contact_locations

#: The one contact setting of a model without age structure.
HOMOGENEOUS = "all"
DEFAULT_QUANTILES = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)

ModelCompartment = Literal["S", "E", "I", "H", "R", "D"]
Compartment = Annotated[str, Field(min_length=1)]
SEIR: tuple[ModelCompartment, ...] = ("S", "E", "I", "R")
#: The compartment sets a model may have: SEIR, with hospitalisation, and with deaths.
COMPARTMENT_SETS: tuple[tuple[ModelCompartment, ...], ...] = (
    SEIR,
    ("S", "E", "I", "H", "R"),
    ("S", "E", "I", "H", "R", "D"),
)
COMPARTMENTS_OUT: tuple[Compartment, ...] = ("S", "E", "I", "R", "incidence")
#: Default steps per day of each engine.
DEFAULT_STEPS = {"deterministic": 8, "stochastic": 4}
DEFAULT_PARTICLES = 100


class RunSection(Section):
    """``[run]``: when and how long to simulate."""

    start_date: Date
    days: Count = Field(gt=0)
    steps_per_day: Count | None = Field(default=None, gt=0, le=1000)
    engine: Literal["deterministic", "stochastic"] = "deterministic"
    particles: Count | None = Field(default=None, gt=0, le=100_000)
    random_seed: Count = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _stochastic_keys(self) -> RunSection:
        for key in ("particles", "random_seed"):
            if key in self.model_fields_set and self.engine != "stochastic":
                raise FieldError((key,), "only used when engine = 'stochastic'")
        return self

    @property
    def steps(self) -> int:
        """Steps per day: given, or the engine's default."""
        return self.steps_per_day or DEFAULT_STEPS[self.engine]

    @property
    def particle_count(self) -> int:
        """Realisations of a stochastic run (1 for a deterministic one)."""
        if self.engine != "stochastic":
            return 1
        return self.particles or DEFAULT_PARTICLES

    def date(self, day: int) -> dt.date:
        """Calendar date of day index ``day`` (0 is ``start_date``)."""
        return self.start_date + dt.timedelta(days=day)


class DiseaseSection(Section):
    """``[disease]``: SEIR natural history; give exactly one of ``r0`` and ``beta``."""

    r0: Number | None = Field(default=None, gt=0)
    beta: Number | None = Field(default=None, gt=0)
    latent_days: Number = Field(gt=0)
    infectious_days: Number = Field(gt=0)
    compartments: list[ModelCompartment] = Field(default=list(SEIR))
    hospital_fraction: Fraction | list[Fraction] | None = None
    hospital_days: Number | None = Field(default=None, gt=0)
    fatality_fraction: Fraction | list[Fraction] | None = None

    @model_validator(mode="after")
    def _r0_or_beta(self) -> DiseaseSection:
        if (self.r0 is None) == (self.beta is None):
            raise FieldError(("r0",), "give exactly one of r0 and beta")
        if tuple(self.compartments) not in COMPARTMENT_SETS:
            sets = "; ".join(", ".join(c) for c in COMPARTMENT_SETS)
            raise FieldError(("compartments",), f"expected one of these sets, in order: {sets}")
        needs = {"H": ("hospital_fraction", "hospital_days"), "D": ("fatality_fraction",)}
        for compartment, keys in needs.items():
            for key in keys:
                given = getattr(self, key) is not None
                if given and compartment not in self.compartments:
                    raise FieldError((key,), f"only used when compartments include {compartment}")
                if not given and compartment in self.compartments:
                    raise FieldError((key,), f"required when compartments include {compartment}")
        for key in ("hospital_fraction", "fatality_fraction"):
            value = getattr(self, key)
            if isinstance(value, list) and len(value) not in (1, len(AGE_BANDS)):
                raise FieldError(
                    (key,), f"expected one fraction or {len(AGE_BANDS)} (one per age band)"
                )
        return self

    @property
    def transmission_rate(self) -> float:
        """beta, per day: given, or ``r0 / infectious_days``."""
        return self.beta if self.beta is not None else self.r0 / self.infectious_days  # type: ignore[operator]


class AgeSection(Section):
    """``[age]``: age structure with the Prem 2021 contact matrices by setting."""

    contacts: Literal["prem2021"] = "prem2021"
    country: str = Field(default="South_Korea", min_length=1)
    """Location of the contact matrices, and of the UN WPP age pyramid that splits regions
    given without age columns."""

    @model_validator(mode="after")
    def _known_country(self) -> AgeSection:
        known = contact_locations()
        if self.country not in known:
            close = difflib.get_close_matches(self.country, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise FieldError(("country",), f"unknown location {self.country!r}{hint}")
        return self


class _Measure(DatedSection):
    """A measure in force from ``start`` to ``end`` (both included)."""


RegionCodes = list[Annotated[str, Field(min_length=1)]]


class MobilityMeasure(_Measure):
    """Residents of ``regions`` (default all) spend ``reduction`` less time away from home."""

    kind: Literal["mobility"]
    reduction: Fraction
    regions: RegionCodes | None = Field(default=None, min_length=1)


class ContactsMeasure(_Measure):
    """Contacts in ``settings`` fall by ``reduction``."""

    kind: Literal["contacts"]
    reduction: Fraction
    settings: RegionCodes = Field(min_length=1)


class TravelQuarantine(_Measure):
    """Imported infections fall by ``reduction``."""

    kind: Literal["travel_quarantine"]
    reduction: Fraction


class IsolationMeasure(_Measure):
    """Infectious people are isolated after ``days`` on average, so each transmits
    ``gamma / (gamma + 1 / days)`` as much."""

    kind: Literal["isolation"]
    days: Number = Field(gt=0)


#: ``[[intervention]]``: one of the measures, told apart by ``kind``.
InterventionEntry = Annotated[
    MobilityMeasure | ContactsMeasure | TravelQuarantine | IsolationMeasure,
    Field(discriminator="kind"),
]


class ScenarioEntry(Section):
    """``[[scenario]]``: a named set of interventions added to the config's own, compared
    against the config as it is by ``spreadwatch scenarios``."""

    name: str = Field(min_length=1, max_length=80)
    intervention: list[InterventionEntry] = Field(default_factory=list)


class ImportationsSection(Section):
    """``[importations]``: infected arrivals from the fusion ``importations`` table."""

    file: InputPath
    infected_fraction: Fraction
    """Share of arrivals who arrive infected (enter E)."""


#: Parameters ``spreadwatch calibrate`` can fit (see :mod:`spreadwatch.infer.calibrate`).
CALIBRATION_PARAMETERS = (
    "r0",
    "seed_scale",
    "reporting_fraction",
    "reporting_delay",
    "dispersion",
    "change_factor",
)
#: Fitted only when ``[calibration] change_date`` is set.
CHANGE_PARAMETER = "change_factor"


class PriorEntry(Section):
    """A uniform prior on ``[low, high]``, or on the logarithm with ``scale = "log"``."""

    low: Number
    high: Number
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _ordered(self) -> PriorEntry:
        if not self.low < self.high:
            raise FieldError(("high",), f"expected a number > low ({self.low}), got {self.high}")
        if self.scale == "log" and self.low <= 0:
            raise FieldError(("low",), "a log-scale prior needs low > 0")
        return self


class CalibrationSection(Section):
    """``[calibration]``: the sampler's particles, priors to replace the defaults, and
    parameters held fixed (not fitted)."""

    particles: Count = Field(default=300, ge=20, le=20_000)
    priors: dict[str, PriorEntry] = Field(default_factory=dict)
    fixed: dict[str, Number] = Field(default_factory=dict)
    change_date: Date | None = None
    """From this day on transmission is multiplied by ``change_factor`` (fitted): the effect
    of a measure or a change in behaviour, estimated from the cases."""

    @model_validator(mode="after")
    def _known(self) -> CalibrationSection:
        for group in ("priors", "fixed"):
            for name in getattr(self, group):
                if name not in CALIBRATION_PARAMETERS:
                    raise FieldError(
                        (group, name),
                        f"unknown parameter (expected one of {', '.join(CALIBRATION_PARAMETERS)})",
                    )
        for name, value in self.fixed.items():
            top = 1.0 if name == "reporting_fraction" else math.inf
            if not 0 < value <= top:
                bound = "in (0, 1]" if top == 1.0 else "> 0"
                raise FieldError(("fixed", name), f"expected a number {bound}, got {value}")
        both = set(self.priors) & set(self.fixed)
        if both:
            raise FieldError(("fixed", sorted(both)[0]), "has a prior too: fit it or fix it")
        for group in ("priors", "fixed"):
            if CHANGE_PARAMETER in getattr(self, group) and self.change_date is None:
                raise FieldError((group, CHANGE_PARAMETER), "needs calibration.change_date")
        if len(self.fixed) == len(CALIBRATION_PARAMETERS) - (self.change_date is None):
            raise FieldError(("fixed",), "every parameter is fixed: nothing to calibrate")
        return self


class RegionsSection(Section):
    """``[regions]``: the built-in Korean si-gun-gu (default) or a CSV file of regions."""

    source: Literal["korea-sigungu"] | None = None
    csv: InputPath | None = None

    @model_validator(mode="after")
    def _one_source(self) -> RegionsSection:
        if self.source is not None and self.csv is not None:
            raise FieldError(("csv",), "give either source or csv, not both")
        return self

    def load(self) -> RegionSet:
        """The region set this section names (CSV problems raise :class:`ConfigError`)."""
        return load_regions(self.csv)


class _Mobility(Section):
    kind: str  # each kind's own literal (first, as users write it)


class NoMobility(_Mobility):
    """Everyone spends the day at home."""

    kind: Literal["none"] = "none"


class CommutingMobility(_Mobility):
    """Mixing from the fusion ``commuting`` table (see :mod:`spreadwatch.model.mobility`)."""

    kind: Literal["commuting"]
    commuting: InputPath
    suppressed_people: Number = Field(default=7.0, ge=0)
    daily: bool = False
    """Mix by each date's measured table instead of their mean."""


class OdMobility(_Mobility):
    """Mixing from the fusion ``od_flows`` and ``presence`` tables."""

    kind: Literal["od"]
    od_flows: InputPath
    presence: InputPath
    max_away: Number = Field(default=0.95, gt=0, le=1)
    daily: bool = False
    """Mix by each date's measured table instead of their mean."""


class GravityMobility(_Mobility):
    """A gravity model over the regions' coordinates."""

    kind: Literal["gravity"]
    away_fraction: Number = Field(default=0.1, ge=0, le=1)
    distance_exponent: Number = Field(default=2.0, ge=0)


#: ``[mobility]``: how residents mix in the daytime, told apart by ``kind``.
MobilitySection = Annotated[
    Annotated[NoMobility, Tag("none")]
    | Annotated[CommutingMobility, Tag("commuting")]
    | Annotated[OdMobility, Tag("od")]
    | Annotated[GravityMobility, Tag("gravity")],
    Discriminator(lambda value: _kind(value, "none")),
]


def _kind(value: Any, default: str) -> Any:
    """A section's ``kind``, ``default`` when it gives none."""
    return value.get("kind", default) if isinstance(value, dict) else getattr(value, "kind", None)


class SeedEntry(Section):
    """``[[seed]]``: ``infected`` residents of ``region`` turn infectious when ``date`` starts
    (into ``compartment``, a declared model's, or its ``seed_into``)."""

    region: str = Field(min_length=1)
    infected: Count = Field(gt=0)
    date: Date | None = None
    compartment: str | None = Field(default=None, min_length=1)


class OutputSection(Section):
    """``[output]``: where and what to write."""

    dir: OutputPath | None = None
    compartments: list[Compartment] | None = Field(default=None, min_length=1)
    quantiles: list[Annotated[float, Strict(), Field(gt=0, lt=1)]] = Field(
        default=list(DEFAULT_QUANTILES), min_length=1
    )
    particles: bool = False
    """Also write every particle's states to ``particles.parquet`` (stochastic runs)."""

    @model_validator(mode="after")
    def _unique(self) -> OutputSection:
        if self.compartments and len(set(self.compartments)) != len(self.compartments):
            raise FieldError(("compartments",), "names must be unique")
        if sorted(set(self.quantiles)) != self.quantiles:
            raise FieldError(("quantiles",), "expected increasing, distinct levels")
        return self


class RunConfig(Section):
    """A whole run config: ``[run]``, ``[disease]``, ``[regions]``, ``[mobility]``, ``[[seed]]``,
    ``[output]``."""

    run: RunSection
    disease: DiseaseSection | None = None
    model: ModelSection | None = None
    regions: RegionsSection = RegionsSection()
    mobility: MobilitySection = NoMobility()
    age: AgeSection | None = None
    seed: list[SeedEntry] = Field(default_factory=list)
    intervention: list[InterventionEntry] = Field(default_factory=list)
    scenario: list[ScenarioEntry] = Field(default_factory=list)
    importations: ImportationsSection | None = None
    calibration: CalibrationSection = CalibrationSection()
    output: OutputSection = OutputSection()

    @model_validator(mode="after")
    def _cross_checks(self) -> RunConfig:
        if (self.disease is None) == (self.model is None):
            raise FieldError(("disease",), "give exactly one of [disease] and [model]")
        end = self.run.date(self.run.days - 1)
        for i, entry in enumerate(self.seed):
            if entry.date is not None and not self.run.start_date <= entry.date <= end:
                raise FieldError(
                    ("seed", i, "date"),
                    f"expected a date from {self.run.start_date} to {end} (the run), "
                    f"got {entry.date}",
                )
        change = self.calibration.change_date
        if change is not None and not self.run.start_date < change <= end:
            raise FieldError(
                ("calibration", "change_date"),
                f"expected a date after {self.run.start_date} up to {end} (the run), got {change}",
            )
        settings = CONTACT_SETTINGS if self.age is not None else (HOMOGENEOUS,)
        for where, measure in self.all_interventions():
            for j, setting in enumerate(getattr(measure, "settings", ())):
                if setting not in settings:
                    without = "" if self.age is not None else " (no [age] section: one setting)"
                    raise FieldError(
                        (*where, "settings", j),
                        f"unknown setting {setting!r}, expected one of "
                        f"{', '.join(settings)}{without}",
                    )
            if measure.kind == "travel_quarantine" and self.importations is None:
                raise FieldError(
                    (*where, "kind"), "travel_quarantine needs an [importations] section"
                )
        names = [entry.name for entry in self.scenario]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise FieldError(("scenario", i, "name"), f"another scenario is named {name!r}")
        modelled = [*self.compartments, "incidence"]
        for i, entry in enumerate(self.seed):
            if entry.compartment is not None and self.model is None:
                raise FieldError(("seed", i, "compartment"), "only used with a [model] section")
            if entry.compartment is not None and entry.compartment not in self.compartments:
                raise FieldError(
                    ("seed", i, "compartment"),
                    f"{entry.compartment!r} is not a compartment of this model "
                    f"({', '.join(self.compartments)})",
                )
        for i, name in enumerate(self.output.compartments or ()):
            if name not in modelled:
                raise FieldError(
                    ("output", "compartments", i),
                    f"{name!r} is not a compartment of this model ({', '.join(modelled)})",
                )
        if self.output.particles and self.run.engine != "stochastic":
            raise FieldError(("output", "particles"), "only used when run.engine = 'stochastic'")
        return self

    def all_interventions(self) -> list[tuple[tuple[str | int, ...], InterventionEntry]]:
        """Every intervention with its place in the config, the scenarios' included."""
        found: list[tuple[tuple[str | int, ...], InterventionEntry]] = [
            (("intervention", i), m) for i, m in enumerate(self.intervention)
        ]
        for i, entry in enumerate(self.scenario):
            found += [
                (("scenario", i, "intervention", j), m) for j, m in enumerate(entry.intervention)
            ]
        return found

    def with_scenario(self, entry: ScenarioEntry) -> RunConfig:
        """This config with ``entry``'s interventions added to its own."""
        return self.model_copy(update={"intervention": [*self.intervention, *entry.intervention]})

    @property
    def compartments(self) -> list[str]:
        """The model's compartments: ``[disease]``'s set or ``[model]``'s."""
        if self.model is not None:
            return self.model.compartment_names
        return list(self.disease.compartments)  # type: ignore[union-attr]  # one is given

    @property
    def output_compartments(self) -> list[str]:
        """Compartments written: as configured, or the model's with ``incidence``."""
        return list(self.output.compartments or [*self.compartments, "incidence"])

    def seed_day(self, entry: SeedEntry) -> int:
        """Day index at whose start ``entry`` is applied."""
        return 0 if entry.date is None else (entry.date - self.run.start_date).days


def load_config(path: str | Path) -> RunConfig:
    """Read, validate and cross-check a TOML, YAML or JSON run config."""
    path = Path(path)
    return config_from_mapping(read_mapping(path), path.parent.resolve(), str(path))


def config_from_mapping(data: dict, base_dir: Path, label: str) -> RunConfig:
    """Validate and cross-check a run config given as a mapping (relative paths from
    ``base_dir``; errors name ``label``)."""
    try:
        config = RunConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_errors(label, exc, RunConfig)) from None
    try:
        regions = config.regions.load()
    except ConfigError as exc:
        raise ConfigError(f"{label}: regions.csv: {exc}") from None
    check_references(config, regions, label)
    return config


def check_references(config: RunConfig, regions: RegionSet, label: str = "config") -> None:
    """Raise :class:`ConfigError` if a seed or an intervention names an unknown region, a seed
    more people than live there, or if gravity mobility lacks coordinates."""
    population = dict(zip(regions.codes, regions.population, strict=True))
    for where, measure in config.all_interventions():
        place = dotted(where)
        for j, code in enumerate(getattr(measure, "regions", None) or ()):
            if code not in population:
                raise ConfigError(
                    f"{label}: {place}.regions[{j}]: unknown region {code!r} "
                    f"(not among the {regions.size} regions of {regions.label})"
                    + _suggest(code, regions)
                )
    for name, value in (config.model.parameters if config.model is not None else {}).items():
        for code in getattr(value, "regions", None) or ():
            if code not in population:
                raise ConfigError(
                    f"{label}: model.parameters.{name}.regions.{code}: unknown region "
                    f"(not among the {regions.size} regions of {regions.label})"
                    + _suggest(code, regions)
                )
    for i, entry in enumerate(config.seed):
        if entry.region not in population:
            raise ConfigError(
                f"{label}: seed[{i}].region: unknown region {entry.region!r} "
                f"(not among the {regions.size} regions of {regions.label})"
                + _suggest(entry.region, regions)
            )
        if entry.infected > population[entry.region]:
            raise ConfigError(
                f"{label}: seed[{i}].infected: expected at most the population of "
                f"{entry.region} ({population[entry.region]:.0f}), got {entry.infected}"
            )
    if config.mobility.kind == "gravity" and not regions.has_coordinates:
        raise ConfigError(
            f"{label}: mobility.kind: 'gravity' needs region coordinates; "
            f"add lat and lon columns to {regions.label}"
        )


def _suggest(value: str, regions: RegionSet) -> str:
    by_name = [
        c
        for c, n in zip(regions.codes, regions.names, strict=True)
        if value in (n, n.split(",")[0])
    ]
    close = by_name or difflib.get_close_matches(value, regions.codes, n=3)
    if not close:
        return ""
    named = ", ".join(f"{c} ({regions.name_of(c)})" for c in close[:5])
    return f"; did you mean {named}?"
