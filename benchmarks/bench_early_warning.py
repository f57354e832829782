"""Early warning from homes on synthetic truth, over several seeds.

``early_warning_lead_days``: the median over seeds of each seed's median lead, in days, of the
household alarm over the case alarm in regions with an outbreak where both fire
(``benchmarks/early_warning_world.py`` describes the world). ``early_warning_false_alarm_rate``:
the mean over seeds of the share of watched regions whose household detector alarmed without an
outbreak (or before it began). ``early_warning_detected_regions``: outbreak regions with both
alarms, summed over seeds. ``SPREADWATCH_BENCH_EW_SEEDS`` sets the number of seeds (default 5).
"""

from __future__ import annotations

import os

from benchmarks.early_warning_world import evaluate_seeds

SEEDS = int(os.environ.get("SPREADWATCH_BENCH_EW_SEEDS", "5"))


def run() -> dict[str, float]:
    table = evaluate_seeds(list(range(1, SEEDS + 1)))
    print(table.to_string(index=False))
    return {
        "early_warning_lead_days": round(float(table["median_lead_days"].median()), 1),
        "early_warning_false_alarm_rate": round(float(table["false_alarm_rate"].mean()), 3),
        "early_warning_detected_regions": int(table["detected"].sum()),
        "early_warning_seeds": SEEDS,
    }
