"""Readers, schema validation and quarantine for raw carrier and platform files.

Raw subscriber and device identifiers never leave this package: everything it returns carries
keyed pseudonyms instead.
"""

from spreadwatch.ingest.cases import CASES_SCHEMA, read_cases
from spreadwatch.ingest.cells import read_cells
from spreadwatch.ingest.location import IngestResult, ingest_location_events
from spreadwatch.ingest.raw import QUARANTINE_SCHEMA, RawFileError

__all__ = [
    "CASES_SCHEMA",
    "QUARANTINE_SCHEMA",
    "IngestResult",
    "RawFileError",
    "ingest_location_events",
    "read_cases",
    "read_cells",
]
