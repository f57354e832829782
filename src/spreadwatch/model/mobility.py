"""Daytime mixing matrix ``M``: ``M[i, j]`` is the share of residents of region ``i`` who spend the
day in region ``j``. Every row sums to 1 (row-stochastic); ``M[i, i]`` is the share staying home.

From the fusion outputs (``od_flows``, ``presence``), for ``i != j``::

    M[i, j] = mean over dates of trips(i -> j)  /  mean night-time presence of i

* the dates are those present in ``od_flows``; a date with no row for ``i -> j`` counts as 0 trips;
  a *suppressed* row is unknown, not zero: that date is left out of the mean for that pair only
  (a pair suppressed on every date gets 0);
* night-time presence is the mean of ``people`` over the non-suppressed ``presence`` rows of
  hours 0-5 (all dates);
* if a row's off-diagonal sum exceeds ``max_away`` (default 0.95), its off-diagonal entries are
  scaled down so that the sum equals ``max_away``; then ``M[i, i] = 1 - sum_{j != i} M[i, j]``;
* a region with no night-time presence stays home (``M[i, i] = 1``); rows ``origin == dest`` are
  ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from spreadwatch.regions import distance

DEFAULT_MAX_AWAY = 0.95
NIGHT_HOURS = (0, 5)  # inclusive
MIN_DISTANCE_KM = 1.0
OD_COLUMNS = ("date", "origin", "dest", "trips", "suppressed")
COMMUTING_COLUMNS = ("date", "home_region", "day_region", "people", "suppressed")
PRESENCE_COLUMNS = ("date", "hour", "region_code", "people", "suppressed")

TableSource = pd.DataFrame | pa.Table | str | Path


def stay_home(n: int) -> np.ndarray:
    """No mobility: everyone spends the day in their home region (identity matrix)."""
    return np.eye(n)


def mixing_from_matrix(matrix: npt.ArrayLike, atol: float = 1e-9) -> np.ndarray:
    """Check a dense mixing matrix (square, finite, non-negative, rows summing to 1) and copy it."""
    m = np.array(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"mixing matrix must be square, got shape {m.shape}")
    if not np.isfinite(m).all() or (m < 0).any():
        raise ValueError("mixing matrix entries must be finite and >= 0")
    worst = np.abs(m.sum(axis=1) - 1.0)
    if (worst > atol).any():
        row = int(np.argmax(worst))
        raise ValueError(f"mixing matrix row {row} sums to {m[row].sum():.12g}, expected 1")
    return m


def mixing_from_trips(
    trips: npt.ArrayLike,
    residents: npt.ArrayLike,
    max_away: float = DEFAULT_MAX_AWAY,
) -> np.ndarray:
    """``M`` from mean daily trips ``trips[i, j]`` and residents per region (see module doc).

    Rows whose ``residents`` are missing (NaN) or not positive stay home; the diagonal of ``trips``
    is ignored.
    """
    t = np.array(trips, dtype=np.float64)
    n_res = np.asarray(residents, dtype=np.float64)
    n = n_res.shape[0]
    if t.shape != (n, n):
        raise ValueError(f"trips must have shape {(n, n)}, got {t.shape}")
    if not 0 < max_away <= 1:
        raise ValueError(f"max_away must be in (0, 1], got {max_away}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError("trips must be finite and >= 0")
    known = np.isfinite(n_res) & (n_res > 0)
    away = np.zeros((n, n))
    away[known] = t[known] / n_res[known, None]
    np.fill_diagonal(away, 0.0)
    total = away.sum(axis=1)
    over = total > max_away
    away[over] *= (max_away / total[over])[:, None]
    np.fill_diagonal(away, 1.0 - away.sum(axis=1))
    return away


def mixing_from_fusion(
    od_flows: TableSource,
    presence: TableSource,
    codes: Sequence[str],
    max_away: float = DEFAULT_MAX_AWAY,
) -> np.ndarray:
    """``M`` over regions ``codes`` (in that order) from fusion ``od_flows`` and ``presence``.

    Either argument may be a DataFrame, an Arrow table, or a Parquet file or folder.
    """
    index = pd.Index(list(codes), dtype=object)
    return mixing_from_trips(mean_trips(od_flows, index), night_presence(presence, index), max_away)


def mixing_from_commuting(
    commuting: TableSource, codes: Sequence[str], suppressed_people: float = 0.0
) -> np.ndarray:
    """``M`` from the fusion ``commuting`` table (residents by home and day region).

    ``M[i, j]`` = people with home ``i`` and day region ``j`` summed over dates, divided by all
    people with home ``i`` over dates. A suppressed row (between 1 and k - 1 people, withheld)
    counts as ``suppressed_people``; 0 leaves it out. Regions with no rows stay home.
    """
    if suppressed_people < 0:
        raise ValueError(f"suppressed_people must be >= 0, got {suppressed_people}")
    index = pd.Index(list(codes), dtype=object)
    n = len(index)
    frame = read_table(commuting, COMMUTING_COLUMNS, "commuting")
    if (frame["people"] < 0).any():
        raise ValueError("commuting: people must be >= 0")
    suppressed = frame["suppressed"].to_numpy(dtype=bool)
    people = np.where(suppressed, suppressed_people, frame["people"].to_numpy(dtype=np.float64))
    home = _positions(frame["home_region"], index, "commuting.home_region")
    day = _positions(frame["day_region"], index, "commuting.day_region")
    counts = np.bincount(home * n + day, weights=people, minlength=n * n).reshape(n, n)
    residents = counts.sum(axis=1)
    mixing = np.divide(
        counts, residents[:, None], out=np.zeros((n, n)), where=residents[:, None] > 0
    )
    mixing[residents == 0, :] = 0.0
    mixing[residents == 0, residents == 0] = 1.0
    return mixing


def mean_trips(od_flows: TableSource, codes: Sequence[str] | pd.Index) -> np.ndarray:
    """Mean daily trips ``[origin, dest]`` over the dates in ``od_flows`` (see module doc)."""
    index = pd.Index(list(codes), dtype=object)
    n = len(index)
    frame = read_table(od_flows, OD_COLUMNS, "od_flows")
    n_dates = frame["date"].nunique()
    frame = frame[frame["origin"].astype(str) != frame["dest"].astype(str)]
    if (frame["trips"] < 0).any():
        raise ValueError("od_flows: trips must be >= 0")
    flat = _positions(frame["origin"], index, "od_flows.origin") * n + _positions(
        frame["dest"], index, "od_flows.dest"
    )
    suppressed = frame["suppressed"].to_numpy(dtype=bool)
    trips = frame["trips"].to_numpy(dtype=np.float64)
    total = np.bincount(flat[~suppressed], weights=trips[~suppressed], minlength=n * n)
    known_dates = n_dates - np.bincount(flat[suppressed], minlength=n * n)
    mean = np.divide(total, known_dates, out=np.zeros(n * n), where=known_dates > 0)
    return mean.reshape(n, n)


def night_presence(presence: TableSource, codes: Sequence[str] | pd.Index) -> np.ndarray:
    """Mean ``people`` per region over non-suppressed rows of hours 0-5; NaN where there is none."""
    index = pd.Index(list(codes), dtype=object)
    frame = read_table(presence, PRESENCE_COLUMNS, "presence")
    position = _positions(frame["region_code"], index, "presence.region_code")
    hour = frame["hour"].to_numpy(dtype=np.int64)
    use = (hour >= NIGHT_HOURS[0]) & (hour <= NIGHT_HOURS[1])
    use &= ~frame["suppressed"].to_numpy(dtype=bool)
    people = frame["people"].to_numpy(dtype=np.float64)
    sums = np.bincount(position[use], weights=people[use], minlength=len(index))
    counts = np.bincount(position[use], minlength=len(index))
    return np.divide(sums, counts, out=np.full(len(index), np.nan), where=counts > 0)


def gravity_mixing(
    population: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    away_fraction: float = 0.1,
    distance_exponent: float = 2.0,
) -> np.ndarray:
    """Production-constrained gravity model: ``away_fraction`` of every region's residents spend
    the day elsewhere, split over destinations ``j`` in proportion to ``N_j / d_ij ** c``.

    ``d_ij`` is the great-circle distance in km between the points (at least 1 km) and ``c`` is
    ``distance_exponent``; the diagonal is ``1 - away_fraction`` (1 for a lone region).
    """
    pop = np.asarray(population, dtype=np.float64)
    if not 0 <= away_fraction <= 1:
        raise ValueError(f"away_fraction must be in [0, 1], got {away_fraction}")
    dist = np.maximum(great_circle_km(lat, lon), MIN_DISTANCE_KM)
    weight = pop[None, :] / dist**distance_exponent
    np.fill_diagonal(weight, 0.0)
    row = weight.sum(axis=1, keepdims=True)
    m = away_fraction * np.divide(weight, row, out=np.zeros_like(weight), where=row > 0)
    np.fill_diagonal(m, 1.0 - m.sum(axis=1))
    return m


def great_circle_km(lat: npt.ArrayLike, lon: npt.ArrayLike) -> np.ndarray:
    """Pairwise haversine distances (km) between points given in degrees."""
    return distance.great_circle_km(lat, lon, lat, lon)


def read_table(source: TableSource, columns: Sequence[str], name: str) -> pd.DataFrame:
    """The ``columns`` of a DataFrame, Arrow table or Parquet file/folder, checked for nulls."""
    if isinstance(source, pd.DataFrame):
        frame = source
    elif isinstance(source, pa.Table):
        frame = source.to_pandas()
    else:
        dataset = ds.dataset(Path(source), format="parquet", partitioning="hive")
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise ValueError(f"{name} ({source}): missing column(s) {', '.join(missing)}")
        frame = dataset.to_table(columns=list(columns)).to_pandas()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    frame = frame[list(columns)]
    nulls = [c for c in columns if frame[c].isna().any()]
    if nulls:
        raise ValueError(f"{name}: null values in column(s) {', '.join(nulls)}")
    return frame


def _positions(values: pd.Series, index: pd.Index, what: str) -> np.ndarray:
    keys = values.astype(str).to_numpy(dtype=object)
    position = index.get_indexer(keys)
    if (position < 0).any():
        unknown = sorted(set(keys[position < 0]))
        shown = ", ".join(repr(c) for c in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"{what}: {len(unknown)} unknown region code(s): {shown}")
    return position


def daily_mixing_from_commuting(
    commuting: TableSource, codes: Sequence[str], suppressed_people: float = 0.0
) -> dict[dt.date, np.ndarray]:
    """One mixing matrix per date of the fusion ``commuting`` table (see
    :func:`mixing_from_commuting`)."""
    frame = read_table(commuting, COMMUTING_COLUMNS, "commuting")
    return {
        _as_date(date): mixing_from_commuting(group, codes, suppressed_people)
        for date, group in frame.groupby("date", sort=True)
    }


def daily_mixing_from_fusion(
    od_flows: TableSource,
    presence: TableSource,
    codes: Sequence[str],
    max_away: float = DEFAULT_MAX_AWAY,
) -> dict[dt.date, np.ndarray]:
    """One mixing matrix per date of ``od_flows`` (see :func:`mixing_from_fusion`), each from
    that date's trips and night-time presence (all dates' presence where a date has none)."""
    flows = read_table(od_flows, OD_COLUMNS, "od_flows")
    people = read_table(presence, PRESENCE_COLUMNS, "presence")
    by_date = {_as_date(d): g for d, g in people.groupby("date")}
    return {
        _as_date(date): mixing_from_fusion(
            group, by_date.get(_as_date(date), people), codes, max_away
        )
        for date, group in flows.groupby("date", sort=True)
    }


def mixing_on(daily: dict[dt.date, np.ndarray], date: dt.date) -> np.ndarray:
    """The matrix of ``date``; for a date without one, that of the nearest date with the same
    weekday (the latest before it, else the earliest after it), else the nearest date."""
    if date in daily:
        return daily[date]
    known = sorted(daily)
    same = [d for d in known if d.weekday() == date.weekday()]
    pool = same or known
    before = [d for d in pool if d < date]
    return daily[before[-1] if before else pool[0]]


def _as_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()
