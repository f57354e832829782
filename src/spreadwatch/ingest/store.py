"""An ingest store: a folder of Parquet parts and a manifest of the files already ingested.

Layout::

    STORE/manifest.sqlite                 one row per ingested file (by content hash) or batch of
                                          streamed messages (with the message keys)
    STORE/<source>/<hash16>-<n>.parquet   the file's rows in the source's output contract
    STORE/quarantine/<source>/<hash16>-<n>.parquet

A file counts as ingested only once its manifest row is committed, after all its parts were
renamed into place. Parts without a manifest row are what an interrupted run left behind: they
are removed when the store is opened by a process that has it to itself (every open ``Store``
holds a shared lock on ``STORE/.open``; the clean-up needs it exclusively, so a concurrent
writer's parts in progress are never touched), and the file is ingested again. So re-ingesting
a file changes nothing, and a run killed at any point resumes without duplicates or loss.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import durable

QUARANTINE = "quarantine"
#: Where a Spark ingest stages its files' rows (:mod:`spreadwatch.ingest.on_spark`).
STAGING = ".spark-staging"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    rows_in INTEGER NOT NULL,
    rows_kept INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL,
    duplicates_removed INTEGER NOT NULL,
    quarantined_by_reason TEXT NOT NULL,
    parts INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    PRIMARY KEY (source, sha256)
);
CREATE TABLE IF NOT EXISTS messages (
    key TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
) WITHOUT ROWID;
"""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FileRecord:
    """The row accounting of one ingested file."""

    source: str
    sha256: str
    path: str
    bytes: int
    rows_in: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    duplicates_removed: int = 0
    quarantined_by_reason: Counter[str] = field(default_factory=Counter)
    parts: int = 0

    def balanced(self) -> bool:
        """Whether every input row is accounted for."""
        return self.rows_in == self.rows_kept + self.rows_quarantined + self.duplicates_removed


class StoreBusy(RuntimeError):
    """Another process is ingesting the same source into the store."""


class Store:
    """The Parquet parts and the manifest below ``root`` (created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.root / "manifest.sqlite", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(_SCHEMA)
        self._db_lock = threading.Lock()  # a run's writer thread commits while it reads
        self._lock = (self.root / ".open").open("a")
        self.removed_leftovers = 0
        try:  # alone with the store: what an interrupted run left can go
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.removed_leftovers = self._remove_leftovers()
        except BlockingIOError:  # another process has it open and may be writing parts now
            pass
        fcntl.flock(self._lock, fcntl.LOCK_SH)

    def close(self) -> None:
        self._db.close()
        self._lock.close()

    def __enter__(self) -> Store:
        return self

    @contextmanager
    def writing(self, source: str) -> Iterator[None]:
        """Hold the store's write lock of ``source`` while ingesting it: one writer of a source
        at a time (two runs of the same files would race to record them); :class:`StoreBusy`
        at once when another process holds it."""
        with (self.root / f".writing-{source}").open("a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "another process"
                raise StoreBusy(
                    f"{self.root}: {holder} is ingesting {source} into this store; wait for it "
                    "to finish (or ingest into another store)"
                ) from None
            lock.seek(0)
            lock.truncate()
            lock.write(f"process {os.getpid()}")
            lock.flush()
            try:
                yield
            finally:
                lock.truncate(0)
                fcntl.flock(lock, fcntl.LOCK_UN)

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- parts ------------------------------------------------------------------------------

    def folder(self, source: str, quarantine: bool = False) -> Path:
        return self.root / QUARANTINE / source if quarantine else self.root / source

    def part_path(self, source: str, sha256: str, n: int, quarantine: bool = False) -> Path:
        return self.folder(source, quarantine) / f"{sha256[:16]}-{n:05d}.parquet"

    def write_part(
        self, table: pa.Table, path: Path, statistics: Sequence[str] | None = None
    ) -> None:
        """:func:`write_part` into this store."""
        write_part(table, path, statistics)

    def parts(self, source: str, quarantine: bool = False) -> list[Path]:
        """The committed and in-progress parts of a source, sorted."""
        folder = self.folder(source, quarantine)
        return sorted(folder.glob("*.parquet")) if folder.exists() else []

    def read(self, source: str, quarantine: bool = False) -> pa.Table | None:
        """All rows of a source (``None`` when nothing was ingested)."""
        parts = self.parts(source, quarantine)
        return pq.read_table(parts) if parts else None

    def _remove_leftovers(self) -> int:
        """Delete temporary files and parts of files whose manifest row was never committed (in
        the sources' folders only: other folders of the store, such as the tracing index, are
        not parts), and what a killed Spark ingest staged."""
        from spreadwatch.ingest.sources import SOURCES

        committed = {row[0][:16] for row in self._db.execute("SELECT sha256 FROM files")}
        removed = 0
        folders = [self.folder(name, q) for name in SOURCES for q in (False, True)]
        for path in (p for folder in folders for p in folder.glob("*.parquet*")):
            if path.name.endswith(".tmp") or path.name.split("-")[0] not in committed:
                path.unlink()
                removed += 1
        staging = self.root / STAGING  # what a killed Spark ingest staged: no run owns it
        if staging.exists():
            removed += sum(1 for p in staging.rglob("*") if p.is_file())
            shutil.rmtree(staging)
        return removed

    # --- manifest ---------------------------------------------------------------------------

    def is_ingested(self, source: str, sha256: str) -> bool:
        with self._db_lock:
            row = self._db.execute(
                "SELECT 1 FROM files WHERE source = ? AND sha256 = ?", (source, sha256)
            ).fetchone()
        return row is not None

    def commit(self, record: FileRecord, message_keys: Sequence[str] = ()) -> None:
        """Record a file (or a batch of streamed messages, with their keys) as ingested, in one
        transaction; its parts must already be in place."""
        with self._db_lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._insert_record(record)
            self._db.executemany(
                "INSERT INTO messages VALUES (?, ?)", ((k, record.sha256) for k in message_keys)
            )

    def message_keys(self) -> set[str]:
        """Keys of every streamed message already committed (see :meth:`commit`)."""
        with self._db_lock:
            return {row[0] for row in self._db.execute("SELECT key FROM messages")}

    def _insert_record(self, record: FileRecord) -> None:
        self._db.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.source,
                record.sha256,
                record.path,
                record.bytes,
                record.rows_in,
                record.rows_kept,
                record.rows_quarantined,
                record.duplicates_removed,
                json.dumps(dict(sorted(record.quarantined_by_reason.items()))),
                record.parts,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )

    def records(self, source: str | None = None) -> list[FileRecord]:
        """Manifest rows, oldest first (of one source, or all)."""
        query = "SELECT * FROM files" + (" WHERE source = ?" if source else "") + " ORDER BY rowid"
        with self._db_lock:
            rows = self._db.execute(query, (source,) if source else ()).fetchall()
        return [
            FileRecord(
                source=r[0],
                sha256=r[1],
                path=r[2],
                bytes=r[3],
                rows_in=r[4],
                rows_kept=r[5],
                rows_quarantined=r[6],
                duplicates_removed=r[7],
                quarantined_by_reason=Counter(json.loads(r[8])),
                parts=r[9],
            )
            for r in rows
        ]

    def quality(self) -> dict[str, dict]:
        """Row accounting summed per source over every ingested file."""
        summary: dict[str, dict] = {}
        for record in self.records():
            entry = summary.setdefault(
                record.source,
                {
                    "files": 0,
                    "rows_in": 0,
                    "rows_kept": 0,
                    "rows_quarantined": 0,
                    "duplicates_removed": 0,
                    "quarantined_by_reason": Counter(),
                },
            )
            entry["files"] += 1
            for name in ("rows_in", "rows_kept", "rows_quarantined", "duplicates_removed"):
                entry[name] += getattr(record, name)
            entry["quarantined_by_reason"].update(record.quarantined_by_reason)
        for entry in summary.values():
            entry["quarantined_by_reason"] = dict(sorted(entry["quarantined_by_reason"].items()))
        return summary


def write_part(table: pa.Table, path: Path, statistics: Sequence[str] | None = None) -> None:
    """Write a part atomically: to a temporary name, flushed, then renamed. Column
    statistics of ``statistics`` only (default: every column): the ones reads prune by,
    since min and max of long strings such as pseudonyms cost time and prune nothing.
    Dictionary-encoded columns are written encoded (quicker) but as plain Parquet strings:
    without an Arrow type of their own, they read back as the contract's strings. Their
    dictionaries keep only the values the part's rows use (a chunk's dictionary also holds
    the values of its quarantined rows, withheld for a reason). Times are written as deltas
    (``DELTA_BINARY_PACKED``) rather than through a dictionary: a part sorted by time then
    holds them in a seventh of the room, and they are written in half the time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    table = _used_values_only(table)
    times = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    pq.write_table(
        table,
        tmp,
        row_group_size=256 * 1024,
        compression="zstd",
        compression_level=1,
        write_statistics=list(statistics) if statistics is not None else True,
        store_schema=not any(pa.types.is_dictionary(f.type) for f in table.schema),
        use_dictionary=[f.name for f in table.schema if f.name not in times],
        column_encoding=dict.fromkeys(times, "DELTA_BINARY_PACKED"),
    )
    durable.replace(tmp, path)


