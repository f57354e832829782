"""Early warning from homes: a per-region anomaly detector on household signals, and the same
detector on reported cases to compare against.

For a daily series ``v`` of one region, the expected value of day ``t`` is the mean of the
same weekday over the ``baseline_days // 7`` weeks before the guard (weekday seasonality:
commuters' homes are empty on weekdays), or of the ``baseline_days`` days before the guard while
fewer than two such weekdays are known; the spread is the standard deviation of those
``baseline_days`` days (at least ``floor``). The guard is the last ``guard`` days, kept out so
a rise does not hide itself. The score is ``z = (v - expected) / spread``, computed once
``min_baseline`` days before the guard are known.

For counts the score is a Poisson tail instead: ``z = Phi^-1(1 - P(X >= count | expected))``,
the expected count at least 0.1 (a quiet series expects almost nothing, so 3 counts on a day
that expects none score 3.6).

* **household score**: the count score of ``persistent_fever`` households (a fever that day and
  the day before) of the fusion ``household_signals`` table, the baseline learning the rate per
  household measured so that partial days and new devices are not anomalies (suppressed rows
  unknown). A one-off high reading rarely repeats the next day, an illness's fever does: that
  makes the baseline nearly zero and a handful of households an alarm. A table without the
  counts falls back to ``max(z_fever, (z_fever + z_stay) / sqrt 2)`` of the fever rate and
  stay-home index;
* **case score**: the same count score of daily reported cases.

A region alarms on the second of two consecutive days with a score of at least ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

SQRT2 = np.sqrt(2.0)
#: Smallest expected count a count score assumes (a quiet series expects nearly nothing).
COUNT_FLOOR = 0.1
MAX_Z = 10.0


@dataclass(frozen=True)
class Detector:
    baseline_days: int = 28
    guard: int = 2
    min_baseline: int = 7
    threshold: float = 3.0
    consecutive: int = 2

    def expected(self, wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The expected value and the trailing standard deviation per date and region (NaN
        while the baseline is short); ``wide`` must be daily."""
        past = wide.shift(self.guard + 1)
        trailing = past.rolling(self.baseline_days, min_periods=self.min_baseline)
        expected = trailing.mean()
        weekday = wide.index.day_of_week
        same_day = pd.DataFrame(index=wide.index, columns=wide.columns, dtype=float)
        known = pd.DataFrame(0, index=wide.index, columns=wide.columns)
        weeks_back = self.guard // 7 + 1  # the latest same weekday before the guard
        weeks = max(1, self.baseline_days // 7)
        for day in range(7):
            rows = weekday == day
            block = wide[rows].shift(weeks_back)  # earlier same weekdays (a week apart)
            same_day[rows] = block.rolling(weeks, min_periods=1).mean().to_numpy()
            known[rows] = block.rolling(weeks, min_periods=1).count().to_numpy()
        # the weekday means too wait for min_baseline days (the trailing mean is NaN until then)
        return expected.where(known < 2, same_day).where(expected.notna()), trailing.std()

    def scores(self, wide: pd.DataFrame, floor: float) -> pd.DataFrame:
        """``z`` per date (rows, daily) and region (columns); NaN while the baseline is short."""
        wide = wide.sort_index().asfreq("D")
        expected, spread = self.expected(wide)
        return (wide - expected) / np.maximum(spread, floor)

    def count_scores(
        self,
        wide: pd.DataFrame,
        exposure: pd.DataFrame | None = None,
        floor: float = COUNT_FLOOR,
    ) -> pd.DataFrame:
        """For counts: the upper Poisson tail ``P(X >= count)`` under the expected count (at
        least ``floor``) as a normal score, ``z = Phi^-1(1 - P)``, 0 at or below expectation.
        With ``exposure`` (e.g. households measured), the expected *rate* per unit of exposure
        is what the baseline learns, times the day's exposure."""
        wide = wide.sort_index().asfreq("D")
        if exposure is None:
            expected, _ = self.expected(wide)
        else:
            exposure = exposure.reindex_like(wide)
            exposure = exposure.where(exposure > 0)  # nothing measured: unknown
            rate, _ = self.expected(wide / exposure)
            expected = rate * exposure
        mean = np.maximum(expected.to_numpy(dtype=float), floor)
        counts = wide.to_numpy(dtype=float)
        tail = stats.poisson.sf(np.ceil(counts) - 1, mean)
        z = np.clip(stats.norm.isf(tail), 0.0, MAX_Z)
        z = np.where(np.isnan(counts) | np.isnan(expected.to_numpy(dtype=float)), np.nan, z)
        return pd.DataFrame(z, index=wide.index, columns=wide.columns)

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
    """The household score per date and region from ``household_signals``: the count score
    of ``persistent_fever`` households per household ``measured``; from a table without those
    counts, ``max(z_fever, (z_fever + z_stay) / sqrt 2)`` of the fever rate and stay-home index."""
    signals = signals[~signals["suppressed"].astype(bool)] if "suppressed" in signals else signals
    if {"persistent_fever", "measured"} <= set(signals.columns):
        counts = _wide(signals, "persistent_fever").asfreq("D")
        measured = _wide(signals, "measured").asfreq("D")
        return detector.count_scores(counts, exposure=measured)
    fever = detector.scores(_wide(signals, "fever_rate"), floor=0.005)
    stay = detector.scores(_wide(signals, "stay_home_index"), floor=0.02).reindex_like(fever)
    combined = (fever + stay.fillna(0.0)) / SQRT2
    return np.maximum(fever, combined.where(stay.notna(), fever))


def case_scores(cases: pd.DataFrame, detector: Detector = Detector()) -> pd.DataFrame:
    """The case score per date and region from ``date, region_code, confirmed``: the same
    count score, on daily reported cases."""
    wide = _wide(cases, "confirmed").asfreq("D", fill_value=0)
    return detector.count_scores(wide)


def scores_long(score: pd.DataFrame, name: str) -> pd.DataFrame:
    """A wide score frame as ``date, region_code, <name>`` rows (unknown scores left out)."""
    long = score.rename_axis(index="date", columns="region_code").stack().dropna()
    return long.rename(name).reset_index()


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
