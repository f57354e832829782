"""Errors raised by the model package."""

from __future__ import annotations

from spreadwatch.configfile import ConfigError

__all__ = ["ConfigError"]
