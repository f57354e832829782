"""What a differentially private release counts: the public key set (:class:`KeySpace`), and
the OD and presence counts with each subscriber's contribution per KST date bounded (the
sensitivity the mechanism is calibrated to). See :mod:`spreadwatch.release.dp` for the whole
argument."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from spreadwatch.fusion import mobility

Table = Literal["od_flows", "presence"]


TABLES: tuple[Table, ...] = ("od_flows", "presence")


HOURS = 24


@dataclass(frozen=True)
class KeySpace:
    """The public key set of a release: region codes and an inclusive range of KST dates.

    OD cells are every ordered pair of distinct regions per date (trips never stay in a
    region); presence cells every (date, hour, region).
    """

    regions: tuple[str, ...]
    start: date
    end: date

    def __post_init__(self) -> None:
        if not self.regions:
            raise ValueError("the key set needs at least one region")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("region codes of the key set must be unique")
        if self.end < self.start:
            raise ValueError(f"the date range ends ({self.end}) before it starts ({self.start})")
        object.__setattr__(self, "regions", tuple(sorted(self.regions)))

    @classmethod
    def korea(cls, start: date, end: date) -> KeySpace:
        """Korea's 229 si-gun-gu (2020) over ``start..end``."""
        from spreadwatch.model.geography import load_regions

        return cls(load_regions().codes, start, end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def od_size(self) -> int:
        n = len(self.regions)
        return self.days * n * (n - 1)

    @property
    def presence_size(self) -> int:
        return self.days * HOURS * len(self.regions)

    def _od_mask(self) -> np.ndarray:
        n = len(self.regions)
        return np.tile(~np.eye(n, dtype=bool).ravel(), self.days)

    def od_keys(self) -> pa.Table:
        """``date, origin, dest`` of every OD cell, in release order (date, origin, dest)."""
        n = len(self.regions)
        codes = np.asarray(self.regions, dtype=object)
        full = np.arange(self.days * n * n)
        keep = full[self._od_mask()]
        return pa.table(
            {
                "date": pa.array(np.asarray(self.dates)[keep // (n * n)], pa.date32()),
                "origin": pa.array(codes[(keep // n) % n], pa.string()),
                "dest": pa.array(codes[keep % n], pa.string()),
            }
        )

    def presence_keys(self) -> pa.Table:
        """``date, hour, region_code`` of every presence cell, in release order."""
        n = len(self.regions)
        codes = np.asarray(self.regions, dtype=object)
        full = np.arange(self.presence_size)
        return pa.table(
            {
                "date": pa.array(np.asarray(self.dates)[full // (HOURS * n)], pa.date32()),
                "hour": pa.array(((full // n) % HOURS).astype(np.int8), pa.int8()),
                "region_code": pa.array(codes[full % n], pa.string()),
            }
        )

    def _region_index(self, codes: pa.ChunkedArray | pa.Array) -> np.ndarray:
        lookup = {code: i for i, code in enumerate(self.regions)}
        return np.fromiter((lookup[c] for c in codes.to_pylist()), np.int64, len(codes))

    def _day_index(self, dates: pa.ChunkedArray | pa.Array) -> np.ndarray:
        days = np.asarray(dates.to_numpy(zero_copy_only=False), dtype="datetime64[D]")
        return (days - np.datetime64(self.start, "D")).astype(np.int64)

    def dense_od(self, counts: pa.Table, column: str) -> np.ndarray:
        """``counts`` (date, origin, dest, column) as a vector in :meth:`od_keys` order."""
        n = len(self.regions)
        vector = np.zeros(self.days * n * n, dtype=np.int64)
        if counts.num_rows:
            index = (
                self._day_index(counts["date"]) * n + self._region_index(counts["origin"])
            ) * n + self._region_index(counts["dest"])
            vector[index] = counts[column].to_numpy()
        return vector[self._od_mask()]

    def dense_presence(self, counts: pa.Table, column: str) -> np.ndarray:
        """``counts`` (date, hour, region_code, column) as a vector in presence-key order."""
        n = len(self.regions)
        vector = np.zeros(self.presence_size, dtype=np.int64)
        if counts.num_rows:
            hours = counts["hour"].to_numpy().astype(np.int64)
            index = (self._day_index(counts["date"]) * HOURS + hours) * n + self._region_index(
                counts["region_code"]
            )
            vector[index] = counts[column].to_numpy()
        return vector


def _in_range(table: ir.Table, keys: KeySpace) -> ir.BooleanValue:
    return table.date.between(ibis.literal(keys.start), ibis.literal(keys.end))


def bounded_trips(events: ir.Table, keys: KeySpace, max_trips_per_day: int) -> ir.Table:
    """Trips in the key set with ``rank``, their 0-based order among the subscriber's trips of
    that date (by time, cell, region, origin), and ``kept = rank < max_trips_per_day``."""
    _check_bound("max_trips_per_day", max_trips_per_day)
    ordered = mobility._ordered(events)
    moves = ordered.filter(
        ordered.prev_region.notnull() & (ordered.prev_region != ordered.region_code)
    )
    moves = moves.mutate(
        **mobility._local_date_hour(mobility._epoch_hour(moves.ts.epoch_seconds()))
    )
    regions = list(keys.regions)
    moves = moves.filter(
        _in_range(moves, keys) & moves.prev_region.isin(regions) & moves.region_code.isin(regions)
    )
    rank = ibis.row_number().over(
        group_by=[moves.carrier, moves.subscriber_pseudo, moves.date],
        order_by=[moves.ts, moves.cell_id, moves.region_code, moves.prev_region],
    )
    trips = moves.select(
        "carrier",
        "subscriber_pseudo",
        "date",
        origin=moves.prev_region,
        dest=moves.region_code,
        rank=rank,
    )
    return trips.mutate(kept=trips["rank"] < max_trips_per_day)


def od_counts(events: ir.Table, keys: KeySpace, max_trips_per_day: int) -> ir.Table:
    """Observed OD cells: ``date, origin, dest, trips`` (bounded) and ``trips_unbounded``."""
    trips = bounded_trips(events, keys, max_trips_per_day)
    return trips.group_by(["date", "origin", "dest"]).agg(
        trips=trips.kept.cast("int64").sum(), trips_unbounded=trips.count()
    )


def presence_cells(
    events: ir.Table, keys: KeySpace, max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS
) -> ir.Table:
    """Distinct ``carrier, subscriber_pseudo, date, hour, region_code`` where a subscriber is
    present (the definition of :func:`spreadwatch.fusion.mobility.presence`), in the key set, with
    ``entered``: the first second of the hour they were there (the hour's start when carried
    over from an earlier event, else the event's time)."""
    ordered = mobility._ordered(events)
    start = ordered.ts.epoch_seconds()
    limit = start + max_gap_hours * 3600
    end = ibis.coalesce(ibis.least(ordered.next_ts.epoch_seconds(), limit), limit)
    first_hour = mobility._epoch_hour(start)
    last_hour = mobility._epoch_hour(ibis.greatest(start, end - 1))
    hours = ordered.select(
        "carrier",
        "subscriber_pseudo",
        "region_code",
        start=start,
        epoch_hour=ibis.range(first_hour, last_hour + 1).unnest(),
    )
    hours = hours.mutate(
        entered=ibis.greatest(hours.start, hours.epoch_hour * 3600),
        **mobility._local_date_hour(hours.epoch_hour),
    )
    hours = hours.filter(_in_range(hours, keys) & hours.region_code.isin(list(keys.regions)))
    return hours.group_by(["carrier", "subscriber_pseudo", "date", "hour", "region_code"]).agg(
        entered=hours.entered.min()
    )


def bounded_presence(
    events: ir.Table,
    keys: KeySpace,
    max_hours_per_day: int,
    max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS,
) -> ir.Table:
    """Presence cells with ``kept``: among the subscriber's first ``max_hours_per_day`` cells of
    the date, where cells are ordered first by their order within the hour (by ``entered``, then
    region code), then by hour, then region code. So the region each subscriber is in at the start
    of each hour is kept before any second region of an hour: a bound of 24 keeps one region per
    hour all day instead of dropping the evening of subscribers who moved.

    Only the subscriber-days with more cells than the bound are ranked (two window sorts); the
    others keep every cell, which makes this about three times faster on synthetic Korea."""
    _check_bound("max_hours_per_day", max_hours_per_day)
    cells = presence_cells(events, keys, max_gap_hours)
    who = ["carrier", "subscriber_pseudo", "date"]
    columns = [*who, "hour", "region_code"]
    per_day = cells.group_by(who).agg(cells_that_day=cells.count())
    busy = per_day.filter(per_day.cells_that_day > max_hours_per_day).select(*who)
    under = cells.anti_join(busy, who).select(*columns, kept=ibis.literal(True))
    over = cells.semi_join(busy, who)
    over = over.mutate(
        within_hour=ibis.row_number().over(
            group_by=[over.carrier, over.subscriber_pseudo, over.date, over.hour],
            order_by=[over.entered, over.region_code],
        )
    )
    rank = ibis.row_number().over(
        group_by=[over.carrier, over.subscriber_pseudo, over.date],
        order_by=[over.within_hour, over.hour, over.region_code],
    )
    over = over.select(*columns, kept=rank < max_hours_per_day)
    return under.union(over, distinct=False)


def presence_counts(
    events: ir.Table,
    keys: KeySpace,
    max_hours_per_day: int,
    max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS,
) -> ir.Table:
    """Observed presence cells: ``date, hour, region_code, people`` (bounded) and
    ``people_unbounded``."""
    cells = bounded_presence(events, keys, max_hours_per_day, max_gap_hours)
    return cells.group_by(["date", "hour", "region_code"]).agg(
        people=cells.kept.cast("int64").sum(), people_unbounded=cells.count()
    )


def _check_bound(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")


@dataclass(frozen=True)
class ExactCounts:
    """Exact counts over the whole key set, in key order: bounded and unbounded."""

    table: Table
    keys: KeySpace
    bound: int
    bounded: np.ndarray
    unbounded: np.ndarray

    def key_table(self) -> pa.Table:
        return self.keys.od_keys() if self.table == "od_flows" else self.keys.presence_keys()


def exact_counts(
    events: ir.Table,
    keys: KeySpace,
    table: Table,
    bound: int,
    max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS,
) -> ExactCounts:
    """Bounded and unbounded exact counts of ``table`` for every key of ``keys``."""
    if table == "od_flows":
        counts = od_counts(events, keys, bound).to_pyarrow()
        bounded = keys.dense_od(counts, "trips")
        unbounded = keys.dense_od(counts, "trips_unbounded")
    elif table == "presence":
        counts = presence_counts(events, keys, bound, max_gap_hours).to_pyarrow()
        bounded = keys.dense_presence(counts, "people")
        unbounded = keys.dense_presence(counts, "people_unbounded")
    else:
        raise ValueError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    return ExactCounts(table, keys, bound, bounded, unbounded)
