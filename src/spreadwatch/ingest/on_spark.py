"""Ingest on Spark: a carrier's delivery checked, pseudonymised and deduplicated where it lies,
file by file on the executors, into the same store as the local ingest makes.

The rules are not written twice. Three Spark jobs:

1. **Files.** Each task takes files of the delivery: hashes each (a file already in the
   manifest is skipped), runs the local ingest (:func:`spreadwatch.ingest.run.ingest`:
   readers, checks, quarantine reasons, HMAC pseudonyms, repeats within the file) into a
   private scratch store, and stages the kept rows, each with a 128-bit fingerprint of its
   key, and the quarantine beside the store.
2. **Repeats.** Only fingerprints cross the network: a kept row whose key the store already
   holds (its parts in the delivery's time span), or an earlier file of the delivery holds, is
   a duplicate, counted against the later file as the local ingest counts it. The repeats are
   staged per file.
3. **Parts.** Each task writes the parts of its files, without their repeats, into the store.

This process then commits each file's manifest row once its parts are in place. So a re-run
of a delivery changes nothing, and a killed job leaves only parts without manifest rows, which
the next opening of the store removes.

Only sources whose key determines the whole row (location events, roaming events, the
households' members: a repeat is always a duplicate) run on Spark; the others (cells, device
telemetry, households, cases), where a repeated key with other values is a conflict that
depends on the files' order, are ingested here. The pseudonym key reaches the executors inside
the tasks' serialised function, which is kept small (everything else is read from the staging
folder) so that Spark sends it to the executors directly instead of writing it to disk for a
broadcast; on a cluster, also enable ``spark.authenticate`` and ``spark.io.encryption.enabled``.
The delivery and the store must be on storage every node reads and writes (a shared file
system). Each task gives the same result when Spark runs it again (a retry, a speculative
copy), and parts are written under their final names, flushed, before the manifest names them.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import duck, durable
from spreadwatch.ingest.chunks import reference_table
from spreadwatch.ingest.raw import RawFileError
from spreadwatch.ingest.readers import expand_paths
from spreadwatch.ingest.run import IngestReport, check_rotation, default_chunk_bytes, ingest
from spreadwatch.ingest.sources import CELLS, LOCATION, SOURCES, Source
from spreadwatch.ingest.store import (
    QUARANTINE,
    STAGING,
    FileRecord,
    Store,
    file_sha256,
    write_part,
)
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.progress import step

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The column of a staged fingerprint that names its file in the delivery.
FILE = "file_index"
_DONE = pa.schema([("index", pa.int64()), ("result", pa.string())])
_FINGERPRINTS = pa.schema([("a", pa.int64()), ("b", pa.int64())])
#: Most tasks of a job (files beyond share them).
MAX_TASKS = 1024


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
    check_rotation(spec, keyring)
    files = expand_paths(paths)
    with store.writing(spec.name):
        report = IngestReport(spec.name, leftovers_removed=store.removed_leftovers)
        cells = reference_table(store, CELLS, "cells") if spec is LOCATION else None
        staging = store.root / STAGING / uuid.uuid4().hex
        try:
            _stage_inputs(staging, files, cells, {r.sha256 for r in store.records(spec.name)})
            task = _FileTask(spec.name, str(staging), keyring, chunk_bytes or default_chunk_bytes())
            with step(f"Checking and pseudonymising {len(files)} {spec.name} file(s) on Spark"):
                done = _run_tasks(session, len(files), task)
            records, unreadable = _records(spec, files, done, report, keep_going)
            if records:
                shas = {str(index): record.sha256 for index, record in records.items()}
                (staging / "shas.json").write_text(json.dumps(shas))
                with step("Finding repeats across files and the store on Spark"):
                    _stage_repeats(session, spec, store, staging, records)
                with step(f"Writing the parts of {len(records)} file(s) on Spark"):
                    writer = _PartWriter(spec.name, str(store.root), str(staging))
                    kept = _run_tasks(session, len(files), writer)
                for index, record in sorted(records.items()):
                    removed = record.rows_kept - kept[index]["rows"]
                    record.duplicates_removed += removed
                    record.rows_kept -= removed
                    _place_quarantine(store, spec, staging, index, record.sha256)
                    if not record.balanced():  # a defect, never expected: refuse to commit
                        raise AssertionError(f"{record.path}: row accounting: {record}")
                    store.commit(record)
                    report.ingested.append(record)
            if unreadable is not None:  # as the local ingest: the files before it are in
                raise unreadable
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if staging.parent.exists() and not any(staging.parent.iterdir()):
                staging.parent.rmdir()
    return report


def _stage_inputs(
    staging: Path, files: list[Path], cells: pa.Table | None, ingested: set[str]
) -> None:
    """What every task reads from the shared storage rather than from its serialised
    function: the delivery's files, the store's cells and the hashes its manifest holds. The
    function then stays small: Spark writes a large one to its local disk to broadcast it, and
    it holds the pseudonym key."""
    staging.mkdir(parents=True)
    (staging / "files.json").write_text(json.dumps([str(f) for f in files]))
    (staging / "ingested.json").write_text(json.dumps(sorted(ingested)))
    if cells is not None:
        pq.write_table(cells, staging / "cells.parquet")


def _run_tasks(session: SparkSession, count: int, work: _Work) -> dict[int, dict]:
    """``work(index)`` for every index below ``count`` on the executors (one partition per
    index, up to :data:`MAX_TASKS`, without a shuffle); each result by index."""
    frame = session.range(0, count, 1, max(1, min(count, MAX_TASKS)))
    rows = frame.mapInArrow(work, _spark_schema(_DONE)).toArrow()
    return {
        i: json.loads(r)
        for i, r in zip(rows["index"].to_pylist(), rows["result"].to_pylist(), strict=True)
    }


class _Work:
    """A function of a file's index that executors run (see :func:`_run_tasks`); a task run
    again (a retry, a speculative copy) must give the same result."""

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        os.environ["SPREADWATCH_QUIET"] = "1"  # no progress bars in the executors' logs
        for batch in batches:
            for index in batch.column(0).to_pylist():
                result = json.dumps(self.run(index))
                yield pa.RecordBatch.from_pydict(
                    {"index": [index], "result": [result]}, schema=_DONE
                )

    def run(self, index: int) -> dict:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        """What is sent to the executors: the settings, never inputs read and kept since."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class _FileTask(_Work):
    """Job 1 for one file: hashed, then (unless the manifest has it) the local ingest into a
    scratch store, its kept rows staged with their fingerprints, its quarantine staged."""

    def __init__(self, source: str, staging: str, keyring: KeyRing, chunk_bytes: int) -> None:
        self.source = source
        self.staging = staging
        self.keyring = keyring
        self.chunk_bytes = chunk_bytes

    @functools.cached_property
    def _inputs(self) -> tuple[list[str], set[str], pa.Table | None]:
        """The staged file list, manifest hashes and cells, read once by a task's worker."""
        staging = Path(self.staging)
        files = json.loads((staging / "files.json").read_text())
        ingested = set(json.loads((staging / "ingested.json").read_text()))
        cells = staging / "cells.parquet"
        return files, ingested, pq.read_table(cells) if cells.exists() else None

    def run(self, index: int) -> dict:
        spec = SOURCES[self.source]
        staging = Path(self.staging)
        files, ingested, cells = self._inputs
        path = Path(files[index])
        sha = file_sha256(path)
        if sha in ingested:
            return {"sha256": sha, "skipped": True}
        staged = staging / str(index)
        shutil.rmtree(staged, ignore_errors=True)  # what an earlier attempt left
        with (
            tempfile.TemporaryDirectory(prefix="spreadwatch-spark-") as scratch,
            Store(Path(scratch) / "store") as store,
        ):
            if cells is not None:
                store.write_part(cells, store.part_path(CELLS.name, "0" * 64, 0))
            try:
                report = ingest(spec, [path], store, self.keyring, self.chunk_bytes)
            except RawFileError as exc:
                return {"sha256": sha, "failed": str(exc)}
            record = report.ingested[0]
            (staged / "kept").mkdir(parents=True)
            fingerprints = []
            for part in store.parts(spec.name):
                rows = pq.read_table(part).cast(spec.schema)
                shutil.copyfile(part, staged / "kept" / part.name)
                fingerprints.append(_fingerprints(rows, spec))
            table = pa.concat_tables(fingerprints) if fingerprints else _FINGERPRINTS.empty_table()
            table = table.append_column(FILE, pa.array([index] * table.num_rows, pa.int64()))
            pq.write_table(table, staged / "fingerprints.parquet")
            for part in store.parts(spec.name, quarantine=True):
                (staged / QUARANTINE).mkdir(exist_ok=True)
                shutil.copyfile(part, staged / QUARANTINE / part.name)
        return {
            "sha256": sha,
            "rows_in": record.rows_in,
            "rows_kept": record.rows_kept,
            "rows_quarantined": record.rows_quarantined,
            "duplicates_removed": record.duplicates_removed,
            "quarantined_by_reason": dict(record.quarantined_by_reason),
            "parts": record.parts,
        }


