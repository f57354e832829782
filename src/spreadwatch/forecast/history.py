"""What a forecaster sees: counts per period and region, spatial weights, population shares."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from spreadwatch.infer.cases import CaseSeries, CasesError

Unit = Literal["day", "week"]
UNIT_DAYS = {"day": 1, "week": 7}


@dataclass(frozen=True)
class History:
    """Counts ``(periods, regions)``; ``ends[t]`` is the last day of period ``t``.

    ``weights[j, i]`` is the share of region ``j``'s influence that goes to region ``i``
    (rows sum to 1, zero diagonal; ``None`` without coupling), ``shares`` each region's share of
    the population (equal shares when unknown).
    """

    regions: tuple[str, ...]
    counts: np.ndarray
    ends: tuple[dt.date, ...]
    unit: Unit
    weights: np.ndarray | None
    shares: np.ndarray

    @property
    def periods(self) -> int:
        return self.counts.shape[0]

    @property
    def step_days(self) -> int:
        return UNIT_DAYS[self.unit]

    def upto(self, periods: int) -> History:
        """The first ``periods`` periods (a forecast origin's view)."""
        return History(
            self.regions,
            self.counts[:periods],
            self.ends[:periods],
            self.unit,
            self.weights,
            self.shares,
        )


def from_series(
    series: CaseSeries,
    unit: Unit,
    weights: np.ndarray | None = None,
    population: np.ndarray | None = None,
) -> History:
    """Case series as a :class:`History` of days, or of weeks ending on the last reported date
    (an incomplete first week is dropped; weekly data are used as they are). Regions are cut to
    the dates every region reports."""
    last = int(series.last.min())
    daily = series.counts[: last + 1].astype(np.float64)
    dates = [series.start + dt.timedelta(days=d) for d in range(last + 1)]
    if series.step_days == 7:
        if unit != "week":
            raise CasesError("the counts are weekly (dates 7 days apart): use --unit week")
        counts, ends = daily[::7], tuple(dates[::7])
    elif unit == "week":
        weeks = len(dates) // 7
        if weeks < 2:
            raise CasesError("weekly forecasts need at least two whole weeks of data")
        daily = daily[len(dates) - 7 * weeks :]
        dates = dates[len(dates) - 7 * weeks :]
        counts = daily.reshape(weeks, 7, -1).sum(axis=1)
        ends = tuple(dates[6::7])
    else:
        counts, ends = daily, tuple(dates)
    n = counts.shape[1]
    shares = np.full(n, 1.0 / n) if population is None else population / population.sum()
    return History(series.regions, counts, ends, unit, weights, shares)


def normalised(matrix: np.ndarray) -> np.ndarray | None:
    """Rows scaled to sum to 1, diagonal removed; ``None`` when nothing couples regions."""
    matrix = np.array(matrix, dtype=np.float64)
    np.fill_diagonal(matrix, 0.0)
    rows = matrix.sum(axis=1, keepdims=True)
    if not (rows > 0).any():
        return None
    return np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)


def adjacency_weights(path: Path | None, regions: tuple[str, ...]) -> np.ndarray | None:
    """Neighbour weights from a CSV of pairs (``code,neighbor`` or ``region_code,neighbour``),
    or Korea's shared borders when ``path`` is ``None`` and the regions are si-gun-gu codes."""
    position = {code: i for i, code in enumerate(regions)}
    if path is None:
        from spreadwatch import regions as korea

        tables = korea.load("sigungu")
        if not set(regions) <= set(tables.regions["code"]):
            return None
        pairs = tables.adjacency.rename(columns={"neighbor": "other"})
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        columns = [c.strip() for c in frame.columns]
        if len(columns) != 2:
            raise CasesError(f"{path}: expected two columns (region, neighbour), got {columns}")
        pairs = pd.DataFrame(
            {"code": frame.iloc[:, 0].str.strip(), "other": frame.iloc[:, 1].str.strip()}
        )
        for row, (a, b) in enumerate(zip(pairs["code"], pairs["other"], strict=True)):
            for column, code in ((columns[0], a), (columns[1], b)):
                if code not in position:
                    raise CasesError(
                        f"{path}: row {row + 1}, column {column}: unknown region {code!r}"
                    )
    matrix = np.zeros((len(regions), len(regions)))
    for a, b in zip(pairs["code"], pairs["other"], strict=True):
        if a in position and b in position:
            matrix[position[a], position[b]] = matrix[position[b], position[a]] = 1.0
    return normalised(matrix)


def mobility_weights(od_flows: Path, regions: tuple[str, ...]) -> np.ndarray | None:
    """Weights from the fusion ``od_flows`` table: the share of region ``j``'s trips going to
    region ``i`` (suppressed rows left out); trips to regions not forecast are ignored."""
    from spreadwatch.model.mobility import OD_COLUMNS, read_table

    frame = read_table(od_flows, OD_COLUMNS, "od_flows")
    frame = frame[~frame["suppressed"].astype(bool)]
    position = {code: i for i, code in enumerate(regions)}
    frame = frame[frame["origin"].isin(position) & frame["dest"].isin(position)]
    matrix = np.zeros((len(regions), len(regions)))
    np.add.at(
        matrix,
        (frame["origin"].map(position).to_numpy(), frame["dest"].map(position).to_numpy()),
        frame["trips"].to_numpy(dtype=np.float64),
    )
    return normalised(matrix)


def population_of(path: Path | None, regions: tuple[str, ...]) -> np.ndarray | None:
    """Residents per region from a CSV (``code``/``region_code`` and ``population``), or the
    2020 census when ``path`` is ``None`` and the regions are si-gun-gu codes."""
    if path is None:
        from spreadwatch import regions as korea

        table = korea.load("sigungu").regions.set_index("code")["population"]
        if not set(regions) <= set(table.index):
            return None
        return table.loc[list(regions)].to_numpy(dtype=np.float64)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    code = "code" if "code" in frame else "region_code"
    if code not in frame or "population" not in frame:
        raise CasesError(f"{path}: expected columns code (or region_code) and population")
    values = pd.to_numeric(frame["population"], errors="coerce")
    bad = values.isna() | (values <= 0)
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise CasesError(f"{path}: row {row + 1}, column population: expected a number > 0")
    table = dict(zip(frame[code].str.strip(), values, strict=True))
    missing = [r for r in regions if r not in table]
    if missing:
        raise CasesError(f"{path}: no population for region {missing[0]!r}")
    return np.array([table[r] for r in regions], dtype=np.float64)
