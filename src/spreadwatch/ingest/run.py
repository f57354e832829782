"""Ingest raw files of one source into a store, file by file and chunk by chunk.

For every chunk: type the raw strings, quarantine rows failing a check (first failing check is the
reason), pseudonymise identifiers inside DuckDB, then compare each row's key with rows seen
before (earlier in the chunk, and already in the store): an identical row is a duplicate and is
dropped (counted), a different row with the same key is quarantined as a conflict. So
``rows_in = rows_kept + rows_quarantined + duplicates_removed`` for every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa

from spreadwatch import duck, regions
from spreadwatch.ingest.fast import ChunkResult, LocationFastPath
from spreadwatch.ingest.raw import (
    QUARANTINE_SCHEMA,
    ROW_NUMBER,
    SOURCE_FILE,
    RawFileError,
    split_valid,
)
from spreadwatch.ingest.readers import (
    DEFAULT_CHUNK_BYTES,
    expand_paths,
    iter_chunks,
    read_ahead,
    text_sql,
)
from spreadwatch.ingest.sources import CELLS, LOCATION, SOURCES, Source
from spreadwatch.ingest.store import FileRecord, Store, file_sha256
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.progress import track

_ID_PLACEHOLDER = re.compile(r"\{id:(\w+)\}")
_NO_PERIOD = "'all'"
CHUNK_ENV = "SPREADWATCH_INGEST_CHUNK_BYTES"
#: What the quarantine shows for a malformed value of a file with identifiers.
WITHHELD = "(withheld: malformed)"


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

    def add(self, rows: pa.Table) -> None:
        """Rows kept (not yet committed)."""

    def file_done(self, sha256: str) -> None:
        """Every kept row of the file with content hash ``sha256`` was added."""

    def finish(self) -> None:
        """The files are committed: keep what was followed."""

    def close(self) -> None:
        """Stop (after :meth:`finish`, or when the ingest failed)."""


#: Makes an ingest's follower from its store and source (``None``: nothing to follow).
Follow = Callable[[Store, Source], Follower | None]


class _Unfollowed:
    def add(self, rows: pa.Table) -> None:
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
    if spec.has_identifiers and spec.time_column is None and keyring.rotation != "none":
        raise ValueError(
            f"{spec.name}: rotating pseudonyms ({keyring.rotation}) need an event time to pick "
            "the period's key, and this source has none: ingest it without --rotate"
        )
    chunk_bytes = chunk_bytes or default_chunk_bytes()
    files = expand_paths(paths)
    report = IngestReport(spec.name, leftovers_removed=store.removed_leftovers)
    con = duck.connect()
    context = _context(spec, store, con)
    fast = None
    if fast_path and spec is LOCATION and LocationFastPath.applies(keyring):
        cells = con.sql("SELECT * FROM store_cells").to_arrow_table()
        fast = LocationFastPath(cells, keyring, store, con)
    deliveries = read_ahead(_deliveries(files, spec, store, chunk_bytes))
    with contextlib.closing(deliveries), PartWriter(store) as writer:
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

                if fast is not None:
                    output, quarantine, duplicates = fast.process(chunk, by_sql, writer.wait)
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
                    follower.add(output)
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

Prepare = Callable[[duckdb.DuckDBPyConnection, str], str]
"""Adds the columns a source's checks need to the relation named by the second argument and
returns the name of the extended relation."""


def _context(spec: Source, store: Store, con: duckdb.DuckDBPyConnection) -> Prepare | None:
    """Columns a source's checks need beyond the raw strings (cell regions, region codes)."""
    if spec is LOCATION:
        cells = store.read(CELLS.name)
        if cells is None:
            raise RawFileError(
                f"{store.root}: no cells yet; ingest the cells file first "
                "(spreadwatch ingest cells FILE --out STORE)"
            )
        con.register("store_cells", cells.select(["carrier", "cell_id", "region_code"]))

        def join_cells(con: duckdb.DuckDBPyConnection, source: str) -> str:
            duck.run(
                con,
                "CREATE OR REPLACE TEMP VIEW chunk_cells AS SELECT r.*, c.region_code "
                f"FROM {source} r LEFT JOIN store_cells c "
                "ON r.carrier = c.carrier AND r.cell_id = c.cell_id",
            )
            return "chunk_cells"

        return join_cells
    if spec is CELLS:
        return _place_cells
    if "region_code" in spec.columns:  # cases, households: codes checked against the regions
        codes = regions.load("sigungu").regions["code"].astype(str)
        con.register("known_regions", pa.table({"code": pa.array(codes, pa.string())}))

        def known_regions(con: duckdb.DuckDBPyConnection, source: str) -> str:
            duck.run(
                con,
                "CREATE OR REPLACE TEMP VIEW chunk_regions AS SELECT *, "
                f"region_code IN (SELECT code FROM known_regions) AS region_known FROM {source}",
            )
            return "chunk_regions"

        return known_regions
    return None


