"""Raw files in bounded chunks, each row with its file and line number.

CSV values arrive as strings. Parquet columns keep their types (no conversion in Python):
:func:`text_sql` renders them inside DuckDB as the text a CSV delivery would carry, so every
check sees the same strings whatever the format.

CSV files must have exactly the contract's header; Parquet files must have exactly the contract's
columns (in any order, any types that render as the CSV text would). Row numbers are 1-based line
numbers for CSV (the header is line 1) and 1-based row positions for Parquet.
"""

from __future__ import annotations

import contextlib
import glob
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spreadwatch.ingest.raw import QUARANTINE_SCHEMA, ROW_NUMBER, SOURCE_FILE, RawFileError

FORMATS = (".csv", ".parquet")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
DEFAULT_CHUNK_BYTES = 64 << 20


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files named, files below folders and files matching globs (``*.csv``, ``*.parquet``),
    sorted and without repeats. A path that matches nothing is an error."""
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in FORMATS)
            if not found:
                raise RawFileError(f"{path}: no .csv or .parquet files in this folder")
            files += found
        elif path.is_file():
            if path.suffix not in FORMATS:
                raise RawFileError(f"{path}: expected a .csv or .parquet file")
            files.append(path)
        elif glob.has_magic(str(item)):
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True))
            found = [p for p in found if p.is_file() and p.suffix in FORMATS]
            if not found:
                raise RawFileError(f"{item}: no .csv or .parquet file matches")
            files += found
        else:
            raise RawFileError(f"{path}: no such file or folder")
    return list(dict.fromkeys(files))


def iter_chunks(
    path: Path,
    columns: Sequence[str],
    withhold_malformed_text: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield ``(rows, malformed)`` chunks of a raw file.

    ``rows`` has the contract's columns (strings from CSV, typed from Parquet) plus
    ``_source_file`` and ``_row_number``; ``malformed`` holds quarantine rows for CSV lines with
    the wrong number of fields (their text withheld when ``withhold_malformed_text``: files with
    raw identifiers).
    """
    if path.suffix == ".parquet":
        yield from _parquet_chunks(path, columns, chunk_bytes)
    else:
        yield from _csv_chunks(path, columns, withhold_malformed_text, chunk_bytes)


T = TypeVar("T")


def read_ahead(items: Iterator[T], ahead: int = 1) -> Iterator[T]:
    """``items`` made in a thread of their own, at most ``ahead`` waiting to be taken, so the
    next chunk is read (Parquet and CSV decoding release the GIL) while the last is checked.
    An exception comes where its item would have; closing the iterator stops the thread."""
    waiting: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    done = object()

    def make() -> None:
        try:
            for item in items:
                waiting.put(item)
                if stop.is_set():
                    return
            waiting.put(done)
        except BaseException as exc:  # handed over, raised in the taker's thread
            waiting.put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator stopped early closes its open file
                close()

    thread = threading.Thread(target=make, name="spreadwatch-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := waiting.get()) is not done:
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # a maker waiting for room: give it some, it stops
            with contextlib.suppress(queue.Empty):
                waiting.get(timeout=0.05)


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


#: Rows per record batch of a chunk: DuckDB scans an Arrow table's batches in parallel.
SCAN_BATCH_ROWS = 1 << 16


def _with_position(table: pa.Table, path: Path, numbers: np.ndarray) -> pa.Table:
    """``table`` with its file and row numbers, in batches DuckDB can scan in parallel."""
    one_file = pa.DictionaryArray.from_arrays(  # the path once, not once a row
        pa.array(np.zeros(table.num_rows, np.int32)), pa.array([str(path)], pa.string())
    )
    table = table.append_column(SOURCE_FILE, one_file)
    table = table.append_column(ROW_NUMBER, pa.array(numbers, pa.int64()))
    if any(column.num_chunks > 1 for column in table.columns):
        table = table.combine_chunks()
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS), table.schema)


def split_quoted(line: bytes) -> list[bytes] | None:
    """The fields of one CSV line under RFC 4180's quoting: a field is either free of quotes or
    wholly quoted (``"a,b"``, inner quotes doubled: ``"a ""b"" c"``); ``None`` when a quote
    is out of place (a field that opens a quote and never closes it, a quote inside an unquoted
    field). A quoted field never spans lines here: a line is a row."""
    fields: list[bytes] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i : i + 1] == b'"':
            value = bytearray()
            i += 1
            while True:
                end = line.find(b'"', i)
                if end < 0:
                    return None  # the quote never closes
                value += line[i:end]
                if line[end + 1 : end + 2] == b'"':  # a doubled quote is one quote
                    value += b'"'
                    i = end + 2
                    continue
                i = end + 1
                break
            if i < n and line[i : i + 1] != b",":
                return None  # text after the closing quote
            fields.append(bytes(value))
        else:
            end = line.find(b",", i)
            end = n if end < 0 else end
            if b'"' in line[i:end]:
                return None  # a quote inside an unquoted field
            fields.append(line[i:end])
            i = end
        if i >= n:
            return fields
        i += 1  # past the comma
        if i == n:
            fields.append(b"")
            return fields


