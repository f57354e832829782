"""The tracing index: a store's location events laid out for fast lookups.

Two copies of every event, each with its subscriber's next event time (``next_ts``, so a stay
is known without reading the subscriber's other events), partitioned by UTC day so a query reads
only the days of its window:

* ``by_place/day=D/*.parquet`` sorted by ``tile, ts``: who was at a place, when;
* ``by_subscriber/day=D/*.parquet`` sorted by ``subscriber_pseudo, ts``: where one pseudonym was;

with small row groups whose min/max statistics let a lookup skip nearly all of a day. ``tile``
is a grid square of about 1.1 km (0.01 degree of latitude by 0.0125 of longitude) holding the
cell, from ``cells.parquet`` (the store's cells with their tiles).

The index belongs to one state of the store: ``fingerprint`` names the location and cell parts
it was built from. When the store has changed (a new ingest), :func:`ensure_index` rebuilds it,
into a temporary folder that replaces the old one only when complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import tempfile
from pathlib import Path

import duckdb

from spreadwatch import duck
from spreadwatch.progress import step, track

INDEX = "trace_index"
FINGERPRINT = "fingerprint"
ROW_GROUP_ROWS = 8192
TILE_LAT_DEG = 0.01
TILE_LON_DEG = 0.0125
TILE_SQL = (
    f"(floor((lat + 90) / {TILE_LAT_DEG})::BIGINT * 100000 "
    f"+ floor((lon + 180) / {TILE_LON_DEG})::BIGINT)"
)
LAYOUTS = {"by_place": "tile, ts", "by_subscriber": "subscriber_pseudo, ts"}


class TraceError(ValueError):
    """A trace that cannot run: a bad parameter or a store without the tables it needs."""


def source_parts(store: Path, source: str) -> list[Path]:
    """The committed parts of one ingest-store source (an error when there are none)."""
    parts = sorted((Path(store) / source).glob("*.parquet"))
    if not parts:
        raise TraceError(f"{store}: no {source} in this store (spreadwatch ingest {source} ...)")
    return parts


def fingerprint(store: Path) -> str:
    """A digest of the names of the location and cell parts (names carry content hashes)."""
    names = [p.name for s in ("location", "cells") for p in source_parts(store, s)]
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def index_folder(store: Path) -> Path:
    return Path(store) / INDEX


def is_current(store: Path) -> bool:
    """Whether the index exists and was built from the store as it is now."""
    stamp = index_folder(store) / FINGERPRINT
    return stamp.exists() and stamp.read_text().strip() == fingerprint(store)


def build_index(store: Path, con: duckdb.DuckDBPyConnection | None = None) -> Path:
    """Build the index of ``store`` (replacing any earlier one); returns its folder."""
    con = con or duck.connect()
    duck.run(con, "SET TimeZone = 'UTC'")
    store = Path(store)
    stamp = fingerprint(store)
    final = index_folder(store)
    tmp = Path(tempfile.mkdtemp(prefix=f"{INDEX}.tmp-", dir=store))
    locations, cells = source_parts(store, "location"), source_parts(store, "cells")
    duck.run(
        con,
        f"COPY (SELECT DISTINCT carrier, cell_id, lat, lon, {TILE_SQL} AS tile "
        f"FROM read_parquet({duck.path_list(cells)})) "
        f"TO {duck.quote(str(tmp / 'cells.parquet'))} (FORMAT parquet)",
    )
    staged = tmp / "staged"
    with step("tracing index: each event with its next one, by day"):
        duck.run(
            con,
            f"""COPY (
                SELECT l.*, c.tile FROM (
                    SELECT carrier, cell_id, subscriber_pseudo, ts,
                           lead(ts) OVER (PARTITION BY carrier, subscriber_pseudo
                                          ORDER BY ts, cell_id) AS next_ts,
                           CAST(timezone('UTC', ts) AS DATE) AS day
                    FROM read_parquet({duck.path_list(locations)})
                ) l
                LEFT JOIN read_parquet({duck.quote(str(tmp / "cells.parquet"))}) c
                USING (carrier, cell_id)
            ) TO {duck.quote(str(staged))} (FORMAT parquet, PARTITION_BY (day))""",
        )
    days = sorted(staged.glob("day=*"))
    for day in track(days, "tracing index: sorting the days"):
        for layout, order in LAYOUTS.items():
            target = tmp / layout / day.name
            target.mkdir(parents=True)
            duck.run(
                con,
                f"""COPY (
                    SELECT carrier, cell_id, subscriber_pseudo, ts, next_ts, tile
                    FROM read_parquet({duck.quote(str(day / "*.parquet"))}) ORDER BY {order}
                ) TO {duck.quote(str(target / "part.parquet"))}
                (FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP_ROWS})""",
            )
    shutil.rmtree(staged)
    (tmp / FINGERPRINT).write_text(stamp + "\n")
    old = store / f"{INDEX}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def ensure_index(store: Path, con: duckdb.DuckDBPyConnection | None = None) -> Path:
    """The store's index, built or rebuilt first when missing or out of date (one builder at a
    time: others wait for it and use its index)."""
    if is_current(store):
        return index_folder(store)
    with (Path(store) / f"{INDEX}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_current(store):
            for leftover in Path(store).glob(f"{INDEX}.tmp-*"):  # of a build that was killed
                shutil.rmtree(leftover, ignore_errors=True)
            build_index(store, con)
    return index_folder(store)
