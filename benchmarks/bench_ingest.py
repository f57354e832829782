"""End-to-end ingest throughput against a bare DuckDB GROUP BY on the same data, same run.

``ingest_events_per_s``: raw location CSV -> validated, pseudonymised events -> daily OD flows and
hourly presence, per second of wall time. ``ingest_vs_duckdb_ratio``: that throughput divided by
the throughput of one DuckDB query computing the same OD table (consecutive events of a
subscriber in different regions) straight from an events Parquet file that already carries
regions, i.e. the floor a hand-written SQL job would reach. ``synth_events_per_s``: the
generator writing location events.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from spreadwatch import duck, fusion
from spreadwatch.pipeline import events_glob, ingest_sources
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

EVENTS = int(os.environ.get("SPREADWATCH_BENCH_EVENTS", "4000000"))
KEY = bytes(range(32))

BARE_OD_SQL = """
COPY (
  WITH ordered AS (
    SELECT region_code,
           lag(region_code) OVER (PARTITION BY carrier, subscriber_pseudo ORDER BY ts, cell_id)
             AS prev_region,
           CAST(timezone('Asia/Seoul', ts) AS DATE) AS date
    FROM read_parquet('{events}')
  )
  SELECT date, prev_region AS origin, region_code AS dest, count(*) AS trips
  FROM ordered WHERE prev_region IS NOT NULL AND prev_region <> region_code
  GROUP BY ALL
) TO '{out}' (FORMAT parquet)
"""


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run() -> dict[str, float]:
    os.environ.setdefault("SPREADWATCH_QUIET", "1")
    with tempfile.TemporaryDirectory(prefix="spreadwatch-bench-") as tmp:
        root = Path(tmp)
        config = SynthConfig.for_events(EVENTS, days=7, seed=1)
        synth_s = _timed(lambda: generate(config, root / "synth"))
        raw = root / "synth" / "raw"
        quality: dict = {}

        def pipeline() -> None:
            quality.update(
                ingest_sources(
                    root / "ingest",
                    {"cells": [raw / "cells.csv"], "location": [raw / "location_events"]},
                    KeyRing(KEY),
                )
            )
            con = fusion.connect()
            events = con.read_parquet(events_glob(root / "ingest"))
            con.to_parquet(fusion.od_flows(events), root / "od.parquet")
            con.to_parquet(fusion.presence(events), root / "presence.parquet")

        ours_s = _timed(pipeline)
        location = quality["location"]
        rows = location["rows_in"]
        accounted = location["rows_kept"] + location["rows_quarantined"]
        assert rows == accounted + location["duplicates_removed"]
        con = duck.connect()
        sql = BARE_OD_SQL.format(events=events_glob(root / "ingest"), out=root / "bare.parquet")
        bare_s = _timed(lambda: duck.run(con, sql))
    return {
        "synth_events_per_s": round(rows / synth_s),
        "ingest_events_per_s": round(rows / ours_s),
        "ingest_vs_duckdb_ratio": round((rows / ours_s) / (rows / bare_s), 3),
        "ingest_bench_events": rows,
    }
