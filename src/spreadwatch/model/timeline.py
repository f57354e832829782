"""The day-by-day inputs of a run from its config: seeds, interventions and importations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spreadwatch.model import mobility
from spreadwatch.model.config import InterventionEntry, RunConfig
from spreadwatch.model.errors import ConfigError
from spreadwatch.model.geography import RegionSet
from spreadwatch.model.structured import DayInputs

IMPORTATION_COLUMNS = ("date", "region_code", "arrivals")
#: The fusion's region code of arrivals whose home region is not known.
UNKNOWN_REGION = "unknown"


def seed_schedule(
    config: RunConfig, regions: RegionSet, compartment: str | None = None
) -> dict[int, np.ndarray]:
    """Infected people to seed per region, keyed by day index: the seeds into ``compartment``
    (``None``: those that name none, which go to the model's seed compartment)."""
    position = {code: i for i, code in enumerate(regions.codes)}
    schedule: dict[int, np.ndarray] = {}
    for entry in config.seed:
        if entry.compartment != compartment:
            continue
        counts = schedule.setdefault(config.seed_day(entry), np.zeros(regions.size))
        counts[position[entry.region]] += entry.infected
    return schedule


def named_seeds(config: RunConfig, regions: RegionSet) -> dict[int, dict[str, np.ndarray]]:
    """The seeds that name their compartment: per day index, people per region by
    compartment."""
    out: dict[int, dict[str, np.ndarray]] = {}
    for name in sorted({e.compartment for e in config.seed if e.compartment is not None}):
        for day, counts in seed_schedule(config, regions, name).items():
            out.setdefault(day, {})[name] = counts
    return out


def read_arrivals(path: Path, config: RunConfig, regions: RegionSet) -> np.ndarray:
    """Arrivals per run day and region, ``(days, regions)``, from a fusion ``importations``
    table (``date, country, region_code, arrivals``; a file or a folder of Parquet files).
    Arrivals dated outside the run are not used. Arrivals whose home region the fusion could
    not tell (``region_code = 'unknown'``, mostly visitors) are spread over the regions by
    population; any other unknown region code is an error."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{path}: cannot read as Parquet: {exc}") from None
    missing = [c for c in IMPORTATION_COLUMNS if c not in table.column_names]
    if missing:
        raise ConfigError(f"{path}: missing column {missing[0]!r} (an importations table)")
    codes = table["region_code"].cast(pa.string()).to_pylist()
    position = {code: i for i, code in enumerate(regions.codes)}
    for row, code in enumerate(codes):
        if code not in position and code != UNKNOWN_REGION:
            raise ConfigError(
                f"{path}: row {row + 1}, column region_code: unknown region {code!r} "
                f"(not among the {regions.size} regions of {regions.label})"
            )
    arrivals = table["arrivals"].cast(pa.float64())
    if pc.any(pc.or_(pc.is_null(arrivals), pc.less(arrivals, 0))).as_py():
        raise ConfigError(f"{path}: column arrivals: expected counts >= 0")
    days = pc.days_between(
        pa.scalar(config.run.start_date, pa.date32()), table["date"].cast(pa.date32())
    ).to_numpy(zero_copy_only=False)
    out = np.zeros((config.run.days, regions.size))
    values = arrivals.to_numpy()
    placed = np.array([c in position for c in codes], dtype=bool)
    inside = (days >= 0) & (days < config.run.days)
    index = np.array([position.get(c, -1) for c in codes], dtype=np.int64)
    np.add.at(out, (days[inside & placed], index[inside & placed]), values[inside & placed])
    unplaced = np.zeros(config.run.days)
    np.add.at(unplaced, days[inside & ~placed], values[inside & ~placed])
    return out + np.outer(unplaced, regions.population / regions.population.sum())


@dataclass(frozen=True, eq=False)
class Timeline:
    """``timeline(day)`` is the :class:`DayInputs` of a run day."""

    config: RunConfig
    regions: RegionSet
    seeds: dict[int, np.ndarray]
    imported: np.ndarray | None
    """Expected infected arrivals per day and region, before travel quarantine."""
    daily_mixing: dict[dt.date, np.ndarray] | None = None
    """Measured mixing by date (``[mobility] daily``)."""
    infectious_days: float = 1.0
    """The model's mean infectious time (isolation's ``1 / gamma``)."""
    seeded: dict[int, dict[str, np.ndarray]] | None = None
    """Seeds that name their compartment, by day (:func:`named_seeds`)."""

    @classmethod
    def from_config(
        cls,
        config: RunConfig,
        regions: RegionSet,
        label: str = "config",
        infectious_days: float | None = None,
    ) -> Timeline:
        """The timeline of ``config``; ``infectious_days`` defaults to ``[disease]``'s."""
        if infectious_days is None:
            infectious_days = config.disease.infectious_days  # type: ignore[union-attr]
        imported = None
        if config.importations is not None:
            section = config.importations
            imported = read_arrivals(section.file, config, regions) * section.infected_fraction
        measured = getattr(config.mobility, "daily", False)
        daily = daily_mixing(config, regions, label) if measured else None
        seeds = seed_schedule(config, regions)
        named = named_seeds(config, regions)
        return cls(config, regions, seeds, imported, daily, infectious_days, named)

    def __call__(self, day: int) -> DayInputs:
        date = self.config.run.date(day)
        active = [m for m in self.config.intervention if m.active(date)]
        imported = None
        if self.imported is not None:
            kept = np.prod([1 - m.reduction for m in active if m.kind == "travel_quarantine"])
            imported = self.imported[day] * kept
        mixing = None if self.daily_mixing is None else mobility.mixing_on(self.daily_mixing, date)
        return DayInputs(
            mixing=mixing,
            away_scale=self._away_scale(active),
            contact_scale=_contact_scale(active),
            transmissibility=_transmissibility(active, self.infectious_days),
            seed_infectious=self.seeds.get(day),
            seeded=(self.seeded or {}).get(day),
            imported_exposed=imported,
        )

    def _away_scale(self, active: list[InterventionEntry]) -> np.ndarray | None:
        measures = [m for m in active if m.kind == "mobility"]
        if not measures:
            return None
        scale = np.ones(self.regions.size)
        position = {code: i for i, code in enumerate(self.regions.codes)}
        for measure in measures:
            where = [position[c] for c in measure.regions] if measure.regions else slice(None)
            scale[where] *= 1 - measure.reduction  # type: ignore[operator]
        return scale


