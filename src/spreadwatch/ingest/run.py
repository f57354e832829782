"""Ingest raw files of one source into a store, file by file and chunk by chunk.

For every chunk: type the raw strings, quarantine rows failing a check (first failing check is the
reason), pseudonymise identifiers inside DuckDB, then compare each row's key with rows seen
before (earlier in the chunk, and already in the store): an identical row is a duplicate and is
dropped (counted), a different row with the same key is quarantined as a conflict. So
``rows_in = rows_kept + rows_quarantined + duplicates_removed`` for every file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa

from spreadwatch import duck
from spreadwatch.ingest.chunks import (
    _context,
    process_chunk,
)
from spreadwatch.ingest.fast import ChunkResult, LocationFastPath, Prepared, UnstoredPath
from spreadwatch.ingest.raw import (
    RawFileError,
)
from spreadwatch.ingest.readers import (
    DEFAULT_CHUNK_BYTES,
    expand_paths,
    iter_chunks,
    read_ahead,
)
from spreadwatch.ingest.sources import LOCATION, SOURCES, Source
from spreadwatch.ingest.store import FileRecord, Store, file_sha256
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.progress import track

CHUNK_ENV = "SPREADWATCH_INGEST_CHUNK_BYTES"


@dataclass
class IngestReport:
    """What one ``ingest`` call did: files ingested now, files skipped as already ingested."""

    source: str
    ingested: list[FileRecord] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    leftovers_removed: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    """Files that could not be read at all (binary, wrong columns...), each with the reason:
    nothing of them is kept, and the files after them are ingested all the same."""

    def totals(self) -> FileRecord:
        """The row accounting summed over the files ingested by this call."""
        total = FileRecord(self.source, "", "", 0)
        for record in self.ingested:
            for name in ("bytes", "rows_in", "rows_kept", "rows_quarantined"):
                setattr(total, name, getattr(total, name) + getattr(record, name))
            total.duplicates_removed += record.duplicates_removed
            total.quarantined_by_reason.update(record.quarantined_by_reason)
            total.parts += record.parts
        return total


class Follower(Protocol):
    """Follows the rows an ingest keeps as it commits them: for location events, the daily
    flows counted as they arrive (:func:`spreadwatch.fusion.running.follow`)."""

    def add(self, rows: pa.Table, subscribers: np.ndarray | None = None) -> None:
        """Rows kept (not yet committed); ``subscribers``, when given, a number per row for its
        carrier and pseudonym, the same for the same pair throughout the ingest run."""

    def file_done(self, sha256: str) -> None:
        """Every kept row of the file with content hash ``sha256`` was added."""

    def finish(self) -> None:
        """The files are committed: keep what was followed."""

    def close(self) -> None:
        """Stop (after :meth:`finish`, or when the ingest failed)."""


#: Makes an ingest's follower from its store and source (``None``: nothing to follow).
Follow = Callable[[Store, Source], Follower | None]


class _Unfollowed:
    def add(self, rows: pa.Table, subscribers: np.ndarray | None = None) -> None:
        pass

    def file_done(self, sha256: str) -> None:
        pass

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def ingest(
    source: str | Source,
    paths: Sequence[str | Path],
    store: Store,
    keyring: KeyRing,
    chunk_bytes: int | None = None,
    fast_path: bool = True,
    keep_going: bool = False,
    follow: Follow | None = None,
) -> IngestReport:
    """Ingest files, folders or globs of ``source`` into ``store``; already ingested files
    (same content hash) are skipped. Location events need the store's cells first.

    Files are read in chunks of about ``chunk_bytes`` (default :func:`default_chunk_bytes`),
    which bounds memory whatever the file size. Location events take the fast path
    of :mod:`spreadwatch.ingest.fast` for their clean rows unless ``fast_path`` is false (the
    results are the same). ``follow`` makes a :class:`Follower` of the kept rows (the
    command line counts daily flows so). Another process ingesting the same source into the
    store meanwhile is :class:`~spreadwatch.ingest.store.StoreBusy`. A file the readers refuse
    (binary, without the header) raises :class:`RawFileError`, or with ``keep_going`` is listed
    in the report's ``failed`` while the other files are ingested.
    """
    spec = SOURCES[source] if isinstance(source, str) else source
    with store.writing(spec.name):
        follower = (follow(store, spec) if follow is not None else None) or _Unfollowed()
        try:
            return _ingest(
                spec, paths, store, keyring, chunk_bytes, fast_path, keep_going, follower
            )
        finally:
            follower.close()


def _ingest(
    spec: Source,
    paths: Sequence[str | Path],
    store: Store,
    keyring: KeyRing,
    chunk_bytes: int | None,
    fast_path: bool,
    keep_going: bool,
    follower: Follower,
) -> IngestReport:
    check_rotation(spec, keyring)
    chunk_bytes = chunk_bytes or default_chunk_bytes()
    files = expand_paths(paths)
    report = IngestReport(spec.name, leftovers_removed=store.removed_leftovers)
    con = duck.connect()
    context = _context(spec, store, con)
    fast = None
    deliveries = _deliveries(files, spec, store, chunk_bytes)
    if fast_path and spec is LOCATION and LocationFastPath.applies(keyring):
        cells = con.sql("SELECT * FROM store_cells").to_arrow_table()
        fast = LocationFastPath(cells, keyring, store, con)
        deliveries = _prepared(deliveries, fast, _unstored_path(spec, store, keyring, con))
    deliveries = read_ahead(deliveries, ahead=3)
    with (
        contextlib.closing(fast) if fast is not None else contextlib.nullcontext(),
        contextlib.closing(deliveries),  # before the fast path, which the reader calls
        PartWriter(store) as writer,
    ):
        for path in track(files, f"ingesting {spec.name}"):
            sha, skipped = next(deliveries)
            if skipped:
                report.skipped.append(path)
                continue
            record = FileRecord(spec.name, sha, str(path), path.stat().st_size)
            chunks = iter(deliveries.__next__, _END_OF_FILE)
            unreadable = None
            for n, item in enumerate(chunks):
                if isinstance(item, _Unreadable):
                    if n or not keep_going:  # with rows of it kept already: stop, as an
                        raise item.error  # interrupted run would (nothing is committed)
                    unreadable = item.error
                    break
                chunk, malformed = item

                def by_sql(rows: pa.Table, against_store: bool = True) -> ChunkResult:
                    checked = store if against_store else None
                    return process_chunk(con, spec, rows, keyring, context, checked, writer.wait)

                subscribers = None
                if isinstance(chunk, Prepared) and fast is not None:
                    output, quarantine, duplicates = fast.process(chunk, by_sql, writer.wait)
                    subscribers = fast.kept_subscribers
                    chunk = chunk.chunk
                else:
                    output, quarantine, duplicates = by_sql(chunk)
                quarantine = pa.concat_tables([malformed, quarantine])
                record.rows_in += chunk.num_rows + malformed.num_rows
                record.rows_kept += output.num_rows
                record.rows_quarantined += quarantine.num_rows
                record.duplicates_removed += duplicates
                record.quarantined_by_reason.update(quarantine["reason"].to_pylist())
                if output.num_rows:
                    writer.write(output, store.part_path(spec.name, sha, n), _pruned_by(spec))
                    follower.add(output, subscribers)
                if quarantine.num_rows:
                    writer.write(quarantine, store.part_path(spec.name, sha, n, quarantine=True))
                record.parts = n + 1
            if unreadable is not None:
                report.failed.append((path, str(unreadable)))
                continue
            if not record.balanced():  # a defect, never expected: refuse to commit
                raise AssertionError(f"{path}: row accounting does not add up: {record}")
            writer.commit(record)  # once its parts are in place, while the next file is read
            report.ingested.append(record)
            follower.file_done(sha)
        writer.wait()
        if report.ingested:  # every part and manifest row is in place
            follower.finish()
    con.close()
    return report


def check_rotation(spec: Source, keyring: KeyRing) -> None:
    """A :class:`ValueError` when ``keyring`` rotates but ``spec`` has identifiers and no time
    to pick the period's key by."""
    if spec.has_identifiers and spec.time_column is None and keyring.rotation != "none":
        raise ValueError(
            f"{spec.name}: rotating pseudonyms ({keyring.rotation}) need an event time to pick "
            "the period's key, and this source has none: ingest it without --rotate"
        )


