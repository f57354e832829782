"""Traveler notices: the pseudonymous subscribers who were in a listed country recently.

From the ingest store's roaming events (``carrier, subscriber_pseudo, ts, country, event,
direction``), each subscriber's stays are rebuilt per carrier and country:

* ``outbound`` (our subscriber abroad): from an ``attach`` in the country to the next
  ``detach`` there (still there when no detach follows; a ``detach`` with no ``attach`` before
  it is a stay from the start of the data);
* ``inbound`` (a visitor in Korea): a visitor who ``attach``es arriving from a country was in
  that country up to the attach time.

A subscriber gets a notice as of day ``D`` (KST) when such a stay in a listed country overlaps
the last ``days`` days, ``[D - days + 1, D]`` (whole KST days). The notice says when they were
last there. Only pseudonyms leave this module, as they do every other; the alerts channel
resolves them inside the carrier. With pseudonyms rotating by period (``ingest --rotate``) a
trip across a period boundary has two pseudonyms that cannot be linked: the attach part looks
like a stay not yet ended (0 days since), the detach part like a stay from the start of the
data. Use notices on stores ingested without rotation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from spreadwatch.kst import KST

#: Schema metadata of a notices table: its look-back window in days (what "recently" means).
DAYS_METADATA = b"spreadwatch.notice_days"
NOTICE_SCHEMA = pa.schema(
    [
        ("carrier", pa.string()),
        ("subscriber_pseudo", pa.string()),
        ("direction", pa.string()),
        ("country", pa.string()),
        ("last_there", pa.timestamp("us", tz="UTC")),
        ("days_since", pa.int32()),
        ("as_of", pa.date32()),
    ]
)


def stays(roaming: pd.DataFrame, until: pd.Timestamp) -> pd.DataFrame:
    """Stays ``carrier, subscriber_pseudo, direction, country, start, end`` (UTC); an
    outbound stay without its detach lasts until ``until``; an inbound arrival is a stay that
    ends at its attach."""
    events = roaming.sort_values(["carrier", "subscriber_pseudo", "ts", "event"]).copy()
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    inbound = events[(events["direction"] == "inbound") & (events["event"] == "attach")]
    arrivals = inbound.assign(start=inbound["ts"], end=inbound["ts"])
    outbound = events[events["direction"] == "outbound"]
    keys = ["carrier", "subscriber_pseudo", "country"]
    attach = outbound[outbound["event"] == "attach"].rename(columns={"ts": "start"})
    detach = outbound[outbound["event"] == "detach"].rename(columns={"ts": "end"})
    attach = attach.sort_values("start")
    detach = detach.sort_values("end")
    paired = pd.merge_asof(
        attach,
        detach[[*keys, "end"]],
        left_on="start",
        right_on="end",
        by=keys,
        direction="forward",
    )  # the first detach at or after each attach
    paired["end"] = paired["end"].fillna(until)
    # a detach with no attach before it: the stay began before the data did
    earlier = pd.merge_asof(
        detach,
        attach[[*keys, "start"]],
        left_on="end",
        right_on="start",
        by=keys,
        direction="backward",
    )
    opened = earlier[earlier["start"].isna()].assign(start=events["ts"].min())
    columns = ["carrier", "subscriber_pseudo", "direction", "country", "start", "end"]
    return pd.concat([paired[columns], opened[columns], arrivals[columns]], ignore_index=True)


def traveler_notices(
    roaming: pd.DataFrame, countries: Sequence[str], as_of: dt.date, days: int
) -> pa.Table:
    """One row per subscriber (and carrier) who was in a listed country within the last
    ``days`` days as of the KST date ``as_of`` (``NOTICE_SCHEMA``, with ``days`` in the schema
    metadata), the latest stay first."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    window_end = pd.Timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), KST))
    window_start = window_end - pd.Timedelta(days=days)
    listed = set(countries)
    found = stays(roaming[roaming["country"].isin(listed)], window_end)
    found = found[(found["start"] < window_end) & (found["end"] >= window_start)]
    found = found.assign(last_there=found["end"].clip(upper=window_end))
    found = found.sort_values("last_there").groupby(["carrier", "subscriber_pseudo"]).tail(1)
    last_day = found["last_there"].dt.tz_convert(KST).dt.date
    days_since = np.array([(as_of - d).days for d in last_day], dtype=np.int32).clip(min=0)
    frame = pd.DataFrame(
        {
            "carrier": found["carrier"].astype(str),
            "subscriber_pseudo": found["subscriber_pseudo"].astype(str),
            "direction": found["direction"].astype(str),
            "country": found["country"].astype(str),
            "last_there": found["last_there"].dt.tz_convert("UTC").dt.floor("us"),
            "days_since": days_since,
            "as_of": as_of,
        }
    ).sort_values(["days_since", "carrier", "subscriber_pseudo"])
    table = pa.Table.from_pandas(frame, schema=NOTICE_SCHEMA, preserve_index=False)
    return table.replace_schema_metadata(
        {**(table.schema.metadata or {}), DAYS_METADATA: str(days).encode()}
    )


def notice_window(schema: pa.Schema) -> int | None:
    """The look-back window a notices table was made with (``None`` if it does not say, as a
    CSV copy does not)."""
    value = (schema.metadata or {}).get(DAYS_METADATA)
    return int(value) if value is not None and value.isdigit() else None
