"""End-to-end ingest throughput against a bare DuckDB query on the same Parquet, same run.

The synthetic carrier files are first converted to raw Parquet (the ``location_events`` contract
with ``ts`` typed), then:

``ingest_events_per_s``: raw Parquet -> validated, pseudonymised events in the store -> daily OD
flows and hourly presence, rows per second of wall time on this machine, after a warm-up
ingest of one file (which loads the compiled passes once, as a long-running job would). The
cell table is ingested (placed in its regions) before the clock starts: it is reference data a
carrier ingests once, not with each day's events, and the bare query reads it placed too.
``ingest_vs_duckdb_ratio``: that throughput divided by the throughput of one hand-written DuckDB
query computing the same OD table from the same raw Parquet (join to the placed cells,
consecutive events of a subscriber in different regions, group by KST date): what a bare SQL job
with no validation, quarantine, pseudonyms or presence would reach.
``synth_events_per_s``: the generator writing location events as CSV.

The two are timed in turns, ``SPREADWATCH_BENCH_INGEST_ROUNDS`` times (default 3, at least 1;
each round ingests into a store of its own): the figures are the rounds' medians, so that one
slow round of either (the machine is shared) does not decide them.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from spreadwatch import duck
from spreadwatch.fusion import running
from spreadwatch.fusion.flows import build_flows
from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

EVENTS = int(os.environ.get("SPREADWATCH_BENCH_EVENTS", "4000000"))
ROUNDS = max(1, int(os.environ.get("SPREADWATCH_BENCH_INGEST_ROUNDS", "3")))
KEY = bytes(range(32))

TO_PARQUET_SQL = """
COPY (
  SELECT carrier, subscriber_id, CAST(try_strptime(ts, '%Y-%m-%dT%H:%M:%SZ') AS TIMESTAMP) AS ts,
         cell_id
  FROM read_csv('{csv}', all_varchar = true, header = true, quote = '')
) TO '{out}' (FORMAT parquet)
"""

BARE_OD_SQL = """
COPY (
  WITH placed AS (
    SELECT e.carrier, e.subscriber_id, e.ts, e.cell_id, c.region_code
    FROM read_parquet('{raw}') e JOIN read_parquet('{cells}') c USING (carrier, cell_id)
  ), ordered AS (
    SELECT region_code,
           lag(region_code) OVER (PARTITION BY carrier, subscriber_id ORDER BY ts, cell_id)
             AS prev_region,
           CAST(ts + INTERVAL 9 HOUR AS DATE) AS date
    FROM placed
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
        parquet = root / "raw-parquet"
        parquet.mkdir()
        con = duck.connect()
        for csv in sorted((raw / "location_events").rglob("*.csv")):
            out = parquet / f"{csv.parent.name}-{csv.stem}.parquet"
            duck.run(con, TO_PARQUET_SQL.format(csv=csv, out=out))
        # warm-up: one file through the same pipeline, so the compiled passes are loaded (as
        # in a carrier's long-running job) and not counted against the throughput
        first_file = sorted(parquet.glob("*.parquet"))[:1]
        ingest_sources(
            root / "warm-up",
            {"cells": [raw / "cells.csv"], "location": first_file},
            KeyRing(KEY),
            follow=running.follow,
        )
        ratios, throughputs = [], []
        for n in range(ROUNDS):
            rows, ours_s = _ingest_round(raw, parquet, root / f"round-{n}")
            sql = BARE_OD_SQL.format(
                raw=parquet / "*.parquet",
                cells=root / f"round-{n}" / "store" / "cells" / "*.parquet",
                out=root / f"round-{n}" / "bare.parquet",
            )
            bare_s = _timed(lambda sql=sql: duck.run(con, sql))
            ratios.append(bare_s / ours_s)
            throughputs.append(rows / ours_s)
            shutil.rmtree(root / f"round-{n}")  # the next round's disk as this one's
    return {
        "synth_events_per_s": round(rows / synth_s),
        "ingest_events_per_s": round(statistics.median(throughputs)),
        "ingest_vs_duckdb_ratio": round(statistics.median(ratios), 3),
        "ingest_bench_events": rows,
    }


def _ingest_round(raw: Path, parquet: Path, root: Path) -> tuple[int, float]:
    """The pipeline into a new store under ``root``: the rows read and the seconds taken."""
    store = root / "store"
    # the cell table is reference data, ingested once (the bare query reads it placed too)
    ingest_sources(store, {"cells": [raw / "cells.csv"]}, KeyRing(KEY))
    quality: dict = {}

    def pipeline() -> None:
        quality.update(
            ingest_sources(
                store,
                {"location": [parquet]},
                KeyRing(KEY),
                follow=running.follow,  # as the command line does
            )
        )
        build_flows(store, root / "flows")

    seconds = _timed(pipeline)
    location = quality["location"]
    rows = location["rows_in"]
    accounted = location["rows_kept"] + location["rows_quarantined"]
    assert rows == accounted + location["duplicates_removed"]
    return rows, seconds
