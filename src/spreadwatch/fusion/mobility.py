"""Daily origin-destination flows and hourly presence from events, as ibis expressions.

Definitions (dates and hours are Korea Standard Time, UTC+9):

* **trip**: two consecutive events of one subscriber (ordered by time, then cell) in different
  regions; it counts on the date of the second event, from the first event's region to the
  second's.
* **commuting**: a subscriber's home region is where most of their night-time events
  (19:00-06:59) fall over the whole input; their day region on a date is where most of their
  daytime events (09:00-17:59) fall that date (ties go to the smaller region code). Subscribers
  without night-time events, and dates without daytime events, are not counted.
* **presence**: a subscriber is present in a region during an hour if they had an event there in
  that hour, or their last event before the hour was there and at most ``max_gap_hours`` earlier.

Counts below ``k`` are suppressed (count set to 0, ``suppressed`` true).

The same expressions run on DuckDB and on Spark (:mod:`spreadwatch.fusion.engines`) with
identical results: Korean dates and hours come from integer arithmetic on epoch seconds (no
session time zone involved), every window is ordered by a full tie-breaker, and every output
column has the SQL type of :data:`SCHEMAS` on both engines.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from spreadwatch.fusion.engines import connect as connect_engine
from spreadwatch.kst import KST_OFFSET_HOURS
from spreadwatch.privacy.kanon import DEFAULT_K, suppress_small

TIMEZONE_OFFSET_HOURS = KST_OFFSET_HOURS
DEFAULT_MAX_GAP_HOURS = 12
NIGHT_HOURS = (19, 7)  # from 19:00 to before 07:00
DAY_HOURS = (9, 18)  # from 09:00 to before 18:00

#: Arrow schema of each fusion output, the same whichever engine computed it.
SCHEMAS: dict[str, pa.Schema] = {
    "od_flows": pa.schema(
        [
            ("date", pa.date32()),
            ("origin", pa.string()),
            ("dest", pa.string()),
            ("trips", pa.int64()),
            ("suppressed", pa.bool_()),
        ]
    ),
    "presence": pa.schema(
        [
            ("date", pa.date32()),
            ("hour", pa.int8()),
            ("region_code", pa.string()),
            ("people", pa.int64()),
            ("suppressed", pa.bool_()),
        ]
    ),
    "commuting": pa.schema(
        [
            ("date", pa.date32()),
            ("home_region", pa.string()),
            ("day_region", pa.string()),
            ("people", pa.int64()),
            ("suppressed", pa.bool_()),
        ]
    ),
}


def connect() -> ibis.BaseBackend:
    """An in-memory DuckDB backend with the session time zone pinned to UTC (see
    :func:`spreadwatch.fusion.engines.connect` for Spark)."""
    return connect_engine("duckdb")


def _ordered(events: ir.Table) -> ir.Table:
    """Events with the subscriber's next event time and previous region."""
    window = ibis.window(
        group_by=[events.carrier, events.subscriber_pseudo],
        order_by=[events.ts, events.cell_id, events.region_code],
    )
    return events.mutate(
        prev_region=events.region_code.lag().over(window),
        next_ts=events.ts.lead().over(window),
    )


def _epoch_hour(seconds: ir.IntegerValue) -> ir.IntegerValue:
    return (seconds // 3600).cast("int64")


def _local_date_hour(epoch_hour: ir.IntegerValue) -> dict[str, ir.Value]:
    """KST ``date`` and ``hour`` of an hour counted from 1970-01-01T00:00Z."""
    local = epoch_hour + TIMEZONE_OFFSET_HOURS
    days = (local // 24).cast("int32")
    # DuckDB's DATE + INTERVAL is a TIMESTAMP (Spark's is a DATE) and ibis drops a cast to the
    # type it already assumes, so cast through timestamp: the column is a SQL DATE on both.
    day = (ibis.date(1970, 1, 1) + days.as_interval("D")).cast("timestamp").date()
    return {"date": day, "hour": (local % 24).cast("int8")}


def od_flows(events: ir.Table, k: int = DEFAULT_K) -> ir.Table:
    """Daily trips between regions: ``date, origin, dest, trips, suppressed``."""
    ordered = _ordered(events)
    moves = ordered.filter(
        ordered.prev_region.notnull() & (ordered.prev_region != ordered.region_code)
    )
    moves = moves.mutate(**_local_date_hour(_epoch_hour(moves.ts.epoch_seconds())))
    counts = moves.group_by(date=moves.date, origin=moves.prev_region, dest=moves.region_code).agg(
        trips=moves.count()
    )
    return suppress_small(counts, "trips", k).order_by(["date", "origin", "dest"])


def presence(
    events: ir.Table, k: int = DEFAULT_K, max_gap_hours: int = DEFAULT_MAX_GAP_HOURS
) -> ir.Table:
    """People present per region and hour: ``date, hour, region_code, people, suppressed``."""
    ordered = _ordered(events)
    start = ordered.ts.epoch_seconds()
    limit = start + max_gap_hours * 3600
    end = ibis.coalesce(ibis.least(ordered.next_ts.epoch_seconds(), limit), limit)
    # The span's bounds as columns first: inlined into the range, Spark evaluates them 4 times.
    spans = ordered.select(
        "carrier",
        "subscriber_pseudo",
        "region_code",
        first_hour=_epoch_hour(start),
        last_hour=_epoch_hour(ibis.greatest(start, end - 1)),
    )
    hours = spans.select(
        "carrier",
        "subscriber_pseudo",
        "region_code",
        epoch_hour=ibis.range(spans.first_hour, spans.last_hour + 1).unnest(),
    )
    # An epoch hour is one (date, hour): count per epoch hour, then name it.
    counts = hours.group_by(["epoch_hour", "region_code"]).agg(
        people=(hours.carrier.concat(":", hours.subscriber_pseudo)).nunique()
    )
    counts = counts.select(
        **_local_date_hour(counts.epoch_hour), region_code=counts.region_code, people=counts.people
    )
    return suppress_small(counts, "people", k).order_by(["date", "hour", "region_code"])


def _modal_region(table: ir.Table, keys: list[str], name: str) -> ir.Table:
    """The region with most events per ``keys`` group (ties: smallest code), as column ``name``."""
    counts = table.group_by([*keys, "region_code"]).agg(events=table.count())
    rank = ibis.row_number().over(
        group_by=[counts[k] for k in keys],
        order_by=[counts.events.desc(), counts.region_code],
    )
    ranked = counts.mutate(rank=rank)
    return ranked.filter(ranked["rank"] == 0).select(*keys, **{name: ranked.region_code})


def commuting(events: ir.Table, k: int = DEFAULT_K) -> ir.Table:
    """Residents by home and day region: ``date, home_region, day_region, people, suppressed``."""
    local = events.mutate(**_local_date_hour(_epoch_hour(events.ts.epoch_seconds())))
    who = ["carrier", "subscriber_pseudo"]
    night = local.filter((local.hour >= NIGHT_HOURS[0]) | (local.hour < NIGHT_HOURS[1]))
    day = local.filter((local.hour >= DAY_HOURS[0]) & (local.hour < DAY_HOURS[1]))
    homes = _modal_region(night, who, "home_region")
    days = _modal_region(day, [*who, "date"], "day_region")
    joined = days.join(homes, who)
    counts = joined.group_by(["date", "home_region", "day_region"]).agg(people=joined.count())
    return suppress_small(counts, "people", k).order_by(["date", "home_region", "day_region"])
