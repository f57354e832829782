"""Run config of the SEIR model: a TOML or YAML file validated by pydantic.

Every section forbids unknown keys. :func:`load_config` turns any problem into a
:class:`ConfigError` whose message names the file, the field and what was expected, e.g.
``config.toml: disease.r0: expected a number > 0, got -1``. Paths are resolved against the folder
of the config file. The keys are documented in ``docs/model.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from spreadwatch.configfile import ConfigError, FieldError, format_errors, read_mapping
from spreadwatch.model.geography import RegionSet, load_regions

Compartment = Literal["S", "E", "I", "R", "incidence"]
COMPARTMENTS_OUT: tuple[Compartment, ...] = ("S", "E", "I", "R", "incidence")


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    path = value.expanduser()
    return (Path(base) / path).resolve() if base is not None and not path.is_absolute() else path


def _must_exist(value: Path) -> Path:
    if not value.exists():
        raise ValueError(f"file or folder not found: {value}")
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value  # the strict date check reports it
    return value


Number = Annotated[float, Strict()]
Count = Annotated[int, Strict()]
Date = Annotated[dt.date, Strict(), BeforeValidator(_iso_date)]
OutputPath = Annotated[Path, AfterValidator(_resolve_path)]
InputPath = Annotated[Path, AfterValidator(_resolve_path), AfterValidator(_must_exist)]


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys and inf/nan rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RunSection(Section):
    """``[run]``: when and how long to simulate."""

    start_date: Date
    days: Count = Field(gt=0)
    steps_per_day: Count = Field(default=8, gt=0, le=1000)
    engine: Literal["deterministic"] = "deterministic"

    def date(self, day: int) -> dt.date:
        """Calendar date of day index ``day`` (0 is ``start_date``)."""
        return self.start_date + dt.timedelta(days=day)


class DiseaseSection(Section):
    """``[disease]``: SEIR natural history; give exactly one of ``r0`` and ``beta``."""

    r0: Number | None = Field(default=None, gt=0)
    beta: Number | None = Field(default=None, gt=0)
    latent_days: Number = Field(gt=0)
    infectious_days: Number = Field(gt=0)

    @model_validator(mode="after")
    def _r0_or_beta(self) -> DiseaseSection:
        if (self.r0 is None) == (self.beta is None):
            raise FieldError(("r0",), "give exactly one of r0 and beta")
        return self

    @property
    def transmission_rate(self) -> float:
        """beta, per day: given, or ``r0 / infectious_days``."""
        return self.beta if self.beta is not None else self.r0 / self.infectious_days  # type: ignore[operator]


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


MOBILITY_KEYS: dict[str, str] = {
    "commuting": "commuting",
    "suppressed_people": "commuting",
    "od_flows": "od",
    "presence": "od",
    "max_away": "od",
    "away_fraction": "gravity",
    "distance_exponent": "gravity",
}


REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "commuting": ("commuting",),
    "od": ("od_flows", "presence"),
}


class MobilitySection(Section):
    """``[mobility]``: how residents mix in the daytime (see :mod:`spreadwatch.model.mobility`)."""

    kind: Literal["none", "commuting", "od", "gravity"] = "none"
    commuting: InputPath | None = None
    od_flows: InputPath | None = None
    presence: InputPath | None = None
    max_away: Number = Field(default=0.95, gt=0, le=1)
    suppressed_people: Number = Field(default=7.0, ge=0)
    away_fraction: Number = Field(default=0.1, ge=0, le=1)
    distance_exponent: Number = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _keys_fit_kind(self) -> MobilitySection:
        for key, kind in MOBILITY_KEYS.items():
            if key in self.model_fields_set and self.kind != kind:
                raise FieldError((key,), f"only used when kind = '{kind}', not '{self.kind}'")
        for key in REQUIRED_BY_KIND.get(self.kind, ()):
            if getattr(self, key) is None:
                raise FieldError((key,), f"required when kind = '{self.kind}'")
        return self


class SeedEntry(Section):
    """``[[seed]]``: ``infected`` residents of ``region`` turn infectious when ``date`` starts."""

    region: str = Field(min_length=1)
    infected: Count = Field(gt=0)
    date: Date | None = None


class OutputSection(Section):
    """``[output]``: where and what to write."""

    dir: OutputPath | None = None
    compartments: list[Compartment] = Field(default=list(COMPARTMENTS_OUT), min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> OutputSection:
        if len(set(self.compartments)) != len(self.compartments):
            raise FieldError(("compartments",), "names must be unique")
        return self


class RunConfig(Section):
    """A whole run config: ``[run]``, ``[disease]``, ``[regions]``, ``[mobility]``, ``[[seed]]``,
    ``[output]``."""

    run: RunSection
    disease: DiseaseSection
    regions: RegionsSection = RegionsSection()
    mobility: MobilitySection = MobilitySection()
    seed: list[SeedEntry] = Field(default_factory=list)
    output: OutputSection = OutputSection()

    @model_validator(mode="after")
    def _seed_dates_in_run(self) -> RunConfig:
        end = self.run.date(self.run.days - 1)
        for i, entry in enumerate(self.seed):
            if entry.date is not None and not self.run.start_date <= entry.date <= end:
                raise FieldError(
                    ("seed", i, "date"),
                    f"expected a date from {self.run.start_date} to {end} (the run), "
                    f"got {entry.date}",
                )
        return self

    def seed_day(self, entry: SeedEntry) -> int:
        """Day index at whose start ``entry`` is applied."""
        return 0 if entry.date is None else (entry.date - self.run.start_date).days


def load_config(path: str | Path) -> RunConfig:
    """Read, validate and cross-check a TOML, YAML or JSON run config."""
    path = Path(path)
    label = str(path)
    data = read_mapping(path)
    try:
        config = RunConfig.model_validate(data, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        raise ConfigError(format_errors(label, exc, RunConfig)) from None
    try:
        regions = config.regions.load()
    except ConfigError as exc:
        raise ConfigError(f"{label}: regions.csv: {exc}") from None
    check_references(config, regions, label)
    return config


def check_references(config: RunConfig, regions: RegionSet, label: str = "config") -> None:
    """Raise :class:`ConfigError` if a seed names an unknown region or more people than live
    there, or if gravity mobility lacks coordinates."""
    population = dict(zip(regions.codes, regions.population, strict=True))
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
