"""Subscribers: carrier, opaque id, home region, usual day region and usual cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from spreadwatch.synth import ids
from spreadwatch.synth.cells import CarrierCells
from spreadwatch.synth.geography import Geography, sample_rows


@dataclass(frozen=True, eq=False)
class CarrierSubscribers:
    """One carrier's subscribers as parallel arrays (position = subscriber index)."""

    carrier: str
    ids: pa.StringArray
    home: np.ndarray  # home region index
    day: np.ndarray  # usual daytime region index (== home for non-commuters)
    home_cell: np.ndarray  # cell number the subscriber is usually on at home
    work_cell: np.ndarray  # cell number the subscriber is usually on in the day region

    @property
    def size(self) -> int:
        return len(self.home)

    @property
    def commuter(self) -> np.ndarray:
        return self.home != self.day


def split_by_share(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Integer split of ``total`` proportional to ``shares`` (largest remainder, exact sum)."""
    names = list(shares)
    exact = np.array([shares[n] for n in names]) * total
    counts = np.floor(exact).astype(np.int64)
    remainder = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    return dict(zip(names, counts.tolist(), strict=True))


def make_subscribers(
    carrier: str,
    count: int,
    geo: Geography,
    usual: np.ndarray,
    cells: CarrierCells,
    rng: np.random.Generator,
) -> CarrierSubscribers:
    """Draw ``count`` subscribers: home by population, day region from the gravity matrix."""
    home = rng.choice(geo.size, size=count, p=geo.population / geo.population.sum())
    day = sample_rows(usual, home, rng.random(count))
    return CarrierSubscribers(
        carrier=carrier,
        ids=ids.subscriber_ids(carrier, count, rng),
        home=home,
        day=day,
        home_cell=cells.random_in(home, rng.random(count)),
        work_cell=cells.random_in(day, rng.random(count)),
    )
