"""Fusion: pseudonymised events into origin-destination flows and hourly presence."""

from spreadwatch.fusion import engines
from spreadwatch.fusion.engines import ENGINES, Engine, collect, connected, read_events, stop
from spreadwatch.fusion.mobility import (
    DEFAULT_MAX_GAP_HOURS,
    SCHEMAS,
    TIMEZONE_OFFSET_HOURS,
    commuting,
    connect,
    od_flows,
    presence,
)

__all__ = [
    "DEFAULT_MAX_GAP_HOURS",
    "ENGINES",
    "SCHEMAS",
    "TIMEZONE_OFFSET_HOURS",
    "Engine",
    "collect",
    "commuting",
    "connect",
    "connected",
    "engines",
    "od_flows",
    "presence",
    "read_events",
    "stop",
]
