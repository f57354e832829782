"""Run config of the SEIR model: a TOML or YAML file validated by pydantic.

Every section forbids unknown keys. :func:`load_config` turns any problem into a
:class:`ConfigError` whose message names the file, the field and what was expected, e.g.
``config.toml: disease.r0: expected a number > 0, got -1``. Paths are resolved against the folder
of the config file. The keys are documented in ``docs/model.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
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
from pydantic_core import ErrorDetails

from spreadwatch.model.errors import ConfigError
from spreadwatch.model.geography import RegionSet, load_regions

Compartment = Literal["S", "E", "I", "R", "incidence"]
COMPARTMENTS_OUT: tuple[Compartment, ...] = ("S", "E", "I", "R", "incidence")


class FieldError(ValueError):
    """A validator's error about ``field`` (a path below the validated section)."""

    def __init__(self, field: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


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
    """Read, validate and cross-check a TOML (``.toml``) or YAML (``.yaml``/``.yml``) run config."""
    path = Path(path)
    label = str(path)
    data = _read_mapping(path)
    try:
        config = RunConfig.model_validate(data, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        raise ConfigError(format_errors(label, exc)) from None
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


def _read_mapping(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: expected a .toml, .yaml or .yml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


# --- readable validation errors ---------------------------------------------------------------

_EXPECTED: dict[str, str] = {
    "finite_number": "a finite number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "string_type": "a string",
    "string_too_short": "a non-empty string",
    "path_type": "a path (string)",
    "list_type": "a list",
    "too_short": "a non-empty list",
    "model_type": "a table of keys",
    "model_attributes_type": "a table of keys",
    "dict_type": "a table of keys",
}
_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def format_errors(label: str, exc: ValidationError) -> str:
    """One line per pydantic error: ``label: field.path: expected ..., got ...``."""
    return "\n".join(_format_one(label, error) for error in exc.errors())


def _format_one(label: str, error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldError):
        loc += cause.field
    return f"{label}: {_dotted(loc) or '(top level)'}: {_describe(error, loc, cause)}"


def _describe(error: ErrorDetails, loc: tuple[str | int, ...], cause: object) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    got = f", got {_short(error['input'])}"
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return "unknown key" + (f" (expected one of: {', '.join(allowed)})" if allowed else "")
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}{got}"
    for key, symbol in _BOUNDS.items():
        if key in ctx and kind.startswith(("greater_than", "less_than")):
            bound = ctx[key]
            noun = "a number" if isinstance(bound, float) else "an integer"
            return f"expected {noun} {symbol} {_short(bound)}{got}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}{got}"
    if isinstance(cause, ValueError):
        return str(cause)
    return f"{error['msg']}{got}"


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] | None = RunConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
