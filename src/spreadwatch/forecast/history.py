"""What a forecaster sees: counts per period and region, how regions are coupled, and how many
people live in each."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from spreadwatch.forecast.coupling import neighbour_orders, normalised
from spreadwatch.forecast.hub import TOTAL
from spreadwatch.infer.cases import CaseSeries, CasesError

if TYPE_CHECKING:
    from spreadwatch.regions.catalog import RegionTables

Unit = Literal["day", "week"]
DateIs = Literal["start", "end"]
UNIT_DAYS = {"day": 1, "week": 7}
#: Population fractions given instead of residents must sum to 1 within this.
FRACTION_TOLERANCE = 0.01


@dataclass(frozen=True)
class History:
    """Counts ``(periods, regions)``; ``ends[t]`` is the last day of period ``t``.

    ``orders`` are neighbourhood orders (1 = shared border; ``None`` without neighbours),
    ``mobility[j, i]`` the share of region ``j``'s trips that go to region ``i`` (``None``
    without flows), ``population`` the residents (``None`` when only fractions are known) and
    ``shares`` each region's share of the population (equal shares when unknown).
    ``aggregates`` maps each aggregate location (the total, Korea's sido) to its regions'
    positions: its forecast is the sum of theirs. ``change`` is the date of a known change in
    transmission (a measure taken): models may let transmission differ from that date on.
    """

    regions: tuple[str, ...]
    counts: np.ndarray
    ends: tuple[dt.date, ...]
    unit: Unit
    orders: np.ndarray | None = None
    mobility: np.ndarray | None = None
    population: np.ndarray | None = None
    shares: np.ndarray | None = None
    aggregates: dict[str, np.ndarray] = field(default_factory=dict)
    change: dt.date | None = None

    def __post_init__(self) -> None:
        if self.shares is None:
            n = len(self.regions)
            shares = (
                np.full(n, 1.0 / n)
                if self.population is None
                else self.population / self.population.sum()
            )
            object.__setattr__(self, "shares", shares)
        if not self.aggregates and len(self.regions) > 1:
            object.__setattr__(self, "aggregates", aggregates_of(self.regions))

    @property
    def periods(self) -> int:
        return self.counts.shape[0]

    @property
    def step_days(self) -> int:
        return UNIT_DAYS[self.unit]

    def change_period(self) -> int | None:
        """The first period whose counts come after the known change, when there are at
        least a week of periods before it and two after it (else ``None``)."""
        if self.change is None:
            return None
        after = [t for t, end in enumerate(self.ends) if end >= self.change]
        if not after:
            return None
        first = after[0]
        before_needed = 7 if self.unit == "day" else 2
        return first if first >= before_needed and self.periods - first >= 2 else None

    @property
    def weights(self) -> np.ndarray | None:
        """Rows summing to 1: measured mobility when known, else first neighbours."""
        if self.mobility is not None:
            return self.mobility
        return None if self.orders is None else normalised(self.orders == 1)

    @property
    def locations(self) -> list[str]:
        """The regions, then the aggregates."""
        return [*self.regions, *self.aggregates]

    def with_aggregates(self, regional: np.ndarray) -> np.ndarray:
        """``regional`` values ``(..., regions)`` followed by their sums per aggregate."""
        sums = [regional[..., members].sum(axis=-1) for members in self.aggregates.values()]
        return np.concatenate([regional, np.stack(sums, axis=-1)], axis=-1) if sums else regional

    def upto(self, periods: int) -> History:
        """The first ``periods`` periods (a forecast origin's view)."""
        return dataclasses.replace(self, counts=self.counts[:periods], ends=self.ends[:periods])


def aggregates_of(regions: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The total of all regions, and for Korean si-gun-gu codes each sido with more than one
    of them (its two-digit code)."""
    if len(regions) < 2:
        return {}
    groups: dict[str, np.ndarray] = {}
    if korean_sigungu(regions) is not None:
        sido = np.array([r[:2] for r in regions])
        for code in sorted(set(sido)):
            members = np.flatnonzero(sido == code)
            if 1 < members.size < len(regions):
                groups[str(code)] = members
    return {TOTAL: np.arange(len(regions)), **groups}


def korean_sigungu(regions: tuple[str, ...]) -> RegionTables | None:
    """Korea's si-gun-gu tables (:func:`spreadwatch.regions.load`) when every region is one of
    their codes, else ``None``."""
    if not all(len(r) == 5 and r.isdigit() for r in regions):
        return None
    from spreadwatch import regions as korea

    tables = korea.load("sigungu")
    return tables if set(regions) <= set(tables.regions["code"]) else None


def from_series(
    series: CaseSeries,
    unit: Unit,
    orders: np.ndarray | None = None,
    mobility: np.ndarray | None = None,
    population: np.ndarray | None = None,
    shares: np.ndarray | None = None,
    date_is: DateIs = "end",
) -> History:
    """Case series as a :class:`History` of days, or of weeks ending on the last reported date
    (an incomplete first week is dropped). Weekly data are used as they are; ``date_is`` says
    whether their dates are the first or the last day of each week. Regions are cut to the
    dates every region reports."""
    last = int(series.last.min())
    daily = series.counts[: last + 1].astype(np.float64)
    dates = [series.start + dt.timedelta(days=d) for d in range(last + 1)]
    if series.step_days == 7:
        if unit != "week":
            raise CasesError("the counts are weekly (dates 7 days apart): use --unit week")
        shift = dt.timedelta(days=6 if date_is == "start" else 0)
        counts, ends = daily[::7], tuple(d + shift for d in dates[::7])
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
    return History(series.regions, counts, ends, unit, orders, mobility, population, shares)


def adjacency_orders(path: Path | None, regions: tuple[str, ...]) -> np.ndarray | None:
    """Neighbourhood orders from a CSV of neighbour pairs (two columns, e.g.
    ``region,neighbour``), or Korea's shared borders when ``path`` is ``None`` and the regions
    are si-gun-gu codes (``None`` otherwise)."""
    position = {code: i for i, code in enumerate(regions)}
    if path is None:
        tables = korean_sigungu(regions)
        if tables is None:
            return None
        pairs = tables.adjacency.rename(columns={"neighbor": "other"})
    else:
        frame = _read_csv(path)
        columns = [c.strip() for c in frame.columns]
        if len(columns) != 2:
            raise CasesError(f"{path}: expected two columns (region, neighbour), got {columns}")
        if columns[0] in position and columns[1] in position:  # no header: the first pair
            frame = _read_csv(path, header=None)
            columns = ["column 1", "column 2"]
        pairs = pd.DataFrame(
            {"code": frame.iloc[:, 0].str.strip(), "other": frame.iloc[:, 1].str.strip()}
        )
        for row, (a, b) in enumerate(zip(pairs["code"], pairs["other"], strict=True)):
            for column, code in ((columns[0], a), (columns[1], b)):
                if code not in position:
                    raise CasesError(
                        f"{path}: row {row + 1}, column {column}: unknown region {code!r}"
                    )
    adjacent = np.zeros((len(regions), len(regions)), dtype=bool)
    for a, b in zip(pairs["code"], pairs["other"], strict=True):
        if a in position and b in position and a != b:
            adjacent[position[a], position[b]] = adjacent[position[b], position[a]] = True
    return neighbour_orders(adjacent)


def mobility_weights(od_flows: Path, regions: tuple[str, ...]) -> np.ndarray | None:
    """Weights from the fusion ``od_flows`` table: the share of region ``j``'s trips going to
    region ``i`` (suppressed rows left out); trips to regions not forecast are ignored.
    ``None`` when no flow between forecast regions is released (all below k): no measured
    coupling, the caller falls back to borders."""
    from spreadwatch.model.mobility import OD_COLUMNS, read_table

    frame = read_table(od_flows, OD_COLUMNS, "od_flows")
    frame = frame[~frame["suppressed"].astype(bool)]
    position = {code: i for i, code in enumerate(regions)}
    frame = frame[frame["origin"].isin(position) & frame["dest"].isin(position)]
    if frame.empty:
        return None
    matrix = np.zeros((len(regions), len(regions)))
    np.add.at(
        matrix,
        (
            frame["origin"].map(position).to_numpy(dtype=np.int64),
            frame["dest"].map(position).to_numpy(dtype=np.int64),
        ),
        frame["trips"].to_numpy(dtype=np.float64),
    )
    return normalised(matrix)


REGION_HEADERS = ("code", "region_code", "region", "location")
POPULATION_HEADERS = ("population", "fraction", "share")


def population_of(
    path: Path | None, regions: tuple[str, ...]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(residents, shares)`` per region from a CSV with a region column (``code``,
    ``region_code``, ``region`` or ``location``) and ``population`` (residents, or fractions
    summing to 1: then residents are unknown), or the 2020 census when ``path`` is ``None`` and
    the regions are si-gun-gu codes; ``(None, None)`` when nothing is known."""
    if path is None:
        tables = korean_sigungu(regions)
        if tables is None:
            return None, None
        table = tables.regions.set_index("code")["population"]
        residents = table.loc[list(regions)].to_numpy(dtype=np.float64)
        return residents, residents / residents.sum()
    frame = _read_csv(path)
    frame.columns = [c.strip().lower() for c in frame.columns]
    code = next((c for c in REGION_HEADERS if c in frame), None)
    value = next((c for c in POPULATION_HEADERS if c in frame), None)
    if code is None or value is None:
        raise CasesError(
            f"{path}: expected a region column ({', '.join(REGION_HEADERS)}) and a population "
            f"column ({', '.join(POPULATION_HEADERS)}); found {', '.join(frame.columns)}"
        )
    values = pd.to_numeric(frame[value], errors="coerce")
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise CasesError(
            f"{path}: row {row + 1}, column {value}: expected a finite number > 0, "
            f"got {frame[value].iloc[row]!r}"
        )
    names = frame[code].str.strip()
    repeated = names.duplicated()
    if repeated.any():
        row = int(np.argmax(repeated.to_numpy()))
        raise CasesError(f"{path}: row {row + 1}, column {code}: region {names[row]!r} again")
    table = dict(zip(names, values, strict=True))
    missing = [r for r in regions if r not in table]
    if missing:
        raise CasesError(f"{path}: no {value} for region {missing[0]!r}")
    given = np.array([table[r] for r in regions], dtype=np.float64)
    if (values <= 1).all():
        if abs(values.sum() - 1) > FRACTION_TOLERANCE:
            raise CasesError(
                f"{path}: column {value}: values up to 1 are read as fractions of the "
                f"population, but they sum to {values.sum():.4g}, not 1"
            )
        return None, given / given.sum()
    return given, given / given.sum()


def _read_csv(path: Path, header: int | None = 0) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, header=header)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CasesError(f"{path}: cannot read as CSV ({exc})") from None
    except pd.errors.EmptyDataError:
        raise CasesError(f"{path}: the file is empty") from None
