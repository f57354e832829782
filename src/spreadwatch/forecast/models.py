"""Forecasting models: each turns a :class:`History` into sample paths of the regions' future
counts, ``(draws, horizons, regions)``; aggregates (the total, sido) are the sums of the
regions' paths, so they are coherent with them.

* :class:`Baseline`: the Forecast Hubs' baseline. The median is the last value; uncertainty
  comes from the last 60 one-step changes, symmetrised, summed over the horizon (centred so the
  median stays the last value), and truncated at zero. Every region takes the changes of the
  same past periods, so the regions' joint movement (and the total's spread) is kept.
* :class:`~spreadwatch.forecast.endemic.EndemicEpidemic`: the ``hhh4``-class
  endemic-epidemic model (see :mod:`spreadwatch.forecast.endemic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from spreadwatch.forecast.endemic import EndemicEpidemic, EndemicFit, Spec
from spreadwatch.forecast.history import History

__all__ = [
    "BASELINE_WINDOW",
    "Baseline",
    "EndemicEpidemic",
    "EndemicFit",
    "PathModel",
    "QuantileModel",
    "Spec",
]


class PathModel(Protocol):
    """A model that simulates the regions' future counts."""

    name: str

    def sample(
        self,
        history: History,
        horizons: int,
        draws: int,
        rng: np.random.Generator,
        notes: list[str] | None = None,
    ) -> np.ndarray:
        """Paths ``(draws, horizons, regions)``; ``notes`` collects what a reader should know
        (fallbacks)."""
        ...


class QuantileModel(Protocol):
    """A model that predicts the regions' quantiles directly (turned into paths by a
    copula)."""

    name: str

    def predict_quantiles(
        self, history: History, horizons: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(mean (horizons, regions), quantiles (levels, horizons, regions))``."""
        ...


#: One-step changes the baseline uses (the last ones).
BASELINE_WINDOW = 60


@dataclass(frozen=True)
class Baseline:
    name: str = "baseline"

    def sample(
        self,
        history: History,
        horizons: int,
        draws: int,
        rng: np.random.Generator,
        notes: list[str] | None = None,
    ) -> np.ndarray:
        series = history.counts
        changes = np.diff(series[-(BASELINE_WINDOW + 1) :], axis=0)
        if changes.shape[0] == 0:
            changes = np.zeros((1, series.shape[1]))
        symmetric = np.concatenate([changes, -changes])  # (2m, regions)
        pick = rng.integers(0, symmetric.shape[0], size=(draws, horizons))
        change = np.cumsum(symmetric[pick], axis=1)  # (draws, horizons, regions)
        change -= np.median(change, axis=0)  # the median is the last value, exactly
        return np.maximum(series[-1] + change, 0.0)
