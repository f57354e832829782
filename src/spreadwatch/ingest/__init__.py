"""Readers, schema validation and quarantine for raw carrier and platform files.

Raw subscriber and device identifiers never leave this package: everything it returns carries
keyed pseudonyms instead.
"""

from spreadwatch.ingest.cells import read_cells
from spreadwatch.ingest.location import IngestResult, ingest_location_events
from spreadwatch.ingest.raw import QUARANTINE_SCHEMA, RawFileError

__all__ = [
    "QUARANTINE_SCHEMA",
    "IngestResult",
    "RawFileError",
    "ingest_location_events",
    "read_cells",
]
