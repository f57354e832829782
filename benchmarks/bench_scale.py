"""Ingest at carrier scale: 100 million (or a billion) synthetic location events under a memory
cap.

``ingest_100m_peak_rss_gb``: peak resident memory of the ``spreadwatch ingest location`` process
(DuckDB capped at ``SPREADWATCH_MEMORY_LIMIT=1GB``, spilling to disk) over
``SPREADWATCH_BENCH_SCALE_EVENTS`` events (default 100 million, about 6 GB of CSV; set it lower
for a quick run). ``ingest_100m_events_per_s``: that run's rows per second of wall time (the
daily flows are counted during the ingest). ``flows_100m_seconds`` and ``flows_100m_peak_rss_gb``:
``spreadwatch flows`` over that store.
Both commands run as child processes so that their memory is measured alone.

The figures are named by the scale: ``_100m`` for the default, ``_1b`` for
``SPREADWATCH_BENCH_SCALE_EVENTS=1000000000`` (the billion-event run: ``ingest_1b_peak_rss_gb``
must stay within 4 GB), else the number of events. From 500 million events on, the delivery is
written as Parquet (``SPREADWATCH_BENCH_SCALE_FORMAT`` chooses: ``csv`` or ``parquet``), a
tenth of the CSV's size. With ``SPREADWATCH_BENCH_SCALE_SPARK=1`` the same delivery is also
ingested on local Spark (``ingest_spark_<scale>_seconds``) for comparison.
``SPREADWATCH_BENCH_SCALE_TRACE=0`` leaves the exposure tracing below out (the billion-event run
measures the ingest and the flows). ``SPREADWATCH_BENCH_SCALE_DELIVERY=DIR`` ingests the delivery a
former run of ``spreadwatch synth --out DIR`` wrote (of that many events) instead of writing one:
a billion events take some ten minutes to write; the synth figures are then left out.

Then exposure tracing over the same store: ``trace_index_100m_seconds`` builds the tracing index
(``spreadwatch trace-index``, same memory cap, ``trace_index_100m_peak_rss_gb``), and
``trace_p95_s_100m`` is the 95th percentile latency of ``TRACE_QUERIES`` trace queries, each for
a random subscriber over a 7-day window from their first event, issued one after another on one
DuckDB connection as a serving process would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EVENTS = int(os.environ.get("SPREADWATCH_BENCH_SCALE_EVENTS", "100000000"))
FORMAT = os.environ.get("SPREADWATCH_BENCH_SCALE_FORMAT") or (
    "parquet" if EVENTS >= 500_000_000 else "csv"
)
ON_SPARK = os.environ.get("SPREADWATCH_BENCH_SCALE_SPARK", "") in ("1", "true")
TRACE = os.environ.get("SPREADWATCH_BENCH_SCALE_TRACE", "1") not in ("0", "false")
DELIVERY = os.environ.get("SPREADWATCH_BENCH_SCALE_DELIVERY", "")


def scale_label(events: int) -> str:
    """``100m``, ``1b``, or the number itself: the suffix of the figures."""
    for size, label in ((1_000_000_000, "1b"), (100_000_000, "100m")):
        if events == size:
            return label
    return str(events)


MEMORY_LIMIT = "1GB"
TRACE_QUERIES = 40
TRACE_WINDOW = dt.timedelta(days=7)


def _child(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``spreadwatch ARGS``; return (wall seconds, peak RSS in GB)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "spreadwatch", *args], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"spreadwatch {' '.join(args)} failed ({process.returncode})")
    return time.perf_counter() - start, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB


def run() -> dict[str, float]:
    env = {
        **os.environ,
        "SPREADWATCH_QUIET": "1",
        "SPREADWATCH_MEMORY_LIMIT": MEMORY_LIMIT,
        "SPREADWATCH_PSEUDONYM_KEY": "00" * 32,
    }
    with tempfile.TemporaryDirectory(prefix="spreadwatch-scale-") as tmp:
        root = Path(tmp)
        env["SPREADWATCH_SPILL_DIR"] = str(root / "spill")
        synthesis = {}
        if DELIVERY:
            raw = Path(DELIVERY) / "raw"
            if not (raw / "cells.csv").is_file():
                raise SystemExit(f"SPREADWATCH_BENCH_SCALE_DELIVERY={DELIVERY}: no raw/cells.csv")
        else:
            synth = ["synth", "--out", str(root / "synth"), "--events", str(EVENTS)]
            synth += ["--days", "14", "--events-format", FORMAT]
            synth_seconds, synth_gb = _child(synth, env)
            raw = root / "synth" / "raw"
            synthesis = {
                f"synth_{scale_label(EVENTS)}_seconds": round(synth_seconds, 1),
                f"synth_{scale_label(EVENTS)}_peak_rss_gb": round(synth_gb, 2),
            }
        store = root / "store"
        n = scale_label(EVENTS)
        seconds, peak_gb = _child(
            [
                "ingest", "location", str(raw / "location_events"),
                "--cells", str(raw / "cells.csv"), "--out", str(store),
            ],
            env,
        )  # fmt: skip
        rows = json.loads((store / "quality.json").read_text())["location"]["rows_in"]
        flows_seconds, flows_gb = _child(["flows", str(store), "--out", str(root / "flows")], env)
        tracing = {}
        if TRACE:
            index_seconds, index_gb = _child(["trace-index", str(store)], env)
            latencies = _trace_latencies(store)
            tracing = {
                f"trace_index_{n}_seconds": round(index_seconds, 1),
                f"trace_index_{n}_peak_rss_gb": round(index_gb, 2),
                f"trace_p95_s_{n}": round(float(np.percentile(latencies, 95)), 3),
                f"trace_median_s_{n}": round(float(np.median(latencies)), 3),
            }
        spark = {}
        if ON_SPARK:
            shutil.rmtree(store)  # room on disk for the same delivery's store on Spark
            try:
                spark_seconds, _ = _child(
                    [
                        "ingest", "location", str(raw / "location_events"),
                        "--cells", str(raw / "cells.csv"), "--out", str(root / "spark-store"),
                        "--engine", "spark",
                    ],
                    env,
                )  # fmt: skip
            except RuntimeError as exc:  # the local figures stand without it
                print(f"bench_scale: the Spark ingest failed: {exc}", file=sys.stderr)
            else:
                spark[f"ingest_spark_{n}_seconds"] = round(spark_seconds, 1)
                spark[f"ingest_spark_{n}_events_per_s"] = round(rows / spark_seconds)
    return {
        **synthesis,
        f"ingest_{n}_peak_rss_gb": round(peak_gb, 2),
        f"ingest_{n}_events_per_s": round(rows / seconds),
        f"ingest_{n}_bench_events": rows,
        f"flows_{n}_seconds": round(flows_seconds, 1),
        f"flows_{n}_peak_rss_gb": round(flows_gb, 2),
        **tracing,
        **spark,
    }


def _trace_latencies(store: Path) -> list[float]:
    """Seconds per trace query, for random subscribers over 7 days from their first event."""
    from spreadwatch import duck
    from spreadwatch.tracing import TraceQuery, trace
    from spreadwatch.tracing.index import source_parts

    con = duck.connect()
    sample = con.sql(
        "SELECT subscriber_pseudo, epoch_us(min(ts)) FROM (SELECT * FROM read_parquet("
        f"{duck.path_list(source_parts(store, 'location'))}) "
        f"USING SAMPLE {TRACE_QUERIES} ROWS (reservoir, 7)) GROUP BY 1"
    ).fetchall()
    latencies = []
    for pseudo, first_us in sample:
        start = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=first_us)
        began = time.perf_counter()
        trace(store, TraceQuery(pseudo, start, start + TRACE_WINDOW), con)
        latencies.append(time.perf_counter() - began)
    return latencies
