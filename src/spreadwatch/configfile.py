"""Config files shared by every command: reading TOML, YAML or JSON, and pydantic errors turned
into one readable line per problem that names the file, the field and what was expected."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


class ConfigError(ValueError):
    """A config or a file it refers to is invalid; the message names the file and the field."""


class FieldError(ValueError):
    """A validator's error about ``field`` (a path below the validated section)."""

    def __init__(self, field: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


def read_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise ConfigError(f"{path}: expected a .toml, .yaml, .yml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}") from None
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


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


def format_errors(label: str, exc: ValidationError, root: type[BaseModel]) -> str:
    """One line per pydantic error: ``label: field.path: expected ..., got ...``.

    ``root`` is the validated model, used to list the allowed keys next to an unknown one.
    """
    return "\n".join(_format_one(label, error, root) for error in exc.errors())


def _format_one(label: str, error: ErrorDetails, root: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldError):
        loc += cause.field
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        name = str(ctx.get("discriminator", "kind")).strip("'")
        loc += (name if name.isidentifier() else "kind",)
    shown = _without_tags(root, loc)[0]
    return f"{label}: {dotted(shown) or '(top level)'}: {_describe(error, loc, cause, root)}"


def _describe(
    error: ErrorDetails, loc: tuple[str | int, ...], cause: object, root: type[BaseModel]
) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    got = f", got {_short(error['input'])}"
    if kind in ("missing", "union_tag_not_found"):
        return "missing required key"
    if kind == "string_too_long":
        return (
            f"expected at most {ctx.get('max_length')} characters, got {len(str(error['input']))}"
        )
    if kind == "union_tag_invalid":
        return f"expected one of {ctx.get('expected_tags')}, got {_short(ctx.get('tag'))}"
    if kind == "extra_forbidden":
        _, model, union = _without_tags(root, loc[:-1])
        allowed = _keys(model) if model is not None else []
        text = "unknown key"
        tag = next((t for t, member in union.items() if member is model), None)
        if tag is not None:
            text += f" for kind = {tag!r}"
            takers = [t for t, member in union.items() if loc[-1] in _keys(member)]
            if takers:
                return text + f" (used with kind = {' or '.join(repr(t) for t in takers)})"
        return text + (f" (expected one of: {', '.join(allowed)})" if allowed else "")
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


def dotted(loc: tuple[str | int, ...]) -> str:
    """A field's path as a config names it: ``seed[0].region``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _without_tags(
    root: type[BaseModel], loc: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], type[BaseModel] | None, dict[str, type[BaseModel]]]:
    """``loc`` without the tags pydantic puts in the paths of tagged unions (the ``kind`` of a
    section, as in ``intervention[0].mobility.reduction``), the section it ends in, and the
    members of the last tagged union it went through, by tag."""
    model: type[BaseModel] | None = root
    shown: list[str | int] = []
    tags: dict[str, type[BaseModel]] = {}
    union: dict[str, type[BaseModel]] = {}
    for part in loc:
        if isinstance(part, int):
            shown.append(part)
            continue
        if part in tags:
            model, union, tags = tags[part], tags, {}
            continue
        shown.append(part)
        field = model.model_fields.get(part) if model is not None else None
        members = _models_in(field.annotation) if field is not None else []
        tags = _tags_of(members) if len(members) > 1 else {}
        model = members[0] if len(members) == 1 else None
        union = {}
    return tuple(shown), model, union


def _keys(model: type[BaseModel]) -> list[str]:
    """A section's keys as written (aliases included)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        found += [m for m in _models_in(arg) if m not in found]
    return found


def _tags_of(members: list[type[BaseModel]]) -> dict[str, type[BaseModel]]:
    """The ``kind`` values of a tagged union's members."""
    tags = {}
    for member in members:
        field = member.model_fields.get("kind")
        for value in getattr(field.annotation, "__args__", ()) if field is not None else ():
            tags[value] = member
    return tags