def _used_values_only(table: pa.Table) -> pa.Table:
    """``table`` with each dictionary-encoded column's dictionary cut to the values its rows
    use (Parquet writes a column's whole dictionary)."""
    for i, column in enumerate(table.schema):
        if pa.types.is_dictionary(column.type):
            table = table.set_column(i, column.name, _used_dictionary(table.column(i)))
    return table


def _used_dictionary(column: pa.ChunkedArray) -> pa.Array:
    array = column.combine_chunks()
    if array.null_count:  # plain values: no dictionary to leak from
        return array.cast(array.type.value_type)
    indices = array.indices.to_numpy()
    used = np.bincount(indices, minlength=len(array.dictionary)) > 0
    if used.all():
        return array
    remapped = (np.cumsum(used) - 1)[indices].astype(indices.dtype)
    return pa.DictionaryArray.from_arrays(remapped, array.dictionary.filter(pa.array(used)))


# --- the store's layout, as the later stages read it ----------------------------------------


def events_glob(store_dir: Path) -> str:
    """The location-event parts of a store, as a Parquet glob the engines read."""
    return str(Path(store_dir) / "location" / "*.parquet")


def events_source(path: Path | str) -> str:
    """Location events to read: a store folder, a folder of Parquet files, a file or a glob."""
    path = Path(path)
    if (path / "manifest.sqlite").exists():
        path = Path(events_glob(path))
    elif path.is_dir():
        path = path / "*.parquet"
    if not (path.exists() or (glob.has_magic(str(path)) and glob.glob(str(path)))):
        raise FileNotFoundError(f"{path}: no such file, or no Parquet file matches")
    return str(path)


def is_store(path: Path) -> bool:
    """Whether ``path`` is an ingest store (a folder with its manifest)."""
    return (Path(path) / "manifest.sqlite").is_file()


def holds(store_dir: Path, source: str) -> bool:
    """Whether the store at ``store_dir`` holds rows of ``source``."""
    return any((Path(store_dir) / source).glob("*.parquet"))
