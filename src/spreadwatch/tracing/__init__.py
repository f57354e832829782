"""Exposure tracing over an ingest store's location events (docs/tracing.md)."""

from spreadwatch.tracing.index import TraceError, build_index, ensure_index, is_current
from spreadwatch.tracing.query import CONTACT_SCHEMA, TraceQuery, TraceResult, trace

__all__ = [
    "CONTACT_SCHEMA",
    "TraceError",
    "TraceQuery",
    "TraceResult",
    "build_index",
    "ensure_index",
    "is_current",
    "trace",
]
