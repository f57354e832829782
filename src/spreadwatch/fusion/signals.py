"""Importations from roaming and household signals from home devices, as ibis expressions.

Definitions (dates and hours are Korea Standard Time, UTC+9, as in :mod:`.mobility`):

* **arrival**: a roaming ``detach`` of one of our subscribers abroad (``outbound``: they came
  home) or an ``attach`` of a visitor (``inbound``), on the date of that event, from ``country``.
  Its ``region_code`` is the arriving person's home region: the region of most of their
  night-time location events (19:00-06:59) over the input, the same home as in ``commuting``;
  ``unknown`` when they have no night-time events (most visitors). Roaming and location events
  share the pseudonym of ``carrier:subscriber_id``.
  ``importations``: ``date, country, region_code, direction, arrivals, suppressed``.
* **household signals**, per date and region (the household's registered region):

  - ``households``: households with at least one reading that date;
  - ``stay_home_index``: the mean over those households of their daytime (09:00-17:59) share of
    ``presence`` and ``appliance_on`` readings equal to 1 that date, divided by the same share
    averaged over all of that household's dates (its own baseline). 1 is a usual day, 1.3 means
    30% more activity at home than usual. Households without daytime readings that date, or with a
    zero baseline, are left out; null when none is left;
  - ``fever_rate``: among households with a ``body_temp`` reading that date, the share whose
    highest reading is at least :data:`FEVER_CELSIUS`; null when none measured;
  - ``measured``: households with a ``body_temp`` reading that date; ``fever_households``: those
    of them with a fever; ``persistent_fever``: households with a fever that date and the date
    before (a fever that lasts, as an illness's does; a one-off high reading rarely repeats).

  ``household_signals``: ``date, region_code, households, stay_home_index, fever_rate,
  measured, fever_households, persistent_fever, suppressed``.

Counts below ``k`` are suppressed: the count becomes 0, the indices null, ``suppressed`` true.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from spreadwatch.fusion.mobility import (
    DAY_HOURS,
    NIGHT_HOURS,
    _epoch_hour,
    _local_date_hour,
    _modal_region,
)
from spreadwatch.privacy.kanon import DEFAULT_K, suppress_small

FEVER_CELSIUS = 37.5
UNKNOWN_REGION = "unknown"
ACTIVITY_KINDS = ("presence", "appliance_on")

SCHEMAS: dict[str, pa.Schema] = {
    "importations": pa.schema(
        [
            ("date", pa.date32()),
            ("country", pa.string()),
            ("region_code", pa.string()),
            ("direction", pa.string()),
            ("arrivals", pa.int64()),
            ("suppressed", pa.bool_()),
        ]
    ),
    "household_signals": pa.schema(
        [
            ("date", pa.date32()),
            ("region_code", pa.string()),
            ("households", pa.int64()),
            ("stay_home_index", pa.float64()),
            ("fever_rate", pa.float64()),
            ("measured", pa.int64()),
            ("fever_households", pa.int64()),
            ("persistent_fever", pa.int64()),
            ("suppressed", pa.bool_()),
        ]
    ),
}


def _local(table: ir.Table) -> ir.Table:
    return table.mutate(**_local_date_hour(_epoch_hour(table.ts.epoch_seconds())))


def home_regions(events: ir.Table) -> ir.Table:
    """``carrier, subscriber_pseudo, home_region``: the region of most night-time events."""
    local = _local(events)
    night = local.filter((local.hour >= NIGHT_HOURS[0]) | (local.hour < NIGHT_HOURS[1]))
    return _modal_region(night, ["carrier", "subscriber_pseudo"], "home_region")


def importations(roaming: ir.Table, events: ir.Table, k: int = DEFAULT_K) -> ir.Table:
    """Arrivals per date, origin country, home region and direction (see module doc)."""
    returning = (roaming.direction == "outbound") & (roaming.event == "detach")
    visiting = (roaming.direction == "inbound") & (roaming.event == "attach")
    arrivals = _local(roaming.filter(returning | visiting))
    homes = home_regions(events)
    joined = arrivals.left_join(
        homes,
        [
            arrivals.carrier == homes.carrier,
            arrivals.subscriber_pseudo == homes.subscriber_pseudo,
        ],
    )
    joined = joined.mutate(
        region_code=ibis.coalesce(joined.home_region, ibis.literal(UNKNOWN_REGION))
    )
    counts = joined.group_by(["date", "country", "region_code", "direction"]).agg(
        arrivals=joined.count()
    )
    return suppress_small(counts, "arrivals", k).order_by(
        ["date", "country", "region_code", "direction"]
    )


def household_signals(telemetry: ir.Table, households: ir.Table, k: int = DEFAULT_K) -> ir.Table:
    """Households reporting, stay-home index and fever rate per date and region."""
    readings = _local(telemetry).join(households, ["platform", "household_pseudo"])
    who = ["platform", "household_pseudo"]
    daytime = (readings.hour >= DAY_HOURS[0]) & (readings.hour < DAY_HOURS[1])
    active = readings.filter(daytime & readings.kind.isin(ACTIVITY_KINDS))
    activity = active.group_by([*who, "region_code", "date"]).agg(
        share=(active.value == 1).cast("float64").mean()
    )
    baseline = activity.group_by(who).agg(baseline=activity.share.mean())
    activity = activity.join(baseline, who)
    activity = activity.filter(activity.baseline > 0)
    stay_home = activity.group_by(["date", "region_code"]).agg(
        stay_home_index=(activity.share / activity.baseline).mean()
    )
    temps = readings.filter(readings.kind == "body_temp")
    hottest = temps.group_by([*who, "region_code", "date"]).agg(hottest=temps.value.max())
    hottest = hottest.mutate(fever=hottest.hottest >= FEVER_CELSIUS)
    before = hottest.filter(hottest.fever).select(
        *who, date=hottest.date + ibis.interval(days=1), fever_before=ibis.literal(True)
    )
    hottest = hottest.left_join(before, [*who, "date"]).select(
        *who, "region_code", "date", "fever", "fever_before"
    )
    lasting = hottest.fever & hottest.fever_before.fill_null(False)
    fever = hottest.group_by(["date", "region_code"]).agg(
        fever_rate=hottest.fever.cast("float64").mean(),
        measured=hottest.count(),
        fever_households=hottest.fever.cast("int64").sum(),
        persistent_fever=lasting.cast("int64").sum(),
    )
    reporting = readings.group_by(["date", "region_code"]).agg(
        households=readings.household_pseudo.nunique()
    )
    keys = ["date", "region_code"]
    signals = reporting.left_join(stay_home, keys).select(*keys, "households", "stay_home_index")
    counts = ("measured", "fever_households", "persistent_fever")
    signals = signals.left_join(fever, keys).select(
        *keys, "households", "stay_home_index", "fever_rate", *counts
    )
    released = suppress_small(signals, "households", k)
    hidden = ibis.null().cast("float64")
    return (
        released.mutate(
            stay_home_index=ibis.ifelse(released.suppressed, hidden, released.stay_home_index),
            fever_rate=ibis.ifelse(released.suppressed, hidden, released.fever_rate),
            **{
                c: ibis.ifelse(released.suppressed, 0, released[c].fill_null(0)).cast("int64")
                for c in counts
            },
        )
        .select(*SCHEMAS["household_signals"].names)
        .order_by(keys)
    )
