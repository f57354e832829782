"""Ingest on Spark: a carrier's delivery checked, pseudonymised and deduplicated where it lies,
file by file on the executors, into the same store as the local ingest makes.

The rules are not written twice. Each executor task runs the local ingest
(:func:`spreadwatch.ingest.run.ingest`: readers, checks, quarantine reasons, HMAC pseudonyms,
de-duplication within the file) on one file, into a private scratch store, and stages its
kept and quarantined rows beside the store. Spark then does what needs every file at once:
a row whose key the store already holds, or an earlier file of the delivery holds, is a
duplicate (counted against the later file, as the local ingest counts it); the rest are
written as the file's parts, and this process commits each file's manifest row once its
parts are in place. So a re-run of a delivery changes nothing, and a killed job leaves only
parts without manifest rows, which the next opening of the store removes.

Only sources whose key determines the whole row (location events, roaming, telemetry: a
repeat is always a duplicate) run on Spark; the small reference files (cells, cases,
households) are ingested here. The pseudonym key reaches the executors inside the tasks'
serialised function, never in the data, the plan or the logs; the delivery and the store must
be on storage every node reads (a shared file system).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.ingest.raw import RawFileError
from spreadwatch.ingest.readers import DEFAULT_CHUNK_BYTES, expand_paths
from spreadwatch.ingest.run import IngestReport, ingest
from spreadwatch.ingest.sources import CELLS, LOCATION, SOURCES, Source
from spreadwatch.ingest.store import QUARANTINE, FileRecord, Store, file_sha256, write_part
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.progress import step

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The folder of the store where a Spark run stages its files' rows (removed at its end).
STAGING = ".spark-staging"
#: Columns a staged kept row carries besides its source's: its file in the delivery, its part.
FILE, PART = "_file", "_part"
_FILES = pa.schema([("index", pa.int64()), ("path", pa.string()), ("sha256", pa.string())])
_HASHED = pa.schema([("index", pa.int64()), ("sha256", pa.string())])
_DONE = pa.schema([("index", pa.int64()), ("result", pa.string())])
_WRITTEN = pa.schema([(FILE, pa.int64()), ("rows", pa.int64())])


def runs_on_spark(spec: Source) -> bool:
    """Whether a source's ingest runs on Spark: when a repeated key is always a duplicate."""
    return not spec.conflicts_possible


def ingest_on_spark(
    source: str | Source,
    paths: Sequence[str | Path],
    store: Store,
    keyring: KeyRing,
    session: SparkSession,
    chunk_bytes: int | None = None,
    keep_going: bool = False,
) -> IngestReport:
    """Ingest files, folders or globs of ``source`` into ``store`` on Spark ``session``, with
    the rules and the accounting of :func:`~spreadwatch.ingest.run.ingest`."""
    spec = SOURCES[source] if isinstance(source, str) else source
    if not runs_on_spark(spec):
        raise ValueError(
            f"{spec.name}: a repeated key may be a conflict, which needs the files in order; "
            "ingest it with the duckdb engine (reference files are small)"
        )
    files = expand_paths(paths)
    with store.writing(spec.name):
        report = IngestReport(spec.name, leftovers_removed=store.removed_leftovers)
        cells = store.read(CELLS.name) if spec is LOCATION else None
        if spec is LOCATION and cells is None:
            raise RawFileError(
                f"{store.root}: no cells yet; ingest the cells file first "
                "(spreadwatch ingest cells FILE --out STORE)"
            )
        with step(f"Hashing {len(files)} {spec.name} file(s) on Spark"):
            hashes = _hashes(session, files)
        todo: list[tuple[int, Path, str]] = []
        seen: set[str] = set()
        for index, (path, sha) in enumerate(zip(files, hashes, strict=True)):
            if sha in seen or store.is_ingested(spec.name, sha):
                report.skipped.append(path)
            else:
                todo.append((index, path, sha))
            seen.add(sha)
        if not todo:
            return report
        staging = store.root / STAGING / uuid.uuid4().hex
        try:
            with step(f"Checking and pseudonymising {len(todo)} file(s) on Spark"):
                done = _checked_files(session, spec, todo, staging, keyring, cells, chunk_bytes)
            records = _records(spec, todo, done, report, keep_going)
            if records:
                with step("Removing repeats across files and the store, writing parts"):
                    removed = _write_parts(session, spec, store, staging, records)
                for index, record in sorted(records.items()):
                    record.duplicates_removed += removed.get(index, 0)
                    record.rows_kept -= removed.get(index, 0)
                    _place_quarantine(store, spec, staging, index, record.sha256)
                    if not record.balanced():  # a defect, never expected: refuse to commit
                        raise AssertionError(f"{record.path}: row accounting: {record}")
                    store.commit(record)
                    report.ingested.append(record)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if staging.parent.exists() and not any(staging.parent.iterdir()):
                staging.parent.rmdir()
    return report