#: Why a line whose quotes do not parse is quarantined.
MISPLACED_QUOTE = "a quote out of place (RFC 4180: a field is wholly quoted, inner quotes doubled)"


def _csv_chunks(
    path: Path, columns: Sequence[str], withhold: bool, chunk_bytes: int
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """The file's rows in chunks, with their line numbers, and the lines that are not rows.

    Arrow splits lines on commas only (fast, and a stray quote cannot swallow the lines after
    it); the rare lines with a quote are then read again under RFC 4180's quoting
    (:func:`split_quoted`), one line at a time."""
    _check_header(path, columns)
    malformed: list[dict] = []
    skipped: list[int] = []  # lines Arrow left out: malformed, or quoted rows read again
    requoted: list[tuple[int, list[bytes]]] = []

    def bad_line(number: int, reason: str, text: str | None) -> dict:
        return {
            "source_file": str(path),
            "row_number": number,
            "column": None,
            "reason": reason,
            "raw_row": None if withhold else text,
        }

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if row.number is None:
            raise RawFileError(f"{path}: a malformed line could not be located")
        skipped.append(row.number)
        fields = split_quoted(row.text.encode()) if '"' in row.text else None
        if fields is not None and len(fields) == len(columns):
            requoted.append((row.number, fields))
        else:
            reason = (
                MISPLACED_QUOTE
                if '"' in row.text and fields is None
                else f"expected {row.expected_columns} fields, found {row.actual_columns}"
            )
            malformed.append(bad_line(row.number, reason, row.text))
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=chunk_bytes),
        # split on commas only; quoted lines are read again below. An empty line is a bad row
        parse_options=pacsv.ParseOptions(
            invalid_row_handler=on_invalid, quote_char=False, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.binary() for c in columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    next_line, reported, added = 2, 0, 0
    for batch in reader:
        ahead = np.array(sorted(skipped), dtype=np.int64)
        ahead = ahead[ahead >= next_line]
        lines = np.arange(next_line, next_line + batch.num_rows + ahead.size, dtype=np.int64)
        numbers = lines[~np.isin(lines, ahead)][: batch.num_rows]
        next_line = int(numbers[-1]) + 1 if numbers.size else next_line
        raw = pa.Table.from_batches([batch]).select(list(columns))
        raw, numbers, misplaced = _requote(raw, numbers, requoted[added:])
        added = len(requoted)
        table, undecodable = _decoded(raw)
        bad = malformed[reported:]
        reported = len(malformed)
        bad += [bad_line(int(n), MISPLACED_QUOTE, None) for n in misplaced]
        bad += [bad_line(int(numbers[i]), "not valid UTF-8 text", None) for i in undecodable]
        if undecodable:
            keep = np.ones(len(numbers), dtype=bool)
            keep[undecodable] = False
            table, numbers = table.filter(pa.array(keep)), numbers[keep]
        yield _with_position(table, path, numbers), pa.Table.from_pylist(bad, QUARANTINE_SCHEMA)
    raw, numbers, _ = _requote(
        _empty(columns, pa.binary()), np.empty(0, np.int64), requoted[added:]
    )
    if reported < len(malformed) or numbers.size:
        table, _ = _decoded(raw)
        yield (
            _with_position(table, path, numbers),
            pa.Table.from_pylist(malformed[reported:], QUARANTINE_SCHEMA),
        )


def _requote(
    raw: pa.Table, numbers: np.ndarray, extra: list[tuple[int, list[bytes]]]
) -> tuple[pa.Table, np.ndarray, list[int]]:
    """``raw`` (binary columns) with its quoted fields unquoted and the ``extra`` rows (whose
    quoted commas Arrow took for separators) added in line order; and the line numbers whose
    quotes are out of place (left out)."""
    has_quote = None
    for column in raw.columns:
        found = pc.match_substring(column, '"')
        has_quote = found if has_quote is None else pc.or_(has_quote, found)
    quoted = (
        np.flatnonzero(has_quote.to_numpy(zero_copy_only=False))
        if has_quote is not None and raw.num_rows
        else np.empty(0, np.int64)
    )
    if not quoted.size and not extra:
        return raw, numbers, []
    keep = np.ones(raw.num_rows, dtype=bool)
    keep[quoted] = False
    rows = [
        (int(numbers[i]), split_quoted(b",".join(c[int(i)].as_py() for c in raw.columns)))
        for i in quoted
    ]
    misplaced = [n for n, fields in rows if fields is None or len(fields) != raw.num_columns]
    fixed = [(n, f) for n, f in rows if f is not None and len(f) == raw.num_columns] + extra
    names = raw.column_names
    added = pa.table(
        {name: pa.array([f[k] for _, f in fixed], pa.binary()) for k, name in enumerate(names)}
    )
    table = pa.concat_tables([raw.filter(pa.array(keep)), added])
    order_numbers = np.concatenate([numbers[keep], np.array([n for n, _ in fixed], np.int64)])
    order = np.argsort(order_numbers, kind="stable")
    return table.take(pa.array(order)), order_numbers[order], misplaced


def _check_header(path: Path, columns: Sequence[str]) -> None:
    """Refuse a file whose first line is not exactly the contract's header. The line is echoed
    only when it looks like column names: a data line could hold raw identifiers."""
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        header = first.decode("utf-8-sig").strip().split(",")
    except UnicodeDecodeError:
        header = []
    if header == list(columns):
        return
    if header and all(_NAME.fullmatch(h) for h in header):
        found = f"header is {','.join(header)!r}"
    else:
        found = f"the first line is not a header ({len(first.split(b','))} fields)"
    raise RawFileError(f"{path}: {found}, expected {','.join(columns)!r}")


def _decoded(table: pa.Table) -> tuple[pa.Table, list[int]]:
    """Binary columns as UTF-8 strings, and the rows that are not valid UTF-8 (emptied)."""
    try:
        return table.cast(pa.schema([(n, pa.string()) for n in table.column_names])), []
    except pa.ArrowInvalid:
        pass
    bad: set[int] = set()
    for column in table.columns:
        for i, value in enumerate(column.to_pylist()):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                bad.add(i)
    keep = [i not in bad for i in range(table.num_rows)]
    fixed = {
        n: pa.array(
            [
                v.decode("utf-8") if k else ""
                for v, k in zip(table[n].to_pylist(), keep, strict=True)
            ],
            pa.string(),
        )
        for n in table.column_names
    }
    return pa.table(fixed), sorted(bad)


def _empty(columns: Sequence[str], kind: pa.DataType | None = None) -> pa.Table:
    return pa.table({c: pa.array([], kind or pa.string()) for c in columns})


def _parquet_chunks(
    path: Path, columns: Sequence[str], chunk_bytes: int
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Typed Parquet columns as they are; :func:`text_sql` renders them as CSV text in DuckDB.
    String columns are read dictionary-encoded (decoding each distinct value once), one
    dictionary a chunk."""
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RawFileError(f"{path}: not a readable Parquet file ({exc})") from None
    names = file.schema_arrow.names
    if sorted(names) != sorted(columns):
        raise RawFileError(
            f"{path}: columns are {','.join(names)!r}, expected {','.join(columns)!r}"
        )
    strings = [f.name for f in file.schema_arrow if pa.types.is_string(f.type)]
    file = pq.ParquetFile(path, read_dictionary=strings)
    row_bytes = max(1, file.metadata.serialized_size // max(file.metadata.num_rows, 1)) + 40
    batch_rows = max(10_000, chunk_bytes // (row_bytes * 4))
    first = 1
    if 0 < file.metadata.num_rows <= batch_rows:  # one chunk: row groups decoded side by side
        whole = file.read(columns=list(columns), use_threads=True)
        tables: Iterator[pa.Table] = iter([whole.unify_dictionaries().combine_chunks()])
    else:
        tables = _rows_by(
            batch_rows, file.iter_batches(batch_size=batch_rows, columns=list(columns))
        )
    for table in tables:  # each column one array, one dictionary
        numbers = np.arange(first, first + table.num_rows, dtype=np.int64)
        first += table.num_rows
        yield _with_position(table, path, numbers), QUARANTINE_SCHEMA.empty_table()


def _rows_by(rows: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.Table]:
    """``batches`` regrouped into tables of ``rows`` rows (the last may have fewer), with one
    dictionary per column (dictionary-encoded batches end at row groups, each of which may
    have its own)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).unify_dictionaries().combine_chunks()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).unify_dictionaries().combine_chunks()


