"""Run every benchmark module and merge its figures into ``bench-results.json`` at the repo root."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results.json"


def main(selected: list[str]) -> int:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
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
