"""Risk levels per region and day: four tiers fusing five factors, each level explained.

Each factor's value earns 0 to 3 points by the thresholds of :data:`FACTORS`; the score is the
weighted mean of the points of the factors known for that region and day (weights renormalised
over them), and the level follows from the score:

==========  ==============  =====================================================
level       score           meaning
==========  ==============  =====================================================
1 low       below 0.75      sporadic cases, no growth
2 moderate  0.75 to 1.5     local transmission or growth starting
3 high      1.5 to 2.25     sustained transmission
4 very high 2.25 and above  widespread, growing transmission
==========  ==============  =====================================================

A region whose incidence alone earns 3 points is at least at level 3. Every row carries each
factor's value, points and contribution to the score, and a sentence naming the main factors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class Factor:
    """A risk factor: its weight and the values at which it earns 1, 2 and 3 points."""

    name: str
    label: str
    weight: float
    thresholds: tuple[float, float, float]
    unit: str

    def points(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.thresholds), values, side="right").astype(float)


FACTORS: tuple[Factor, ...] = (
    Factor("incidence", "incidence", 0.35, (1.0, 5.0, 20.0), "daily cases per 100k, 7-day mean"),
    Factor("rt", "Rt", 0.25, (0.9, 1.1, 1.5), "posterior mean, windows with at least 12 cases"),
    Factor(
        "growth", "forecast growth", 0.15, (0.9, 1.1, 1.5), "forecast next 7 days / last 7 days"
    ),
    Factor(
        "importation",
        "importation risk",
        0.10,
        (0.1, 0.5, 2.0),
        "expected infected arrivals per 100k, last 7 days",
    ),
    Factor(
        "household",
        "household fever signal",
        0.15,
        (1.0, 2.0, 3.0),
        "early-warning score of households with a lasting fever, against the region's baseline",
    ),
)
LEVELS = {1: "low", 2: "moderate", 3: "high", 4: "very high"}
LEVEL_EDGES = (0.75, 1.5, 2.25)


def incidence_per_100k(cases: pd.DataFrame, population: Mapping[str, float]) -> pd.DataFrame:
    """7-day mean daily cases per 100,000 per ``date, region_code`` (from 7 reported days)."""
    wide = cases.pivot_table(index="date", columns="region_code", values="confirmed", aggfunc="sum")
    wide = wide.sort_index().asfreq("D")
    rolled = wide.rolling(7, min_periods=7).mean()
    per = rolled.div(pd.Series(population).reindex(wide.columns), axis=1) * 1e5
    return per.stack().dropna().rename("incidence").reset_index()


def household_signal(signals: pd.DataFrame) -> pd.DataFrame:
    """The early-warning household score per ``date, region_code`` (column ``household``)."""
    from spreadwatch.risk.early_warning import household_scores, scores_long

    return scores_long(household_scores(signals), "household")


def risk_levels(factors: pd.DataFrame) -> pa.Table:
    """Levels from a table of ``date, region_code`` and any of the factor columns (NaN where
    unknown); see the module docstring."""
    frame = factors.copy()
    known_weight = np.zeros(len(frame))
    score = np.zeros(len(frame))
    for factor in FACTORS:
        if factor.name not in frame:
            frame[factor.name] = np.nan
        values = frame[factor.name].to_numpy(dtype=float)
        known = np.isfinite(values)
        points = np.where(known, factor.points(np.nan_to_num(values)), np.nan)
        frame[f"{factor.name}_points"] = points
        known_weight += np.where(known, factor.weight, 0.0)
        score += np.where(known, factor.weight * np.nan_to_num(points), 0.0)
    for factor in FACTORS:
        points = frame[f"{factor.name}_points"].to_numpy(dtype=float)
        frame[f"{factor.name}_contribution"] = np.where(
            np.isfinite(points),
            factor.weight * np.nan_to_num(points) / np.maximum(known_weight, 1e-12),
            np.nan,
        )
    frame["score"] = np.where(known_weight > 0, score / np.maximum(known_weight, 1e-12), np.nan)
    level = 1 + np.searchsorted(
        np.asarray(LEVEL_EDGES), np.nan_to_num(frame["score"]), side="right"
    )
    level = np.where(
        frame["incidence_points"].to_numpy(dtype=float) >= 3, np.maximum(level, 3), level
    )
    frame["level"] = np.where(known_weight > 0, level, 0).astype(np.int8)
    frame["level_name"] = frame["level"].map({0: "unknown", **LEVELS})
    frame["explanation"] = [_explain(row) for row in frame.to_dict("records")]
    frame = frame[frame["level"] > 0].sort_values(["date", "region_code"])
    return pa.Table.from_pandas(frame, preserve_index=False)


def _explain(row: dict) -> str:
    parts = []
    for factor in sorted(FACTORS, key=lambda f: -np.nan_to_num(row.get(f"{f.name}_contribution"))):
        value = row.get(factor.name)
        if value is None or not np.isfinite(value):
            continue
        parts.append(
            f"{factor.label} {value:.2f} ({int(row[f'{factor.name}_points'])} points, "
            f"{row[f'{factor.name}_contribution']:.2f} of the score)"
        )
    if not parts:
        return "no factor known"
    name = LEVELS.get(int(row["level"])) if row.get("level") else None
    lead = f"level {int(row['level'])} ({name}), score {row['score']:.2f}: " if name else ""
    return lead + "; ".join(parts)
