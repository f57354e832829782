"""Deterministic file writing: streamed CSV or Parquet tables, Parquet truth, JSON.

CSV is written the way carriers deliver it: a plain unquoted header, no quoting (no value contains
a comma or quote), timestamps as ISO-8601 UTC strings (``2020-02-01T08:15:42Z``), dates as
``YYYY-MM-DD``, booleans as ``true``/``false``, floats in shortest round-trip form.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spreadwatch.synth import strings

Format = Literal["csv", "parquet"]
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


def _timestamps_as_text(table: pa.Table) -> pa.Table:
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            seconds = table.column(i).cast(pa.timestamp("s", tz="UTC")).cast(pa.int64())
            text = strings.iso_utc(seconds.to_numpy())
            table = table.set_column(i, f.name, text)
    return table


class TableSink:
    """Appends tables with the same columns to one CSV or Parquet file, counting rows."""

    def __init__(self, path: Path, columns: tuple[str, ...], fmt: Format = "csv") -> None:
        self.path, self.columns, self.format, self.rows = path, columns, fmt, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pa.NativeFile | None = None
        if fmt == "csv":
            self._csv = pa.OSFile(str(path), "wb")
            self._csv.write((",".join(columns) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        if tuple(table.column_names) != self.columns:
            raise ValueError(f"{self.path.name}: columns {table.column_names} != {self.columns}")
        self.rows += table.num_rows
        if self._csv is not None:
            if table.num_rows:
                pacsv.write_csv(_timestamps_as_text(table), self._csv, _CSV_OPTIONS)
            return
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(str(self.path), table.schema)
        self._parquet.write_table(table)

    def close(self) -> int:
        """Finish the file and return its number of data rows."""
        if self._csv is not None:
            self._csv.close()
        elif self._parquet is not None:
            self._parquet.close()
        else:  # parquet with nothing written: still leave a readable empty file
            raise ValueError(f"{self.path.name}: write at least one (possibly empty) table")
        return self.rows

    def __enter__(self) -> TableSink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
            return
        for handle in (self._csv, self._parquet):
            if handle is not None:
                handle.close()


def write_table(table: pa.Table, path: Path, fmt: Format = "csv") -> int:
    """Write one whole table; returns its row count."""
    with TableSink(path, tuple(table.column_names), fmt) as sink:
        sink.write(table)
    return table.num_rows


def write_json(data: object, path: Path) -> None:
    """Pretty, stable JSON with a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
