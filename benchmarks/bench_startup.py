"""Start-up as a user meets it, each in a fresh process.

* ``cli_help_seconds``: ``spreadwatch --help`` (median of 5; goal <= 0.3), beside
  ``python_startup_seconds``, the interpreter alone (``python -c pass``) in the same run.
* ``rt_small_seconds``: ``spreadwatch rt`` on one region's 60 days (goal <= 1.5).
* ``first_run_over_warm``: a simulation right after the kernels were cached the way
  ``make env`` does (``python -m spreadwatch.warmup`` into an empty cache) over the same
  simulation run again (goal <= 1.5).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).with_name("spreadwatch")


def _seconds(command: list[str], env: dict | None = None, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, timeout=1800)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def run() -> dict[str, float]:
    figures = {
        "python_startup_seconds": round(_seconds([sys.executable, "-c", "pass"], repeat=5), 3),
        "cli_help_seconds": round(_seconds([str(EXE), "--help"], repeat=5), 3),
    }
    with tempfile.TemporaryDirectory() as folder:
        cases = Path(folder) / "cases.csv"
        rng = np.random.default_rng(0)
        counts = rng.poisson(20 * np.exp(0.05 * np.arange(60)))
        days = np.arange("2020-02-01", "2020-04-01", dtype="datetime64[D]")
        lines = [f"11010,{d},{c}" for d, c in zip(days, counts, strict=True)]
        cases.write_text("region_code,date,confirmed\n" + "\n".join(lines) + "\n")
        out = Path(folder) / "rt.csv"
        figures["rt_small_seconds"] = round(
            _seconds([str(EXE), "rt", "--cases", str(cases), "--out", str(out)], repeat=3), 2
        )
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(folder) / "numba")}
        subprocess.run(
            [sys.executable, "-m", "spreadwatch.warmup"], check=True, env=env, timeout=1800
        )
        simulate = [str(EXE), "simulate", str(ROOT / "examples" / "korea-seir.toml")]
        simulate += ["--out", str(Path(folder) / "sim")]
        first = _seconds(simulate, env)
        warm = _seconds(simulate, env, repeat=2)
        print(f"simulate: first {first:.2f} s, warm {warm:.2f} s")
        figures["first_run_over_warm"] = round(first / warm, 2)
    return figures