#: The text layout of typed Parquet timestamps and dates, as a CSV delivery carries them.
_TS_TEXT = "%Y-%m-%dT%H:%M:%SZ"
_TS_FRACTION_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"


def text_sql(column: str, kind: pa.DataType) -> str:
    """DuckDB SQL for a raw column as the trimmed text a CSV delivery would carry (a typed
    Parquet value rendered; null as empty), so every check sees strings whatever the format:
    timestamps as ``2020-02-01T08:15:42Z`` (with ``.ffffff`` when they have a fraction), whole
    floats without ``.0``."""
    if pa.types.is_timestamp(kind):  # a zoned timestamp renders in UTC: the session time zone
        fraction = f"date_part('microseconds', {column}) % 1000000 <> 0"
        text = (
            f"CASE WHEN {fraction} THEN strftime({column}, '{_TS_FRACTION_TEXT}') "
            f"ELSE strftime({column}, '{_TS_TEXT}') END"
        )
    elif pa.types.is_date(kind):
        text = f"strftime({column}, '%Y-%m-%d')"
    elif pa.types.is_boolean(kind):
        text = f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END"
    elif pa.types.is_floating(kind):
        text = (
            f"CASE WHEN isfinite({column}) AND {column} = trunc({column}) AND abs({column}) < 1e15 "
            f"THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) ELSE CAST({column} AS VARCHAR) END"
        )
    else:
        text = f"CAST({column} AS VARCHAR)"
    return f"coalesce(trim({text}), '')"  # " SKT " is SKT