_END_OF_FILE = object()


@dataclass(frozen=True)
class _Unreadable:
    """A file the readers refused (in place of its chunks)."""

    error: RawFileError


def _deliveries(
    files: Sequence[Path], spec: Source, store: Store, chunk_bytes: int
) -> Iterator[object]:
    """Per file in turn: ``(sha256, skipped)``, then, unless it is skipped (ingested before, or
    the same content earlier in ``files``), its ``(chunk, malformed)`` chunks and
    ``_END_OF_FILE``."""
    seen: set[str] = set()
    for path in files:
        sha = file_sha256(path)
        skipped = sha in seen or store.is_ingested(spec.name, sha)
        seen.add(sha)
        yield sha, skipped
        if not skipped:
            try:
                yield from iter_chunks(path, spec.columns, spec.has_identifiers, chunk_bytes)
            except RawFileError as exc:  # the next files are read all the same
                yield _Unreadable(exc)
                continue
            yield _END_OF_FILE


def _prepared(
    items: Iterator[object], fast: LocationFastPath, unstored: UnstoredPath
) -> Iterator[object]:
    """``items`` of :func:`_deliveries` with each chunk checked by the fast path and its
    unclean rows handed to the SQL path (:meth:`LocationFastPath.prepare`), as they are read."""
    try:
        for item in items:
            if isinstance(item, tuple) and isinstance(item[0], pa.Table):
                chunk, malformed = item
                yield fast.prepare(chunk, unstored), malformed
            else:
                yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:  # stopped early: the reader closes its open file
            close()