def daily_mixing(
    config: RunConfig, regions: RegionSet, label: str = "config"
) -> dict[dt.date, np.ndarray]:
    """The mixing matrix of every date of the measured mobility table."""
    section = config.mobility
    try:
        if section.kind == "commuting":
            daily = mobility.daily_mixing_from_commuting(
                section.commuting,
                regions.codes,
                section.suppressed_people,  # type: ignore[arg-type]
            )
        else:
            daily = mobility.daily_mixing_from_fusion(
                section.od_flows,
                section.presence,
                regions.codes,
                section.max_away,  # type: ignore[arg-type]
            )
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{label}: mobility: {exc}") from None
    if not daily:
        raise ConfigError(f"{label}: mobility.daily: the {section.kind} table has no dates")
    return daily


def _contact_scale(active: list[InterventionEntry]) -> dict[str, float]:
    scale: dict[str, float] = {}
    for measure in active:
        if measure.kind == "contacts":
            for setting in measure.settings or ():
                scale[setting] = scale.get(setting, 1.0) * (1 - measure.reduction)  # type: ignore[operator]
    return scale


def _transmissibility(active: list[InterventionEntry], infectious_days: float) -> float:
    """Isolation after ``days`` on average cuts the infectious time in the community from
    ``1 / gamma`` to ``1 / (gamma + 1 / days)``; the strongest measure in force applies."""
    gamma = 1.0 / infectious_days
    fastest = min((m.days for m in active if m.kind == "isolation"), default=None)  # type: ignore[type-var]
    return 1.0 if fastest is None else gamma / (gamma + 1.0 / fastest)


def run_dates(start: dt.date, days: int) -> np.ndarray:
    """The run's dates as ``datetime64[D]``."""
    return np.datetime64(start, "D") + np.arange(days)