def _place_cells(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """Add the si-gun-gu of each cell by point-in-polygon (null outside every region)."""
    cells = con.sql(f"SELECT * FROM {source}").to_arrow_table()
    coords = con.sql(
        f"SELECT try_cast(lat AS DOUBLE) AS lat, try_cast(lon AS DOUBLE) AS lon FROM {source}"
    ).to_arrow_table()
    if coords.num_rows != cells.num_rows:
        raise AssertionError("cells changed between two reads")
    lat = coords["lat"].to_numpy().astype(float)
    lon = coords["lon"].to_numpy().astype(float)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    codes = np.full(len(lat), None, dtype=object)
    if ok.any():
        codes[ok] = regions.locate(lat[ok], lon[ok])
    con.register("chunk_placed", cells.append_column("region_code", pa.array(codes, pa.string())))
    return "chunk_placed"


#: Raw identifiers whose pseudonyms a connection keeps, per identifier column, before it
#: starts afresh (bounds memory; a forgotten identifier is simply hashed again).
PSEUDONYM_CACHE_ROWS = 5_000_000


def _pseudonyms(
    con: duckdb.DuckDBPyConnection,
    keyring: KeyRing,
    column: str,
    key: list[str],
    labels: Sequence[str],
) -> str:
    """Name of a table of ``key -> pseudo`` holding every non-blank identifier of the view
    ``typed``: one HMAC per distinct identifier and period, kept across the chunks of a
    connection. Like the chunk itself it lives inside DuckDB: in memory, or, under a memory cap
    (``$SPREADWATCH_MEMORY_LIMIT``), possibly in DuckDB's spill files of the run (keep
    ``$SPREADWATCH_SPILL_DIR`` on storage as protected as the raw files); it is never written
    to the store."""
    fingerprint = hashlib.sha256(keyring.key).hexdigest()[:12]
    table = f"pseudonyms_{column}_{keyring.rotation}_{fingerprint}"
    typed_key = ", ".join(f"{k} VARCHAR" for k in key)
    duck.run(con, f"CREATE TEMP TABLE IF NOT EXISTS {table} ({typed_key}, pseudo VARCHAR)")
    ((cached,),) = con.sql(f"SELECT count(*) FROM {table}").fetchall()
    if cached > PSEUDONYM_CACHE_ROWS:
        duck.run(con, f"DELETE FROM {table}")
    message = " || ':' || ".join(k for k in key if k != "_period")
    names = ", ".join(key)
    duck.run(
        con,
        f"INSERT INTO {table} SELECT {names}, {keyring.pseudonym_sql(message, labels)} "
        f"FROM (SELECT DISTINCT {names} FROM typed WHERE trim({column}) <> '' "
        f"AND _period IS NOT NULL) ANTI JOIN {table} USING ({names})",
    )
    return table


# --- one chunk ------------------------------------------------------------------------------


def process_chunk(
    con: duckdb.DuckDBPyConnection,
    spec: Source,
    chunk: pa.Table,
    keyring: KeyRing,
    prepare: Prepare | None = None,
    store: Store | None = None,
    settle: Callable[[], None] = lambda: None,
) -> tuple[pa.Table, pa.Table, int]:
    """``(output rows, quarantine rows, duplicates removed)`` of one chunk of raw rows;
    ``settle()`` runs before the store is read (parts still being written must be in place:
    the checks against the store must see every earlier part)."""
    con.register("chunk_raw", chunk)
    texts = ", ".join(f"{text_sql(c, chunk.schema.field(c).type)} AS {c}" for c in spec.columns)
    duck.run(con, f"CREATE OR REPLACE TEMP VIEW chunk AS SELECT * REPLACE ({texts}) FROM chunk_raw")
    source = prepare(con, "chunk") if prepare is not None else "chunk"
    period = keyring.period_sql("ts_parsed") if spec.time_column else None
    typed = f", {spec.typed_sql}" if spec.typed_sql else ""
    duck.run(  # a table: its text, parsing and joins are read three times below
        con,
        "CREATE OR REPLACE TEMP TABLE typed AS "
        f"SELECT *, {period or _NO_PERIOD} AS _period FROM (SELECT *{typed} FROM {source})",
    )
    labels = (
        [
            r[0]
            for r in con.sql(
                "SELECT DISTINCT _period FROM typed WHERE _period IS NOT NULL"
            ).fetchall()
        ]
        if period
        else []
    )
    keys = {col: [*parts, "_period"] for col, parts in spec.identifiers.items()}
    pseudo = {col: _pseudonyms(con, keyring, col, parts, labels) for col, parts in keys.items()}
    joins = " ".join(f"LEFT JOIN {pseudo[c]} USING ({', '.join(k)})" for c, k in keys.items())
    columns = {col: f"{pseudo[col]}.pseudo" for col in keys}
    selected = ", ".join(f"{expr} AS _pseudo_{col}" for col, expr in columns.items())
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP VIEW named AS SELECT typed.*{', ' if selected else ''}{selected} "
        f"FROM typed {joins}",
    )
    masked = {col: f"CASE WHEN trim({col}) = '' THEN {col} ELSE _pseudo_{col} END" for col in keys}
    if spec.has_identifiers:  # a malformed value may be a misplaced identifier: withhold it
        for col in spec.columns:
            if col not in masked:
                shape = spec.shapes.get(col, "false")
                masked[col] = f"CASE WHEN coalesce({shape}, false) THEN {col} ELSE '{WITHHELD}' END"
    valid, quarantine = split_valid(con, "named", spec.columns, spec.checks, masked)
    output_sql = _ID_PLACEHOLDER.sub(lambda m: f"_pseudo_{m.group(1)}", spec.output_sql)
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP VIEW out_rows AS SELECT {output_sql}, "
        f"{SOURCE_FILE}, {ROW_NUMBER} FROM {valid}",
    )
    if store is not None:
        settle()
    if not spec.conflicts_possible:
        return _drop_repeats(con, spec, store, quarantine)
    return _deduplicate(con, spec, store, quarantine)


