"""Errors raised by the model package."""

from __future__ import annotations


class ConfigError(ValueError):
    """A run config or a file it refers to is invalid; the message names the file and the field."""