def _hashes(session: SparkSession, files: Sequence[Path]) -> list[str]:
    """Each file's SHA-256, computed on the executors (in the files' order)."""
    table = pa.table(
        {"index": range(len(files)), "path": [str(f) for f in files], "sha256": [""] * len(files)},
        schema=_FILES,
    )
    frame = _spread(session.createDataFrame(table.to_pandas()), len(files))
    rows = frame.mapInArrow(_hash_files, _spark_schema(_HASHED)).toArrow()
    by_index = dict(zip(rows["index"].to_pylist(), rows["sha256"].to_pylist(), strict=True))
    return [by_index[i] for i in range(len(files))]


def _hash_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        rows = batch.to_pylist()
        hashes = [file_sha256(Path(r["path"])) for r in rows]
        yield pa.RecordBatch.from_pydict(
            {"index": [r["index"] for r in rows], "sha256": hashes}, schema=_HASHED
        )


def _checked_files(
    session: SparkSession,
    spec: Source,
    todo: list[tuple[int, Path, str]],
    staging: Path,
    keyring: KeyRing,
    cells: pa.Table | None,
    chunk_bytes: int | None,
) -> dict[int, dict]:
    """Run the local ingest of every file on the executors; each file's result by index: its
    manifest record, or why it could not be read."""
    table = pa.table(
        {
            "index": [i for i, _, _ in todo],
            "path": [str(p) for _, p, _ in todo],
            "sha256": [s for _, _, s in todo],
        },
        schema=_FILES,
    )
    task = _FileTask(spec.name, str(staging), keyring, cells, chunk_bytes or DEFAULT_CHUNK_BYTES)
    frame = _spread(session.createDataFrame(table.to_pandas()), len(todo))
    rows = frame.mapInArrow(task, _spark_schema(_DONE)).toArrow()
    return {
        i: json.loads(r)
        for i, r in zip(rows["index"].to_pylist(), rows["result"].to_pylist(), strict=True)
    }


class _FileTask:
    """What an executor runs for its files: the local ingest into a scratch store, then the
    kept rows (with their file and part) and the quarantine staged for the driver's steps."""

    def __init__(
        self,
        source: str,
        staging: str,
        keyring: KeyRing,
        cells: pa.Table | None,
        chunk_bytes: int,
    ) -> None:
        self.source = source
        self.staging = staging
        self.keyring = keyring
        self.cells = cells
        self.chunk_bytes = chunk_bytes

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        os.environ["SPREADWATCH_QUIET"] = "1"  # no progress bars in the executors' logs
        for batch in batches:
            for row in batch.to_pylist():
                result = self._one(row["index"], Path(row["path"]))
                yield pa.RecordBatch.from_pydict(
                    {"index": [row["index"]], "result": [json.dumps(result)]}, schema=_DONE
                )

    def _one(self, index: int, path: Path) -> dict:
        spec = SOURCES[self.source]
        staged = Path(self.staging) / str(index)
        with (
            tempfile.TemporaryDirectory(prefix="spreadwatch-spark-") as scratch,
            Store(Path(scratch) / "store") as store,
        ):
            if self.cells is not None:
                store.write_part(self.cells, store.part_path(CELLS.name, "0" * 64, 0))
            try:
                report = ingest(spec, [path], store, self.keyring, self.chunk_bytes)
            except RawFileError as exc:
                return {"failed": str(exc)}
            record = report.ingested[0]
            kept = staged / "kept"
            kept.mkdir(parents=True)
            for part in store.parts(spec.name):
                n = int(part.stem.rsplit("-", 1)[1])  # the chunk's number: the part's name
                rows = pq.read_table(part).cast(spec.schema)
                rows = rows.append_column(FILE, pa.array([index] * rows.num_rows, pa.int64()))
                rows = rows.append_column(PART, pa.array([n] * rows.num_rows, pa.int64()))
                pq.write_table(rows, kept / f"{n:05d}.parquet")
            for part in store.parts(spec.name, quarantine=True):
                target = staged / QUARANTINE / part.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(part, target)
        return {
            "rows_in": record.rows_in,
            "rows_kept": record.rows_kept,
            "rows_quarantined": record.rows_quarantined,
            "duplicates_removed": record.duplicates_removed,
            "quarantined_by_reason": dict(record.quarantined_by_reason),
            "parts": record.parts,
        }


