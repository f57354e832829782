"""The quarantine table and the row checks that send rows to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

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