def _unstored_path(
    spec: Source, store: Store, keyring: KeyRing, con: duckdb.DuckDBPyConnection
) -> UnstoredPath:
    """The SQL path of rows not checked against the store, on a connection of its own (of
    the run's database), so that it may run while the run's connection is busy."""
    own = duck.cursor(con)
    context = _context(spec, store, own)

    def unstored(rows: pa.Table) -> ChunkResult:
        return process_chunk(own, spec, rows, keyring, context)

    return unstored


#: Chunks when ``$SPREADWATCH_MEMORY_LIMIT`` caps memory: 100 million events peak at about 1.9
#: GB with them, 2.4 GB with the default 64 MiB (somewhat faster).
CAPPED_CHUNK_BYTES = 32 * 1024 * 1024


def default_chunk_bytes() -> int:
    """``$SPREADWATCH_INGEST_CHUNK_BYTES``, else 32 MiB under a memory cap, else 64 MiB."""
    chosen = os.environ.get(CHUNK_ENV, "").strip()
    if chosen:
        if not chosen.isdigit() or int(chosen) < 1:
            raise ValueError(f"{CHUNK_ENV}={chosen!r}: expected a positive number of bytes")
        return int(chosen)
    return CAPPED_CHUNK_BYTES if os.environ.get(duck.MEMORY_ENV) else DEFAULT_CHUNK_BYTES


def _pruned_by(spec: Source) -> tuple[str, ...] | None:
    """The columns reads of a timed source's parts prune by: its time and the first column of
    its key (carrier, platform); every column for other sources."""
    return (spec.time_column, spec.key[0]) if spec.time_column else None


class PartWriter:
    """Writes a run's parts in a background thread (Parquet encoding releases the GIL), so the
    next chunk is checked while the last is written, and commits each file's manifest row
    after its parts, in the same thread; :meth:`wait` before reading the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="spreadwatch-parts")
        self._pending: list[Future] = []

    def write(self, table: pa.Table, path: Path, statistics: Sequence[str] | None = None) -> None:
        self._pending.append(self._pool.submit(self.store.write_part, table, path, statistics))

    def commit(self, record: FileRecord) -> None:
        """Commit ``record`` once every part handed over before is in place; never after a
        failed write (its file stays uningested, so a later run takes it again)."""
        parts = list(self._pending)

        def commit_after_parts() -> None:
            for future in parts:  # done already (one thread, in order): re-raise a failure
                future.result()
            self.store.commit(record)

        self._pending.append(self._pool.submit(commit_after_parts))

    def wait(self) -> None:
        """Block until every part and record handed over is in place (re-raising a failed
        write)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown()


# --- per-source preparation -----------------------------------------------------------------

"""Adds the columns a source's checks need to the relation named by the second argument and
returns the name of the extended relation."""


# --- one chunk ------------------------------------------------------------------------------
