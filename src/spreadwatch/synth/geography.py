"""The regions the synthetic country is built on, and the true commuting (gravity) model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import shapely

from spreadwatch import regions
from spreadwatch.regions.distance import great_circle_km, points_inside
from spreadwatch.synth.config import MobilityConfig


@dataclass(frozen=True, eq=False)
class Geography:
    """Si-gun-gu as parallel arrays, in the order of ``regions.load("sigungu")``."""

    codes: np.ndarray  # object array of 5-digit str
    population: np.ndarray  # int64
    lat: np.ndarray  # centroid latitude
    lon: np.ndarray  # centroid longitude
    geometry: np.ndarray  # shapely polygons, lon/lat

    @classmethod
    def load(cls) -> Geography:
        frame = regions.load("sigungu").regions
        geometry = frame["geometry"].to_numpy()
        shapely.prepare(geometry)  # makes contains_xy ~10x faster; idempotent
        return cls(
            codes=frame["code"].to_numpy(dtype=object),
            population=frame["population"].to_numpy(dtype=np.int64),
            lat=frame["centroid_lat"].to_numpy(dtype=float),
            lon=frame["centroid_lon"].to_numpy(dtype=float),
            geometry=geometry,
        )

    @property
    def size(self) -> int:
        return len(self.codes)

    def index_of(self, code: str) -> int:
        """Position of a region code; ``KeyError`` if unknown."""
        hits = np.flatnonzero(self.codes == code)
        if hits.size == 0:
            raise KeyError(f"unknown region code {code!r}")
        return int(hits[0])

    def points_inside(
        self, district: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` of a random point of each given district's polygon."""
        return points_inside(self.geometry, district, rng)

    @cached_property
    def distance_km(self) -> np.ndarray:
        """Great-circle distance between centroids, ``(R, R)``."""
        return great_circle_km(self.lat, self.lon, self.lat, self.lon)


def commuting_matrix(geo: Geography, mobility: MobilityConfig) -> np.ndarray:
    """True usual-day-region shares ``M[i, j]`` (rows sum to 1), the gravity model of the config.

    Normalised in log space (row maximum subtracted) so a small ``d0_km`` cannot underflow a
    remote region's whole row (Ulleung-gun at ``d0_km <= 0.2``) to ``0 / 0``.
    """
    log_weight = np.log(geo.population.astype(float))[None, :] - geo.distance_km / mobility.d0_km
    np.fill_diagonal(log_weight, -np.inf)
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    away = weight / weight.sum(axis=1, keepdims=True)
    return mobility.stay_home * np.eye(geo.size) + (1.0 - mobility.stay_home) * away


def daily_matrix(usual: np.ndarray, commute_probability: float) -> np.ndarray:
    """Expected shares on a day when commuters go with ``commute_probability``, else stay home."""
    stay = np.diag(usual)
    out = usual * commute_probability
    np.fill_diagonal(out, 1.0 - commute_probability * (1.0 - stay))
    return out


def commute_probability(mobility: MobilityConfig, day: date) -> float:
    """Probability that a commuter goes to their usual day region on local date ``day``."""
    return mobility.weekend_commute if day.weekday() >= 5 else mobility.weekday_commute


def sample_rows(probabilities: np.ndarray, rows: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Draw one column per entry of ``rows`` from the row-stochastic matrix ``probabilities``.

    Vectorised inverse-CDF sampling: the row CDFs are laid end to end (row ``i`` shifted by
    ``i``), so one ``searchsorted`` serves every row.
    """
    n_rows, n_cols = probabilities.shape
    cdf = np.cumsum(probabilities, axis=1)
    cdf /= cdf[:, -1:]
    flat = (cdf + np.arange(n_rows)[:, None]).ravel()
    pos = np.searchsorted(flat, rows + uniform, side="right")
    return np.clip(pos - rows * n_cols, 0, n_cols - 1)
