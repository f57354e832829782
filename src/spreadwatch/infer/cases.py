"""Reported case counts from a long CSV or Parquet file, checked and made into daily series.

Accepted columns: a region (``region_code``, ``region`` or ``location``), ``date`` (YYYY-MM-DD)
and a count (``confirmed``, ``count`` or ``cases``); other columns are ignored. Every problem
names the file, the row (1 = first data row) and the column.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.model.geography import fail_at

REGION_COLUMNS = ("region_code", "region", "location")
COUNT_COLUMNS = ("confirmed", "count", "cases")


class CasesError(ValueError):
    """A cases file that cannot be used; the message names the file, row and column."""


@dataclass(frozen=True)
class CaseSeries:
    """Daily counts ``(days, regions)`` from ``start``; ``last`` is each region's last
    reported day (index), and ``filled`` counts the missing dates inside each region's reported
    span, set to zero. ``step_days`` is 7 for weekly data (every date a whole number of weeks
    from the others: each count stands on its week's last day), else 1."""

    start: dt.date
    regions: tuple[str, ...]
    counts: np.ndarray
    last: np.ndarray
    filled: dict[str, int]
    step_days: int = 1

    def require_daily(self, path: Path | str, what: str) -> None:
        """Raise :class:`CasesError` for weekly data."""
        if self.step_days != 1:
            raise CasesError(
                f"{path}: the counts are weekly (dates 7 days apart); {what} needs daily counts"
            )

    @property
    def days(self) -> int:
        return self.counts.shape[0]

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=d) for d in range(self.days)]

    def with_total(self, code: str = "total") -> CaseSeries:
        """The series with one more region, ``code``, the sum of all."""
        counts = np.column_stack([self.counts, self.counts.sum(axis=1)])
        last = np.append(self.last, self.last.min())
        return CaseSeries(
            self.start, (*self.regions, code), counts, last, self.filled, self.step_days
        )


def _pick(path: Path, columns: list[str], names: tuple[str, ...], what: str) -> str:
    for name in names:
        if name in columns:
            return name
    raise CasesError(f"{path}: no {what} column (expected one of {', '.join(names)})")


def read_cases(path: Path) -> CaseSeries:
    """Daily case series per region from a long CSV or Parquet file."""
    path = Path(path)
    try:
        if path.suffix == ".parquet" or path.is_dir():
            frame = pq.read_table(path).to_pandas().astype(str)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, pa.ArrowException, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CasesError(f"{path}: cannot read: {exc}") from None
    columns = [str(c).strip() for c in frame.columns]
    frame.columns = columns
    region = _pick(path, columns, REGION_COLUMNS, "region")
    count = _pick(path, columns, COUNT_COLUMNS, "count")
    if "date" not in columns:
        raise CasesError(f"{path}: no date column")
    if frame.empty:
        raise CasesError(f"{path}: no rows")
    codes = frame[region].str.strip()
    fail_at(path, codes == "", region, frame[region], "expected a region code", CasesError)
    dates = pd.to_datetime(frame["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    fail_at(
        path, dates.isna(), "date", frame["date"], "expected a date like 2020-02-01", CasesError
    )
    values = pd.to_numeric(frame[count].str.strip(), errors="coerce")
    good = values.notna() & (values >= 0) & (values == np.floor(values))
    fail_at(path, ~good, count, frame[count], "expected a count (an integer >= 0)", CasesError)
    table = pd.DataFrame({"region": codes, "date": dates.dt.date, "count": values.astype(np.int64)})
    repeated = table.duplicated(["region", "date"], keep="first")
    if repeated.any():
        row = int(np.argmax(repeated.to_numpy()))
        raise CasesError(
            f"{path}: row {row + 1}: a second count for region {table['region'].iloc[row]!r} "
            f"on {table['date'].iloc[row]}"
        )
    start, end = table["date"].min(), table["date"].max()
    days = (end - start).days + 1
    regions = tuple(sorted(table["region"].unique()))
    counts = np.zeros((days, len(regions)), dtype=np.int64)
    column = {r: i for i, r in enumerate(regions)}
    day = np.array([(d - start).days for d in table["date"]])
    counts[day, table["region"].map(column).to_numpy()] = table["count"].to_numpy()
    offsets = np.array([(d - start).days for d in table["date"]])
    step = 7 if len(set(offsets)) > 1 and (offsets % 7 == 0).all() else 1
    filled = {}
    last = np.zeros(len(regions), dtype=np.int64)
    for name, group in table.groupby("region"):
        span = (group["date"].max() - group["date"].min()).days // step + 1
        last[column[name]] = (group["date"].max() - start).days
        if span > len(group):
            filled[str(name)] = span - len(group)
    return CaseSeries(start, regions, counts, last, filled, step)
