"""Tables held in memory for serving: sorted once, split by date, filtered per request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd


class Indexed:
    """A table sorted once, with its rows split by ``date`` for fast one-day queries."""

    def __init__(
        self,
        frame: pd.DataFrame,
        sort: Sequence[str],
        ascending: bool | Sequence[bool] = True,
        counts: Sequence[str] = (),
    ) -> None:
        frame = frame.copy()
        if "date" in frame:
            frame["date"] = pd.to_datetime(frame["date"]).dt.date
        for column in counts:  # as released: a suppressed count is unknown, not zero
            values = frame[column].astype("float64")
            frame[column] = values.where(~frame["suppressed"].astype(bool), np.nan)
        frame = frame.sort_values(list(sort), ascending=ascending, kind="stable")
        self.frame = frame.reset_index(drop=True)
        self.dates: list[dt.date] = sorted(self.frame["date"].unique()) if "date" in frame else []
        self._by_column: dict[str, dict] = {}
        self._by_date = (
            {day: part for day, part in self.frame.groupby("date", sort=False)}
            if "date" in frame
            else {}
        )

    def select(
        self,
        date: dt.date | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        **equals: object,
    ) -> pd.DataFrame:
        """Rows of ``date`` (or from ``start`` to ``end``) whose columns equal ``equals``
        (``None`` values do not filter)."""
        frame = self.frame if date is None else self._by_date.get(date, self.frame.iloc[:0])
        wanted = {column: value for column, value in equals.items() if value is not None}
        if date is None and wanted:  # look the first filter up in its own index
            column, value = next(iter(wanted.items()))
            frame = self._groups(column).get(value, self.frame.iloc[:0])
            del wanted[column]
        if start is not None:
            frame = frame[frame["date"] >= start]
        if end is not None:
            frame = frame[frame["date"] <= end]
        for column, value in wanted.items():
            frame = frame[frame[column] == value]
        return frame

    def _groups(self, column: str) -> dict:
        """The rows by value of ``column`` (in table order), built on first use."""
        groups = self._by_column.get(column)
        if groups is None:
            groups = dict(iter(self.frame.groupby(column, sort=False)))
            self._by_column[column] = groups
        return groups