def _earlier_rows_sql(con: duckdb.DuckDBPyConnection, spec: Source, store: Store | None) -> str:
    """SQL of the store's rows that may share a key with ``out_rows`` (time-pruned)."""
    parts = store.parts(spec.name) if store is not None else []
    if not parts:
        return ""
    files = "[" + ", ".join(f"'{p}'" for p in parts) + "]"
    window = ""
    if spec.time_column:  # parts are sorted by time: row-group statistics prune the scan
        t = spec.time_column
        low, high = con.sql(
            f"SELECT min({t})::VARCHAR, max({t})::VARCHAR FROM out_rows"
        ).fetchall()[0]
        window = f"WHERE {t} BETWEEN '{low}' AND '{high}'" if low is not None else ""
    return f"SELECT * FROM read_parquet({files}) {window}"


def _drop_repeats(
    con: duckdb.DuckDBPyConnection, spec: Source, store: Store | None, quarantine: pa.Table
) -> tuple[pa.Table, pa.Table, int]:
    """Sources whose key is the whole row: repeats are duplicates, conflicts cannot happen."""
    names = ", ".join(f.name for f in spec.schema)
    key = ", ".join(spec.key)
    earlier = _earlier_rows_sql(con, spec, store)
    anti = f"ANTI JOIN ({earlier}) e USING ({key})" if earlier else ""
    order = f"{spec.time_column}, {key}" if spec.time_column else key
    output = con.sql(
        f"SELECT {names} FROM (SELECT DISTINCT {names} FROM out_rows) {anti} ORDER BY {order}"
    ).to_arrow_table()
    (rows,) = con.sql("SELECT count(*) FROM out_rows").fetchall()[0]
    return output.cast(spec.schema), quarantine, int(rows) - output.num_rows