def _records(
    spec: Source,
    todo: list[tuple[int, Path, str]],
    done: dict[int, dict],
    report: IngestReport,
    keep_going: bool,
) -> dict[int, FileRecord]:
    """The manifest records of the files read, by index; an unreadable file raises, or with
    ``keep_going`` is listed in the report's ``failed``."""
    records = {}
    for index, path, sha in todo:
        result = done[index]
        if "failed" in result:
            if not keep_going:
                raise RawFileError(result["failed"])
            report.failed.append((path, result["failed"]))
            continue
        by_reason = Counter(result.pop("quarantined_by_reason"))
        record = FileRecord(spec.name, sha, str(path), path.stat().st_size, **result)
        record.quarantined_by_reason = by_reason
        records[index] = record
    return records


def _write_parts(
    session: SparkSession,
    spec: Source,
    store: Store,
    staging: Path,
    records: dict[int, FileRecord],
) -> dict[int, int]:
    """Drop staged rows whose key the store or an earlier file holds, write the rest as the
    files' parts (on the executors), and return how many rows each file lost so."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    staged = [staging / str(i) / "kept" for i in records]
    staged = [str(folder) for folder in staged if any(folder.glob("*.parquet"))]
    if not staged:
        return {}
    rows = session.read.parquet(*staged)
    key = list(spec.key)
    stored = store.parts(spec.name)
    if stored:
        held = session.read.parquet(*[str(p) for p in stored]).select(*key).distinct()
        rows = rows.join(held, on=key, how="left_anti")
    first = Window.partitionBy(*key).orderBy(FILE)
    rows = rows.withColumn("_n", F.row_number().over(first)).where(F.col("_n") == 1).drop("_n")
    shas = {index: record.sha256 for index, record in records.items()}
    writer = _PartWriter(spec.name, str(store.root), shas)

    def write(key: tuple, table: pa.Table) -> pa.Table:  # Spark counts a function's arguments
        return writer(key, table)

    written = rows.groupBy(FILE, PART).applyInArrow(write, _spark_schema(_WRITTEN)).toArrow()
    kept = Counter()
    for index, count in zip(written[FILE].to_pylist(), written["rows"].to_pylist(), strict=True):
        kept[index] += count
    return {index: record.rows_kept - kept[index] for index, record in records.items()}


class _PartWriter:
    """Writes one part of a file (its rows of one staged part) into the store, in the store's
    order: time, then the key's other columns."""

    def __init__(self, source: str, root: str, shas: dict[int, str]) -> None:
        self.source = source
        self.root = root
        self.shas = shas

    def __call__(self, key: tuple, table: pa.Table) -> pa.Table:
        spec = SOURCES[self.source]
        index, part = (int(k.as_py()) if hasattr(k, "as_py") else int(k) for k in key)
        rows = table.select(spec.schema.names).cast(spec.schema)
        order = [c for c in (spec.time_column, *spec.key) if c is not None]
        rows = rows.sort_by([(c, "ascending") for c in dict.fromkeys(order)])
        store = Path(self.root)
        path = store / self.source / f"{self.shas[index][:16]}-{part:05d}.parquet"
        write_part(rows, path, (spec.time_column, spec.key[0]) if spec.time_column else None)
        return pa.table({FILE: [index], "rows": [rows.num_rows]}, schema=_WRITTEN)


def _place_quarantine(store: Store, spec: Source, staging: Path, index: int, sha: str) -> None:
    """Move a file's staged quarantine parts to their place in the store."""
    folder = staging / str(index) / QUARANTINE
    for part in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        n = int(part.stem.rsplit("-", 1)[1])
        target = store.part_path(spec.name, sha, n, quarantine=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(part, target)


def _spread(frame: DataFrame, files: int) -> DataFrame:
    """``frame`` in one partition per file (up to 1024), so files run in parallel tasks."""
    return frame.repartition(max(1, min(files, 1024)))


def _spark_schema(schema: pa.Schema) -> str:
    names = {pa.int64(): "bigint", pa.string(): "string"}
    return ", ".join(f"{field.name} {names[field.type]}" for field in schema)
