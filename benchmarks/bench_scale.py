"""Ingest at carrier scale: 100 million synthetic location events under a memory cap.

``ingest_100m_peak_rss_gb``: peak resident memory of the ``spreadwatch ingest location`` process
(DuckDB capped at ``SPREADWATCH_MEMORY_LIMIT=1GB``, spilling to disk) over
``SPREADWATCH_BENCH_SCALE_EVENTS`` events (default 100 million, about 6 GB of CSV; set it lower
for a quick run). ``ingest_100m_events_per_s``: that run's rows per second of wall time.
Both commands run as child processes so that their memory is measured alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVENTS = int(os.environ.get("SPREADWATCH_BENCH_SCALE_EVENTS", "100000000"))
MEMORY_LIMIT = "1GB"


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
        synth = ["synth", "--out", str(root / "synth"), "--events", str(EVENTS), "--days", "14"]
        _child(synth, env)
        raw = root / "synth" / "raw"
        store = root / "store"
        seconds, peak_gb = _child(
            [
                "ingest", "location", str(raw / "location_events"),
                "--cells", str(raw / "cells.csv"), "--out", str(store),
            ],
            env,
        )  # fmt: skip
        rows = json.loads((store / "quality.json").read_text())["location"]["rows_in"]
    return {
        "ingest_100m_peak_rss_gb": round(peak_gb, 2),
        "ingest_100m_events_per_s": round(rows / seconds),
        "ingest_100m_bench_events": rows,
    }
