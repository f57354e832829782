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
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from spreadwatch import duck
from spreadwatch.privacy.kanon import DEFAULT_K, suppress_small

TIMEZONE_OFFSET_HOURS = 9
DEFAULT_MAX_GAP_HOURS = 12
NIGHT_HOURS = (19, 7)  # from 19:00 to before 07:00
DAY_HOURS = (9, 18)  # from 09:00 to before 18:00


def connect() -> ibis.BaseBackend:
    """An in-memory DuckDB backend with the session time zone pinned to UTC."""
    return ibis.duckdb.from_connection(duck.connect())


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
    local = epoch_hour + TIMEZONE_OFFSET_HOURS
    days = (local // 24).cast("int32")
    return {
        "date": (ibis.date(1970, 1, 1) + days.as_interval("D")).cast("date"),
        "hour": (local % 24).cast("int8"),
    }


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
    first_hour = _epoch_hour(start)
    last_hour = _epoch_hour(ibis.greatest(start, end - 1))
    hours = ordered.select(
        "carrier",
        "subscriber_pseudo",
        "region_code",
        epoch_hour=ibis.range(first_hour, last_hour + 1).unnest(),
    )
    hours = hours.mutate(**_local_date_hour(hours.epoch_hour))
    counts = hours.group_by(["date", "hour", "region_code"]).agg(
        people=(hours.carrier.concat(":", hours.subscriber_pseudo)).nunique()
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
