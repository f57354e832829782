"""The carrier path on Spark against the same ingest on DuckDB, same delivery, same run.

Two messy synthetic deliveries (``SPREADWATCH_BENCH_SPARK_EVENTS`` location events, default
one million, and three times as many, with planted defects) are each ingested into one store by
the local ingest and into another by the Spark ingest (local mode, ``local[2]``):

``ingest_spark_parity``: 1 when both stores hold the same rows, the same quarantine with the
same reasons and the same accounting per file, else 0 (``tests/ingest/test_on_spark.py``
asserts the same, on more kinds of delivery and through Spark Connect).
``spark_ingest_events_per_core_s``: the events the Spark ingest adds per second and core
(hashing, checking and pseudonymising on the executors, repeats across files, writing parts):
the difference in events of the two deliveries over the difference in their wall times, per
core, so that the jobs' fixed cost drops out; the figure a cluster's size follows from
(docs/ingest-and-fusion.md).
``spark_ingest_fixed_s``: that fixed cost (scheduling three jobs, starting Python workers).
``spark_flows_events_per_core_s``: the same for ``spreadwatch flows --engine spark`` (OD
flows, presence, commuting) on the store the Spark ingest made.
``spark_vs_duckdb_ingest_speed``: the local ingest's time over the Spark one's on the larger
delivery, on one machine (below 1: Spark's fixed cost and staging are not won back here).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from spreadwatch.fusion.flows import build_flows
from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.ingest.store import Store
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.spark_sessions import running
from spreadwatch.synth import SynthConfig, generate

EVENTS = int(os.environ.get("SPREADWATCH_BENCH_SPARK_EVENTS", "1000000"))
KEY = bytes(range(32))
CORES = 2  # local[2]


def _held(root: Path) -> tuple:
    """What a store holds, independent of how its rows are cut into parts."""
    with Store(root) as store:
        tables = []
        for quarantine in (False, True):
            table = store.read("location", quarantine=quarantine)
            tables.append(table.sort_by([(c, "ascending") for c in table.column_names]))
        records = sorted(
            (r.sha256, r.rows_in, r.rows_kept, r.rows_quarantined, r.duplicates_removed,
             sorted(r.quarantined_by_reason.items()))
            for r in store.records("location")
        )  # fmt: skip
    return tables, records


def run() -> dict[str, float]:
    os.environ.setdefault("SPREADWATCH_QUIET", "1")
    with running() as session:
        _measure(session, EVENTS // 10, seed=10)  # warm-up: the JVM, Python workers, imports
        small = _measure(session, EVENTS, seed=11)
        large = _measure(session, 3 * EVENTS, seed=12)
    per_core = (large["rows"] - small["rows"]) / (large["spark"] - small["spark"]) / CORES
    fixed = small["spark"] - small["rows"] / (per_core * CORES)
    flows = (large["rows"] - small["rows"]) / (large["flows"] - small["flows"]) / CORES
    return {
        "ingest_spark_parity": int(small["same"] and large["same"]),
        "spark_ingest_events_per_core_s": round(per_core),
        "spark_ingest_fixed_s": round(fixed, 2),
        "spark_flows_events_per_core_s": round(flows),
        "spark_vs_duckdb_ingest_speed": round(large["duckdb"] / large["spark"], 3),
        "spark_bench_events": large["rows"],
    }


def _measure(session, events: int, seed: int) -> dict:
    """Times of the local and the Spark ingest of one delivery, and whether the stores agree."""
    with tempfile.TemporaryDirectory(prefix="spreadwatch-bench-spark-") as tmp:
        root = Path(tmp)
        config = SynthConfig.for_events(events, days=7, seed=seed, messy_fraction=0.01)
        generate(config, root / "synth")
        raw = root / "synth" / "raw"
        ring = KeyRing(KEY)
        times = {}
        for name, spark in (("duckdb", None), ("spark", session)):
            ingest_sources(root / name, {"cells": [raw / "cells.csv"]}, ring)
            start = time.perf_counter()
            location = {"location": [raw / "location_events"]}
            quality = ingest_sources(root / name, location, ring, spark=spark)
            times[name] = time.perf_counter() - start
        start = time.perf_counter()
        build_flows(root / "spark", root / "flows", engine="spark")
        times["flows"] = time.perf_counter() - start
        (duck_tables, duck_records), (spark_tables, spark_records) = (
            _held(root / "duckdb"),
            _held(root / "spark"),
        )
        same = duck_records == spark_records and all(
            a.cast(b.schema).equals(b) for a, b in zip(duck_tables, spark_tables, strict=True)
        )
    rows = quality["location"]["rows_in"]
    print(f"   {rows:,} events: DuckDB {times['duckdb']:.1f} s, Spark local[2] "
          f"{times['spark']:.1f} s, same store: {same}; "
          f"flows on Spark {times['flows']:.1f} s")  # fmt: skip
    return {"rows": rows, "same": same, **times}
