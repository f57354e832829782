"""Reading raw delimited files as strings, with row numbers, and the quarantine table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from spreadwatch import duck

#: Every rejected row lands here with its reason; nothing is dropped silently.
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("row_number", pa.int64()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("raw_row", pa.string()),
    ]
)

ROW_NUMBER = "_row_number"
SOURCE_FILE = "_source_file"


class RawFileError(ValueError):
    """A raw file that cannot be read at all (missing, wrong header)."""


def read_raw_csv(
    path: Path, columns: Sequence[str], withhold_malformed_text: bool = False
) -> tuple[pa.Table, pa.Table]:
    """Read a CSV whose header must be exactly ``columns``, every value as a string.

    Returns ``(rows, malformed)``: rows with ``_source_file`` and ``_row_number`` (1-based line
    number in the file, the header being line 1) added, and quarantine rows for lines with the
    wrong number of fields. With ``withhold_malformed_text`` (files holding raw identifiers) the
    quarantine keeps the file and line number of a malformed line but not its text.
    """
    if not path.exists():
        raise RawFileError(f"{path}: file not found")
    with path.open("rb") as fh:
        header = fh.readline().decode("utf-8-sig").strip().split(",")
    if header != list(columns):
        raise RawFileError(
            f"{path}: header is {','.join(header)!r}, expected {','.join(columns)!r}"
        )
    malformed: list[dict] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        malformed.append(
            {
                "source_file": str(path),
                "row_number": row.number,
                "column": None,
                "reason": f"expected {row.expected_columns} fields, found {row.actual_columns}",
                "raw_row": None if withhold_malformed_text else row.text,
            }
        )
        return "skip"

    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if any(m["row_number"] is None for m in malformed):
        raise RawFileError(f"{path}: malformed lines could not be located")
    numbers = _row_numbers(table.num_rows, [m["row_number"] for m in malformed])
    table = table.append_column(
        SOURCE_FILE, pa.repeat(pa.scalar(str(path), pa.string()), table.num_rows)
    )
    table = table.append_column(ROW_NUMBER, pa.array(numbers, pa.int64()))
    return table, pa.Table.from_pylist(malformed, schema=QUARANTINE_SCHEMA)


def _row_numbers(kept: int, skipped_lines: list[int]) -> np.ndarray:
    """Line numbers of the kept rows, given the line numbers of skipped malformed lines."""
    lines = np.arange(2, kept + len(skipped_lines) + 2, dtype=np.int64)
    if skipped_lines:
        lines = lines[~np.isin(lines, np.asarray(skipped_lines, dtype=np.int64))]
    return lines


def raw_row_json(columns: Sequence[str], masked: Mapping[str, str] | None = None) -> str:
    """DuckDB SQL building a JSON object of the raw string columns, for the quarantine.

    ``masked`` maps a column to the SQL expression written in its place (a pseudonym for a raw
    identifier, so that quarantined rows never carry one).
    """
    masked = masked or {}
    values = ", ".join(f'"{c}" := {masked.get(c, f"{chr(34)}{c}{chr(34)}")}' for c in columns)
    return f"to_json(struct_pack({values}))::VARCHAR"


@dataclass(frozen=True)
class RowCheck:
    """A validation rule: rows where ``bad_sql`` is true are quarantined with ``reason``.

    With ``keep_raw=False`` the quarantine keeps only the file, row and reason, not the row
    itself (e.g. data of a household that has not consented).
    """

    column: str
    reason: str
    bad_sql: str
    keep_raw: bool = True


def split_valid(
    con: duckdb.DuckDBPyConnection,
    source: str,
    columns: Sequence[str],
    checks: Sequence[RowCheck],
    masked: Mapping[str, str] | None = None,
) -> tuple[str, pa.Table]:
    """Apply ``checks`` in order to the relation named ``source``.

    Creates the temporary view ``{source}_valid`` of the passing rows and returns its name with
    the quarantine rows (each row is reported once, for the first check it fails; ``masked`` as in
    :func:`raw_row_json`).
    """
    if not checks:
        duck.run(con, f"CREATE OR REPLACE TEMP VIEW {source}_valid AS SELECT * FROM {source}")
        return f"{source}_valid", QUARANTINE_SCHEMA.empty_table()
    case_column = " ".join(f"WHEN {c.bad_sql} THEN {i}" for i, c in enumerate(checks))
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP TABLE {source}_checked AS "
        f"SELECT *, CASE {case_column} ELSE -1 END AS _failed FROM {source}",
    )
    names = ", ".join(f"'{c.column}'" for c in checks)
    reasons = ", ".join("'" + c.reason.replace("'", "''") + "'" for c in checks)
    withheld = [str(i) for i, c in enumerate(checks) if not c.keep_raw]
    raw_row = raw_row_json(columns, masked)
    if withheld:
        raw_row = f"CASE WHEN _failed IN ({', '.join(withheld)}) THEN NULL ELSE {raw_row} END"
    quarantine = con.sql(
        f"SELECT {SOURCE_FILE} AS source_file, {ROW_NUMBER} AS row_number, "
        f"[{names}][_failed + 1] AS column, [{reasons}][_failed + 1] AS reason, "
        f"{raw_row} AS raw_row "
        f"FROM {source}_checked WHERE _failed >= 0 ORDER BY source_file, row_number"
    ).to_arrow_table()
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP VIEW {source}_valid AS "
        f"SELECT * EXCLUDE (_failed) FROM {source}_checked WHERE _failed < 0",
    )
    return f"{source}_valid", quarantine.cast(QUARANTINE_SCHEMA)
