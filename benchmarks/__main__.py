"""Run every benchmark module and merge its figures into ``bench-results.json`` at the repo root."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

from spreadwatch import allocator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results.json"


def cpu() -> dict[str, str]:
    """The CPU the figures were measured on: model and the vector extensions that matter."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    vector = [f for f in ("avx2", "avx512f", "fma") if f in flags]
    return {"cpu_model": model, "cpu_flags": " ".join(vector) or "none"}


def main(selected: list[str]) -> int:
    allocator.settle()  # the process's allocator as the command line sets it
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(cpu())
    print(f"CPU: {results['cpu_model']} ({results['cpu_flags']})")
    package = Path(__file__).parent
    modules = pkgutil.iter_modules([str(package)])
    names = sorted(m.name for m in modules if m.name.startswith("bench_"))
    for name in names:
        if selected and name not in selected:
            continue
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        figures = module.run()
        for key, value in figures.items():
            print(f"   {key} = {value}")
        results.update(figures)
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