def _fingerprints(rows: pa.Table, spec: Source) -> pa.Table:
    """The 128-bit MD5 of each row's key, as two 64-bit halves: two keys share it with a chance
    of 2^-128. The key is encoded unambiguously (each value's length before it, times as epoch
    microseconds), so the fingerprint is the same on every node."""
    parts = []
    for column in spec.key:
        kind = spec.schema.field(column).type
        text = f"epoch_us({column})::VARCHAR" if pa.types.is_timestamp(kind) else column
        parts.append(f"coalesce(length({text})::VARCHAR || ':' || {text}, '-')")
    encoded = " || '|' || ".join(parts)
    con = duck.connect()
    try:
        con.register("rows", rows.select(list(spec.key)))
        hashed = con.sql(
            f"SELECT md5_number_upper({encoded}) AS a, md5_number_lower({encoded}) AS b FROM rows"
        ).to_arrow_table()
    finally:
        con.close()
    return pa.table(
        {
            name: pa.array(hashed[name].to_numpy().view(np.int64))  # Spark has no unsigned
            for name in ("a", "b")
        },
        schema=_FINGERPRINTS,
    )


def _records(
    spec: Source,
    files: list[Path],
    done: dict[int, dict],
    report: IngestReport,
    keep_going: bool,
) -> tuple[dict[int, FileRecord], RawFileError | None]:
    """The manifest records of the files read, by index, and the error to raise after the
    files before it are committed (as the local ingest stops at an unreadable file; with
    ``keep_going`` such a file is listed in the report's ``failed`` instead). A file the
    manifest has, or whose content an earlier file of the delivery has, is skipped."""
    records = {}
    seen: set[str] = set()
    for index, path in enumerate(files):
        result = done[index]
        sha = result.pop("sha256")
        if result.get("skipped") or sha in seen:
            report.skipped.append(path)
            seen.add(sha)
            continue
        seen.add(sha)
        if "failed" in result:
            if not keep_going:
                return records, RawFileError(result["failed"])
            report.failed.append((path, result["failed"]))
            continue
        by_reason = Counter(result.pop("quarantined_by_reason"))
        record = FileRecord(spec.name, sha, str(path), path.stat().st_size, **result)
        record.quarantined_by_reason = by_reason
        records[index] = record
    return records, None


