"""Property-based fuzzing of every parser of outside input, longer than in the test suite.

``fuzz_cases_without_crash``: inputs hypothesis made for the parsers of
``tests/fuzz_targets.py`` (platform messages, voice requests, run configs, case files and their
ingest) that each answered or raised its own named error; a crash stops the benchmark with the
failing input. ``SPREADWATCH_BENCH_FUZZ_EXAMPLES`` sets the examples per parser (default 500).
"""

from __future__ import annotations

import contextlib
import os

from hypothesis import HealthCheck, given, settings
from tests.fuzz_targets import TARGETS


def _fuzz(target, examples: int) -> int:
    """Feed ``target`` ``examples`` inputs; the number it survived (a crash raises)."""
    count = [0]

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(target.inputs)
    def survives(value):
        with contextlib.suppress(*target.allowed):
            target.run(value)
        count[0] += 1

    survives()
    return count[0]


def run() -> dict[str, float]:
    os.environ["SPREADWATCH_QUIET"] = "1"
    examples = int(os.environ.get("SPREADWATCH_BENCH_FUZZ_EXAMPLES", "500"))
    total = 0
    for name, target in sorted(TARGETS.items()):
        count = _fuzz(target, examples if name != "cases ingest" else max(10, examples // 10))
        print(f"{name}: {count} inputs, no crash")
        total += count
    return {"fuzz_cases_without_crash": total}
