"""Exposure tracing over an ingest store's location events (docs/tracing.md)."""

from spreadwatch.tracing.index import TraceError, build_index, ensure_index, is_current
from spreadwatch.tracing.query import (
    CONTACT_SCHEMA,
    KST,
    TraceQuery,
    TraceResult,
    korea_time,
    trace,
)

__all__ = [
    "CONTACT_SCHEMA",
    "KST",
    "TraceError",
    "TraceQuery",
    "TraceResult",
    "build_index",
    "ensure_index",
    "is_current",
    "korea_time",
    "trace",
]
