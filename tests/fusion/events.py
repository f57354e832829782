"""Synthetic pseudonymised location events in the ``events`` contract, with the awkward cases.

Independent of synth/ and ingest/: the fusion only sees this contract. Subscribers stay near a
home region at night and a work region by day, and wander. Awkward on purpose:

* timestamps with microseconds, exactly on the hour and at ``hh:59:59.999999`` (also across
  15:00 UTC, which is midnight KST);
* two events of one subscriber at the same instant in different cells (often regions);
* one pseudonym used by two carriers (different people: windows partition by carrier too).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EVENTS_SCHEMA = pa.schema(
    [
        ("carrier", pa.string()),
        ("subscriber_pseudo", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("region_code", pa.string()),
        ("cell_id", pa.string()),
    ]
)
#: 90 si-gun-gu-like codes; ``make_events`` uses the first ``regions``.
REGION_CODES = np.array(
    [
        f"{sido}{gu:03d}"
        for sido in (11, 21, 22, 23, 24, 25, 26, 31, 32, 39)
        for gu in range(10, 91, 10)
    ]
)
CARRIERS = np.array(["SKT", "KT", "LGU"])
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def make_events(
    subscribers: int,
    days: int,
    seed: int,
    regions: int = 10,
    start: dt.date = dt.date(2020, 2, 1),
) -> pa.Table:
    """About ``subscribers * days * 7.1`` events, without exact duplicates."""
    rng = np.random.default_rng(seed)
    codes = REGION_CODES[:regions]
    carrier = rng.integers(0, len(CARRIERS), subscribers)
    pseudo = np.array([f"{x:016x}" for x in rng.integers(0, 2**62, subscribers)])
    shared = max(1, subscribers // 100)  # these reuse the next subscriber's pseudonym
    pseudo[:shared] = pseudo[1 : shared + 1]
    carrier[:shared] = (carrier[1 : shared + 1] + 1) % len(CARRIERS)
    home = rng.integers(0, len(codes), subscribers)
    work = rng.integers(0, len(codes), subscribers)

    per_day = rng.poisson(6.0, (subscribers, days)) + 1
    sub = np.repeat(np.repeat(np.arange(subscribers), days), per_day.ravel())
    day = np.repeat(np.tile(np.arange(days), subscribers), per_day.ravel())
    n = sub.size
    micros = rng.integers(0, DAY_US, n)
    kind = rng.random(n)
    micros = np.where(kind < 0.05, micros // HOUR_US * HOUR_US, micros)  # on the hour
    micros = np.where(
        (kind >= 0.05) & (kind < 0.1), (micros // HOUR_US + 1) * HOUR_US - 1, micros
    )  # last microsecond of an hour
    micros = np.minimum(micros, DAY_US - 1)
    epoch_day = (start - dt.date(1970, 1, 1)).days
    ts = (epoch_day + day) * DAY_US + micros
    kst_hour = (ts // HOUR_US + 9) % 24
    by_day = (kst_hour >= 9) & (kst_hour < 18)
    region = np.where(by_day, work[sub], home[sub])
    wander = rng.random(n) < 0.25
    region = np.where(wander, rng.integers(0, len(codes), n), region)
    cell = rng.integers(0, 3, n)

    twins = np.flatnonzero(rng.random(n) < 0.03)  # same instant, another cell
    sub = np.concatenate([sub, sub[twins]])
    ts = np.concatenate([ts, ts[twins]])
    twin_region = np.where(rng.random(twins.size) < 0.7, rng.integers(0, len(codes), twins.size), 0)
    region = np.concatenate([region, (region[twins] + twin_region) % len(codes)])
    cell = np.concatenate([cell, (cell[twins] + 1) % 3])

    carriers = CARRIERS[carrier[sub]]
    regions = codes[region]
    cell_ids = pc.binary_join_element_wise(
        pa.array(carriers), pa.array(regions), pa.array(cell.astype(str)), "-"
    )
    table = pa.table(
        {
            "carrier": pa.array(carriers),
            "subscriber_pseudo": pa.array(pseudo[sub]),
            "ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "region_code": pa.array(regions),
            "cell_id": cell_ids,
        },
        schema=EVENTS_SCHEMA,
    )
    # A cell lies in one region (its ID names it); the contract holds no exact duplicates.
    frame = table.to_pandas().drop_duplicates(["carrier", "subscriber_pseudo", "ts", "cell_id"])
    frame = frame.sample(frac=1.0, random_state=seed)  # no helpful input order
    return pa.Table.from_pandas(frame, schema=EVENTS_SCHEMA, preserve_index=False)


def as_tuples(events: pa.Table) -> set[tuple]:
    """Events as ``(carrier, pseudo, naive UTC datetime, region, cell)`` for tests/ingest's
    brute-force reference."""
    columns = [events[name].to_pylist() for name in EVENTS_SCHEMA.names]
    return {
        (c, p, ts.replace(tzinfo=None), r, cell) for c, p, ts, r, cell in zip(*columns, strict=True)
    }
