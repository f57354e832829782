"""Fusion: pseudonymised events into origin-destination flows and hourly presence."""

from spreadwatch.fusion.mobility import (
    DEFAULT_MAX_GAP_HOURS,
    TIMEZONE_OFFSET_HOURS,
    commuting,
    connect,
    od_flows,
    presence,
)

__all__ = [
    "DEFAULT_MAX_GAP_HOURS",
    "TIMEZONE_OFFSET_HOURS",
    "commuting",
    "connect",
    "od_flows",
    "presence",
]
