"""Readers, schema validation and quarantine for raw carrier and platform files.

Raw subscriber, device and household identifiers never leave this package: everything it writes
carries keyed pseudonyms instead. :func:`ingest` puts files of one source into a :class:`Store`.
"""

from spreadwatch.ingest.raw import QUARANTINE_SCHEMA, RawFileError
from spreadwatch.ingest.readers import expand_paths
from spreadwatch.ingest.run import IngestReport, ingest
from spreadwatch.ingest.sources import SOURCES, Source
from spreadwatch.ingest.store import FileRecord, Store

__all__ = [
    "QUARANTINE_SCHEMA",
    "SOURCES",
    "FileRecord",
    "IngestReport",
    "RawFileError",
    "Source",
    "Store",
    "expand_paths",
    "ingest",
]
