"""Early warning from homes: a per-region anomaly detector on household signals, and the same
detector on reported cases to compare against.

For a daily series ``v`` of one region, the expected value of day ``t`` is the mean of the
same weekday over the previous four weeks (weekday seasonality: commuters' homes are empty on
weekdays), or of the previous ``baseline_days`` days while fewer than two such weekdays are
known; the spread is the standard deviation of the previous ``baseline_days`` days (at least
``floor``). Both skip the last ``guard`` days, so a rise does not hide itself. The score is
``z = (v - expected) / spread``, computed once ``min_baseline`` earlier days are known.

* **household score**: ``max(z_fever, (z_fever + z_stay) / sqrt 2)`` of the fever rate and the
  stay-home index of the fusion ``household_signals`` table (suppressed rows unknown);
* **case score**: ``z`` of the daily reported cases (floor 1 case), counted only on days with
  at least ``min_cases`` cases.

A region alarms on the second of two consecutive days with a score of at least ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SQRT2 = np.sqrt(2.0)


@dataclass(frozen=True)
class Detector:
    baseline_days: int = 28
    guard: int = 2
    min_baseline: int = 7
    threshold: float = 3.0
    consecutive: int = 2

    def scores(self, wide: pd.DataFrame, floor: float) -> pd.DataFrame:
        """``z`` per date (rows, daily) and region (columns); NaN while the baseline is short."""
        wide = wide.sort_index().asfreq("D")
        past = wide.shift(self.guard + 1)
        trailing = past.rolling(self.baseline_days, min_periods=self.min_baseline)
        expected = trailing.mean()
        weekday = wide.index.day_of_week
        same_day = pd.DataFrame(index=wide.index, columns=wide.columns, dtype=float)
        known = pd.DataFrame(0, index=wide.index, columns=wide.columns)
        for day in range(7):
            rows = weekday == day
            block = wide[rows].shift(1)  # earlier same weekdays (a week apart)
            same_day[rows] = block.rolling(4, min_periods=1).mean().to_numpy()
            known[rows] = block.rolling(4, min_periods=1).count().to_numpy()
        expected = expected.where(known < 2, same_day)
        spread = np.maximum(trailing.std(), floor)
        return (wide - expected) / spread

    def alarms(self, score: pd.DataFrame) -> pd.DataFrame:
        """True on the days ending a run of ``consecutive`` scores at or above the threshold."""
        high = (score >= self.threshold).astype(int)
        return (
            high.rolling(self.consecutive, min_periods=self.consecutive).sum() >= self.consecutive
        )

    def first_alarm(self, score: pd.DataFrame) -> pd.Series:
        """The first alarm date of each region (NaT when none)."""
        alarms = self.alarms(score)
        first = alarms.idxmax().where(alarms.any())
        return pd.to_datetime(first)


def _wide(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    table = frame.assign(
        date=pd.to_datetime(frame["date"]), region_code=frame["region_code"].astype(str)
    )
    return table.pivot_table(index="date", columns="region_code", values=value, aggfunc="sum")


def household_scores(signals: pd.DataFrame, detector: Detector = Detector()) -> pd.DataFrame:
    """The household score per date and region from ``household_signals``."""
    signals = signals[~signals["suppressed"].astype(bool)] if "suppressed" in signals else signals
    fever = detector.scores(_wide(signals, "fever_rate"), floor=0.005)
    stay = detector.scores(_wide(signals, "stay_home_index"), floor=0.02).reindex_like(fever)
    combined = (fever + stay.fillna(0.0)) / SQRT2
    return np.maximum(fever, combined.where(stay.notna(), fever))


def case_scores(
    cases: pd.DataFrame, detector: Detector = Detector(), min_cases: int = 2
) -> pd.DataFrame:
    """The case score per date and region from ``date, region_code, confirmed``."""
    wide = _wide(cases, "confirmed").asfreq("D", fill_value=0)
    score = detector.scores(wide, floor=1.0)
    return score.where(wide.reindex_like(score) >= min_cases)


@dataclass(frozen=True)
class Evaluation:
    """Per region with an outbreak: the days household alarms came before case alarms; and
    the share of regions without an outbreak where the household score alarmed anyway."""

    lead_days: pd.Series
    false_alarm_rate: float
    outbreak_regions: int
    quiet_regions: int
    detected: int

    @property
    def median_lead(self) -> float:
        return float(self.lead_days.median()) if len(self.lead_days) else float("nan")


def evaluate(
    signals: pd.DataFrame,
    cases: pd.DataFrame,
    truth: pd.DataFrame,
    onset_infections: int = 20,
    detector: Detector = Detector(),
) -> Evaluation:
    """Compare household and case alarms on synthetic truth (``date, region_code,
    new_infections``): a region's outbreak begins on the first day its cumulative true
    infections reach ``onset_infections``; its lead is the case alarm date minus the household
    alarm date, over regions with an outbreak where both fire, the household alarm on or after
    the outbreak's start (an earlier one is a false alarm). Regions watched by households are
    those with household signals."""
    home = detector.first_alarm(household_scores(signals, detector))
    case = detector.first_alarm(case_scores(cases, detector))
    infections = _wide(truth, "new_infections").fillna(0).cumsum()
    onset = (infections >= onset_infections).idxmax().where((infections >= onset_infections).any())
    onset = pd.to_datetime(onset)
    watched = [r for r in home.index if r in onset.index]
    outbreak = [r for r in watched if pd.notna(onset[r])]
    quiet = [r for r in watched if pd.isna(onset[r])]
    leads = {}
    early_false = 0
    for region in outbreak:
        h, c = home.get(region), case.get(region)
        if pd.notna(h) and h < onset[region]:
            early_false += 1
            continue
        if pd.notna(h) and pd.notna(c):
            leads[region] = (c - h).days
    false_quiet = sum(1 for r in quiet if pd.notna(home.get(r)))
    denominator = len(quiet) + len(outbreak)
    rate = (false_quiet + early_false) / denominator if denominator else float("nan")
    return Evaluation(pd.Series(leads, dtype=float), rate, len(outbreak), len(quiet), len(leads))