def _deduplicate(
    con: duckdb.DuckDBPyConnection, spec: Source, store: Store | None, quarantine: pa.Table
) -> tuple[pa.Table, pa.Table, int]:
    """Split ``out_rows`` into first occurrences, duplicates and conflicts (see module doc)."""
    names = [f.name for f in spec.schema]
    key = ", ".join(spec.key)
    row = ", ".join(names)

    def whole(alias: str) -> str:
        return "struct_pack(" + ", ".join(f"{n} := {alias}.{n}" for n in names) + ")"

    duck.run(
        con,
        "CREATE OR REPLACE TEMP TABLE ranked AS SELECT *, "
        f"row_number() OVER w AS _rank, first_value({whole('o')}) OVER w <> {whole('o')} "
        f"AS _differs FROM out_rows o WINDOW w AS (PARTITION BY {key} ORDER BY {ROW_NUMBER})",
    )
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP TABLE earlier AS SELECT {key}, {whole('o')} AS _row "
        "FROM out_rows o WHERE false",
    )
    earlier = _earlier_rows_sql(con, spec, store)
    if earlier:
        duck.run(
            con,
            f"INSERT INTO earlier SELECT {', '.join('s.' + k for k in spec.key)}, {whole('s')} "
            f"FROM ({earlier}) s SEMI JOIN (SELECT DISTINCT {key} FROM ranked) k USING ({key})",
        )
    duck.run(
        con,
        "CREATE OR REPLACE TEMP TABLE judged AS SELECT r.*, CASE "
        "WHEN r._rank > 1 THEN (CASE WHEN r._differs THEN 'conflict' ELSE 'duplicate' END) "
        "WHEN e._row IS NULL THEN 'new' "
        f"WHEN e._row = {whole('r')} THEN 'duplicate' ELSE 'conflict' END AS _verdict "
        f"FROM ranked r LEFT JOIN earlier e USING ({key})",
    )
    order = spec.time_column or key
    output = con.sql(
        f"SELECT {row} FROM judged WHERE _verdict = 'new' ORDER BY {order}, {key}"
    ).to_arrow_table()
    reason = f"conflicts with an earlier row with the same {', '.join(spec.key)}"
    conflicts = con.sql(
        f"SELECT {SOURCE_FILE} AS source_file, {ROW_NUMBER} AS row_number, "
        f"'{spec.key[-1]}' AS column, '{reason}' AS reason, "
        f"to_json({whole('j')})::VARCHAR AS raw_row "
        f"FROM judged j WHERE _verdict = 'conflict' ORDER BY {ROW_NUMBER}"
    ).to_arrow_table()
    (duplicates,) = con.sql("SELECT count(*) FROM judged WHERE _verdict = 'duplicate'").fetchall()[
        0
    ]
    quarantine = pa.concat_tables([quarantine, conflicts.cast(QUARANTINE_SCHEMA)])
    return output.cast(spec.schema), quarantine, int(duplicates)