def _stage_repeats(
    session: SparkSession,
    spec: Source,
    store: Store,
    staging: Path,
    records: dict[int, FileRecord],
) -> None:
    """Job 2: stage, per file, the fingerprints of its kept rows that are repeats: held by
    the store, or by an earlier file of the delivery."""
    from pyspark.sql import functions as F

    folders = [str(staging / str(i) / "fingerprints.parquet") for i in sorted(records)]
    rows = session.read.parquet(*folders)
    held = _held_fingerprints(session, spec, store, staging, records)
    if held is not None:  # the store's rows come first: as a file before every other
        rows = rows.unionByName(held.withColumn(FILE, F.lit(-1).cast("bigint")))
    shared = (  # keys of more than one file (or the store): one shuffle, of fingerprints
        rows.groupBy("a", "b")
        .agg(F.min(FILE).alias("first"), F.count("*").alias("copies"))
        .where(F.col("copies") > 1)
    )
    repeats = (
        rows.join(shared, on=["a", "b"])
        .where((F.col(FILE) != F.col("first")) & (F.col(FILE) >= 0))
        .select("a", "b", FILE)
    )
    if not repeats.isEmpty():
        repeats.write.partitionBy(FILE).parquet(str(staging / "repeats"))


def _held_fingerprints(
    session: SparkSession,
    spec: Source,
    store: Store,
    staging: Path,
    records: dict[int, FileRecord],
):
    """The fingerprints of the store's rows that the delivery's rows could repeat: those of
    its parts whose time span meets the delivery's (all of them for an untimed source);
    ``None`` when there are none."""
    parts = store.parts(spec.name)
    if spec.time_column is not None and parts:
        span = _time_span(staging, records, spec)
        parts = [p for p in parts if span is not None and _meets(p, spec.time_column, span)]
    if not parts:
        return None
    hasher = _PartFingerprints(spec.name, [str(p) for p in parts])
    frame = session.range(0, len(parts), 1, max(1, min(len(parts), MAX_TASKS)))
    return frame.mapInArrow(hasher, _spark_schema(_FINGERPRINTS))


