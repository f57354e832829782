"""The field types and the base section of every run-config section (see
:mod:`spreadwatch.model.config`): strict numbers, fractions, counts and ISO dates, paths
resolved against the config's folder, and sections that are immutable and forbid unknown
keys."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    model_validator,
)

from spreadwatch.configfile import FieldError


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
Fraction = Annotated[float, Strict(), Field(ge=0, le=1)]
Count = Annotated[int, Strict()]
Date = Annotated[dt.date, Strict(), BeforeValidator(_iso_date)]
OutputPath = Annotated[Path, AfterValidator(_resolve_path)]
InputPath = Annotated[Path, AfterValidator(_resolve_path), AfterValidator(_must_exist)]


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys and inf/nan rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatedSection(Section):
    """A section in force from ``start`` to ``end`` (both included; no ``end``: to the run's
    end), told apart from its siblings by ``kind``."""

    kind: str  # each kind's own literal (first, as users write it)
    start: Date
    end: Date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DatedSection:
        if self.end is not None and self.end < self.start:
            raise FieldError(("end",), f"expected a date on or after start ({self.start})")
        return self

    def active(self, date: dt.date) -> bool:
        return self.start <= date and (self.end is None or date <= self.end)
