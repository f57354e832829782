"""Exposure tracing: who shared a place with an index case, and for how long.

From the ingest store's location events (``carrier, subscriber_pseudo, ts, cell_id``) and cells
(``carrier, cell_id, lat, lon``):

* **Stays.** Each event starts a stay at its cell that lasts until the subscriber's next event,
  at most ``max_dwell`` (a phone is seen only when it uses the network). The index case's stays
  are clipped to the query window ``[start, end)``.
* **Same place.** Two cells are the same place when they lie within ``radius`` metres
  (haversine), whatever their carriers, so subscribers of different carriers meet.
* **Contact.** Another subscriber was in contact at time ``t`` when they stayed at a place that
  the index case was at (or within ``radius`` of) at some moment within ``tolerance`` of ``t``.
  Their contact time is the measure of all such ``t`` (overlaps of one stay with several of the
  index's stays are counted once); a contact has a contact time above zero.

Only pseudonyms are read and written. With pseudonyms rotated by period (``ingest --rotate``),
the index case has one pseudonym per period: query each period with its own pseudonym.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from spreadwatch import duck
from spreadwatch.kst import KST
from spreadwatch.tracing.index import TraceError, ensure_index

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * 3.141592653589793 / 180
_TICK = dt.timedelta(microseconds=1)
#: The longest query window (a few incubation periods).
MAX_WINDOW = dt.timedelta(days=62)
_PARAM = re.compile(r"\$([a-z_0-9]+)")
CONTACT_SCHEMA = pa.schema(
    [
        ("contact_pseudo", pa.string()),
        ("carrier", pa.string()),
        ("first_contact", pa.timestamp("us", tz="UTC")),
        ("last_contact", pa.timestamp("us", tz="UTC")),
        ("contact_seconds", pa.float64()),
        ("places", pa.int64()),
        ("nearest_m", pa.float64()),
    ]
)


def korea_time(moment: dt.datetime) -> dt.datetime:
    """``moment`` as given, or, without a zone, taken as Korea time (KST): how traces read
    the times investigators type."""
    return moment if moment.tzinfo else moment.replace(tzinfo=KST)


@dataclass(frozen=True)
class TraceQuery:
    """One exposure-tracing request."""

    subscriber: str
    start: dt.datetime
    end: dt.datetime
    tolerance: dt.timedelta = dt.timedelta(minutes=15)
    radius_m: float = 250.0
    max_dwell: dt.timedelta = dt.timedelta(minutes=30)

    def __post_init__(self) -> None:
        if not self.subscriber.strip():
            raise TraceError("subscriber: a pseudonym is required")
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise TraceError(f"{name}: expected a time with a zone, like 2020-02-01T08:00Z")
        for name in ("start", "end"):
            if not 1971 <= getattr(self, name).year <= 9998:
                raise TraceError(f"{name}: expected a year from 1971 to 9998")
        if self.end <= self.start:
            raise TraceError(f"end ({self.end.isoformat()}) must be after start")
        if self.end - self.start > MAX_WINDOW:
            raise TraceError(f"the window from start to end is at most {MAX_WINDOW.days} days")
        if self.tolerance < dt.timedelta(0) or self.max_dwell <= dt.timedelta(0):
            raise TraceError("tolerance must be >= 0 and max_dwell > 0")
        if not 0 <= self.radius_m <= 50_000:
            raise TraceError(f"radius_m: expected 0 to 50000 metres, got {self.radius_m}")


@dataclass(frozen=True)
class TraceResult:
    """The contacts of one query, and what was found of the index case."""

    contacts: pa.Table
    index_stays: int
    index_places: int


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _epoch_us(moment: dt.datetime) -> int:
    return _micros(moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC))


def _day_files(index: Path, layout: str, lo: dt.datetime, hi: dt.datetime) -> list[str]:
    """The index files of ``layout`` for the UTC days that ``[lo, hi)`` touches."""
    first, last = lo.astimezone(dt.UTC).date(), (hi - _TICK).astimezone(dt.UTC).date()
    found = []
    for folder in sorted((index / layout).glob("day=*")):
        try:
            day = dt.date.fromisoformat(folder.name.removeprefix("day="))
        except ValueError:
            continue
        if first <= day <= last and (folder / "part.parquet").exists():
            found.append(str(folder / "part.parquet"))
    return found


_HAVERSINE = (
    f"2 * {EARTH_RADIUS_M} * asin(sqrt("
    "pow(sin(radians(c.lat - h.lat) / 2), 2) + "
    "cos(radians(h.lat)) * cos(radians(c.lat)) * pow(sin(radians(c.lon - h.lon) / 2), 2)))"
)


_STAY_END = "least(coalesce(epoch_us(next_ts), epoch_us(ts) + $dwell), epoch_us(ts) + $dwell)"


def trace(
    store: Path, query: TraceQuery, con: duckdb.DuckDBPyConnection | None = None
) -> TraceResult:
    """The contacts of ``query.subscriber`` in ``store`` (``CONTACT_SCHEMA``), longest first."""
    con = con or duck.connect()
    index = ensure_index(store, con)
    duck.run(con, "SET TimeZone = 'UTC'")
    duck.run(con, "SET parquet_metadata_cache = true")
    params = {
        "who": query.subscriber.strip(),
        "t1": _epoch_us(query.start),
        "t2": _epoch_us(query.end),
        "dwell": _micros(query.max_dwell),
        "tol": _micros(query.tolerance),
        "from_ts": query.start - query.max_dwell,
        "to_ts": query.end,
        "lo": query.start - query.tolerance - query.max_dwell,
        "hi": query.end + query.tolerance,
        "dlat": query.radius_m / METRES_PER_DEGREE * 1.01,
        "radius": query.radius_m,
    }

    def sql(statement: str) -> duckdb.DuckDBPyRelation:
        used = {name: params[name] for name in set(_PARAM.findall(statement))}
        return con.sql(statement, params=used)

    mine = _day_files(index, "by_subscriber", params["from_ts"], params["to_ts"])
    if not mine:
        return TraceResult(CONTACT_SCHEMA.empty_table(), 0, 0)
    sql(
        f"""CREATE OR REPLACE TEMP TABLE idx AS
        SELECT carrier, cell_id, greatest(epoch_us(ts), $t1) AS s, least({_STAY_END}, $t2) AS e
        FROM read_parquet({duck.path_list(mine)})
        WHERE subscriber_pseudo = $who AND ts >= $from_ts AND ts < $to_ts
          AND least({_STAY_END}, $t2) > greatest(epoch_us(ts), $t1)"""
    )
    index_stays, index_places = sql(
        "SELECT count(*), count(DISTINCT carrier || ':' || cell_id) FROM idx"
    ).fetchall()[0]
    cells = index / "cells.parquet"
    sql(
        f"""CREATE OR REPLACE TEMP TABLE near AS
        WITH cell AS (SELECT * FROM read_parquet('{cells}')),
        here AS (SELECT DISTINCT c.* FROM cell c SEMI JOIN idx USING (carrier, cell_id))
        SELECT h.carrier AS index_carrier, h.cell_id AS index_cell, c.carrier, c.cell_id,
               c.tile, min({_HAVERSINE}) AS metres
        FROM here h JOIN cell c
          ON abs(c.lat - h.lat) <= $dlat AND abs(c.lon - h.lon) <= $dlat / cos(radians(h.lat))
        WHERE {_HAVERSINE} <= $radius
        GROUP BY ALL"""
    )
    tiles = [row[0] for row in sql("SELECT DISTINCT tile FROM near ORDER BY 1").fetchall()]
    places = _day_files(index, "by_place", params["lo"], params["hi"])
    if not tiles or not places:
        return TraceResult(CONTACT_SCHEMA.empty_table(), int(index_stays), int(index_places))
    their = f"""
        SELECT l.carrier, l.subscriber_pseudo, l.cell_id, epoch_us(l.ts) AS s, {_STAY_END} AS e
        FROM read_parquet({duck.path_list(places)}) l SEMI JOIN near n USING (carrier, cell_id)
        WHERE l.tile IN ({", ".join(str(int(t)) for t in tiles)})
          AND l.ts >= $lo AND l.ts < $hi AND l.subscriber_pseudo <> $who"""
    contacts = sql(
        f"""
        WITH their AS ({their}),
        overlap AS (
            SELECT o.carrier, o.subscriber_pseudo, o.cell_id, n.metres,
                   greatest(o.s, i.s - $tol) AS a, least(o.e, i.e + $tol) AS b
            FROM their o
            JOIN near n ON o.carrier = n.carrier AND o.cell_id = n.cell_id
            JOIN idx i ON i.carrier = n.index_carrier AND i.cell_id = n.index_cell
            WHERE least(o.e, i.e + $tol) > greatest(o.s, i.s - $tol)
        ),
        ordered AS (
            SELECT *, max(b) OVER (
                PARTITION BY carrier, subscriber_pseudo ORDER BY a, b
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
            FROM overlap
        ),
        islands AS (
            SELECT *, sum(CASE WHEN reach IS NULL OR a > reach THEN 1 ELSE 0 END) OVER (
                PARTITION BY carrier, subscriber_pseudo ORDER BY a, b
                ROWS UNBOUNDED PRECEDING) AS island
            FROM ordered
        ),
        merged AS (
            SELECT carrier, subscriber_pseudo, min(a) AS a, max(b) AS b
            FROM islands GROUP BY carrier, subscriber_pseudo, island
        ),
        spans AS (
            SELECT carrier, subscriber_pseudo, min(a) AS a, max(b) AS b,
                   sum(b - a) / 1e6 AS contact_seconds
            FROM merged GROUP BY ALL
        ),
        where_ AS (
            SELECT carrier, subscriber_pseudo, count(DISTINCT cell_id) AS places,
                   min(metres) AS nearest_m
            FROM overlap GROUP BY ALL
        )
        SELECT s.subscriber_pseudo AS contact_pseudo, s.carrier,
               make_timestamp(s.a)::TIMESTAMPTZ AS first_contact,
               make_timestamp(s.b)::TIMESTAMPTZ AS last_contact,
               s.contact_seconds, w.places, w.nearest_m
        FROM spans s JOIN where_ w USING (carrier, subscriber_pseudo)
        ORDER BY contact_seconds DESC, contact_pseudo
        """
    ).to_arrow_table()
    return TraceResult(contacts.cast(CONTACT_SCHEMA), int(index_stays), int(index_places))