class _PartFingerprints:
    """The fingerprints of the rows of store parts (by index in ``parts``)."""

    def __init__(self, source: str, parts: list[str]) -> None:
        self.source = source
        self.parts = parts

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        spec = SOURCES[self.source]
        for batch in batches:
            for index in batch.column(0).to_pylist():
                rows = pq.read_table(self.parts[index], columns=list(spec.key))
                keys = pa.schema([spec.schema.field(k) for k in spec.key])
                yield from _fingerprints(rows.cast(keys), spec).to_batches()


def _time_span(staging: Path, records: dict[int, FileRecord], spec: Source) -> tuple | None:
    """The earliest and latest time of the delivery's kept rows (from their parts' statistics)."""
    low = high = None
    for index in records:
        for part in (staging / str(index) / "kept").glob("*.parquet"):
            a, b = _part_span(part, spec.time_column)  # type: ignore[arg-type]
            if a is None:
                return ALL_TIME  # unknown: every stored part may hold a repeat
            low = a if low is None else min(low, a)
            high = b if high is None else max(high, b)
    return None if low is None else (low, high)


def _part_span(path: Path, column: str) -> tuple:
    """A part's earliest and latest value of ``column``, from its row groups' statistics."""
    meta = pq.read_metadata(path)
    position = meta.schema.to_arrow_schema().get_field_index(column)
    low = high = None
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(position).statistics
        if stats is None or not stats.has_min_max:
            return None, None  # unknown: the caller must assume any time
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return low, high


#: The time span of a delivery whose times are not all known from statistics.
ALL_TIME = ("all", "all")


def _meets(part: Path, column: str, span: tuple) -> bool:
    if span is ALL_TIME:
        return True
    low, high = _part_span(part, column)
    return low is None or (low <= span[1] and high >= span[0])


class _PartWriter(_Work):
    """Job 3 for one file: its staged parts without its repeats, written into the store (each
    durably, under its final name: a task run again writes the same parts)."""

    def __init__(self, source: str, root: str, staging: str) -> None:
        self.source = source
        self.root = root
        self.staging = staging

    @functools.cached_property
    def _shas(self) -> dict[str, str]:
        """Each file's content hash by index, read once by a task's worker."""
        return json.loads((Path(self.staging) / "shas.json").read_text())

    def run(self, index: int) -> dict:
        shas = self._shas
        if str(index) not in shas:
            return {"rows": 0}
        spec = SOURCES[self.source]
        staged = Path(self.staging) / str(index)
        folder = Path(self.staging) / "repeats" / f"{FILE}={index}"
        repeats = pq.read_table(folder, columns=["a", "b"]) if folder.exists() else None
        written = 0
        for part in sorted((staged / "kept").glob("*.parquet")):
            n = int(part.stem.rsplit("-", 1)[1])
            path = Path(self.root) / self.source / f"{shas[str(index)][:16]}-{n:05d}.parquet"
            if repeats is None:  # nothing to take out: the local ingest's own part, copied
                written += pq.read_metadata(part).num_rows
                _copy_durably(part, path)
                continue
            rows = pq.read_table(part).cast(spec.schema)
            prints = _fingerprints(rows, spec)
            prints = prints.append_column("row", pa.array(np.arange(rows.num_rows)))
            kept = prints.join(repeats, keys=["a", "b"], join_type="left anti")
            rows = rows.take(np.sort(kept["row"].to_numpy()))  # in the part's order
            if rows.num_rows:
                write_part(
                    rows, path, (spec.time_column, spec.key[0]) if spec.time_column else None
                )
                written += rows.num_rows
        return {"rows": written}


def _copy_durably(source: Path, target: Path) -> None:
    """``source`` copied to ``target`` under a temporary name, flushed, then renamed."""
    with durable.written(target) as tmp:
        shutil.copyfile(source, tmp)


def _place_quarantine(store: Store, spec: Source, staging: Path, index: int, sha: str) -> None:
    """Move a file's staged quarantine parts to their place in the store."""
    folder = staging / str(index) / QUARANTINE
    for part in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        n = int(part.stem.rsplit("-", 1)[1])
        _copy_durably(part, store.part_path(spec.name, sha, n, quarantine=True))


def _spark_schema(schema: pa.Schema) -> str:
    names = {pa.int64(): "bigint", pa.string(): "string"}
    return ", ".join(f"{field.name} {names[field.type]}" for field in schema)
