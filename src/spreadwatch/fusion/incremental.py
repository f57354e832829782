"""Updating daily fusion outputs when new days arrive, without recomputing the old ones.

Trips and presence on a date depend only on events of that date, the previous day (presence
carries a subscriber up to 12 hours forward) and each subscriber's last earlier event (the start
of a trip). So when new events start on KST date ``D``, the rows of dates before ``D`` stay as
they are, and the rows from ``D`` on are recomputed from the events since ``D - 1 day`` plus
each subscriber's last event before that. The result equals a full recomputation (tested).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.fusion.mobility import TIMEZONE_OFFSET_HOURS

LOOKBACK = dt.timedelta(days=1)


def cutoff_for(start: dt.date) -> dt.datetime:
    """The UTC instant from which events are re-read to recompute dates from ``start`` on."""
    return kst_midnight(start) - LOOKBACK


def kst_midnight(day: dt.date) -> dt.datetime:
    """The UTC instant at which ``day`` starts in Korea."""
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return midnight - dt.timedelta(hours=TIMEZONE_OFFSET_HOURS)


def events_since(
    events: ir.Table, cutoff: dt.datetime, until: dt.datetime | None = None
) -> ir.Table:
    """Events at or after ``cutoff`` (and before ``until``), plus each subscriber's last event
    before ``cutoff``. The last events come from an aggregate and a join, not a window over the
    whole history, so memory stays bounded by the number of subscribers."""
    when = ibis.literal(cutoff, type="timestamp('UTC')")
    recent = events.filter(events.ts >= when)
    if until is not None:
        recent = recent.filter(recent.ts < ibis.literal(until, type="timestamp('UTC')"))
    earlier = events.filter(events.ts < when)
    who = ["carrier", "subscriber_pseudo"]
    latest = earlier.group_by(who).agg(last_ts=earlier.ts.max())
    at_last = earlier.join(latest, [*who, earlier.ts == latest.last_ts]).select(earlier.columns)
    rank = ibis.row_number().over(
        group_by=[at_last.carrier, at_last.subscriber_pseudo],
        order_by=[at_last.cell_id.desc(), at_last.region_code.desc()],
    )
    last = at_last.mutate(_rank=rank)
    last = last.filter(last._rank == 0).drop("_rank")
    return recent.union(last)


def merge_from(old: pa.Table, new: pa.Table, start: dt.date, keys: list[str]) -> pa.Table:
    """Rows of ``old`` before ``start`` and of ``new`` from ``start`` on, sorted by ``keys``."""
    date = pa.scalar(start, pa.date32())
    kept = old.filter(pc.less(old["date"], date))
    fresh = new.filter(pc.greater_equal(new["date"], date)).cast(old.schema)
    return pa.concat_tables([kept, fresh]).sort_by([(k, "ascending") for k in keys])
