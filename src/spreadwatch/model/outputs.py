"""What a run keeps of each day: one trajectory, quantiles over particles, or every particle.

Observers receive each day's :class:`~spreadwatch.model.structured.DailyOutput` and keep only
what their table needs, so a run of many particles never holds all its states in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.model.structured import DailyOutput

STATES_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("region_code", pa.string(), nullable=False),
        pa.field("compartment", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
#: A stochastic run's summary: the mean and quantiles over particles, hubverse-style.
SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("region_code", pa.string(), nullable=False),
        pa.field("compartment", pa.string(), nullable=False),
        pa.field("output_type", pa.string(), nullable=False),
        pa.field("output_type_id", pa.float64()),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
PARTICLES_SCHEMA = pa.schema([pa.field("particle", pa.int32(), nullable=False), *STATES_SCHEMA])


def select(output: DailyOutput, compartments: Sequence[str]) -> np.ndarray:
    """The day's values of ``compartments`` (states or ``incidence``): ``(particles, k, n)``."""
    rows = []
    for name in compartments:
        if name == "incidence":
            rows.append(output.incidence)
        else:
            rows.append(output.states[:, output.compartments.index(name)])
    return np.stack(rows, axis=1)


def long_table(
    start_date: dt.date, codes: Sequence[str], values: np.ndarray, compartments: Sequence[str]
) -> pa.Table:
    """``STATES_SCHEMA`` rows from ``values`` ``(days, k, regions)``, ordered by date, region,
    then ``compartments`` as given."""
    days, k, n = values.shape
    dates = np.datetime64(start_date, "D") + np.arange(days)
    return pa.Table.from_arrays(
        [
            pa.array(np.repeat(dates, n * k), type=pa.date32()),
            pa.array(np.tile(np.repeat(np.array(codes, dtype=object), k), days), pa.string()),
            pa.array(np.tile(np.array(compartments, dtype=object), days * n), pa.string()),
            pa.array(values.transpose(0, 2, 1).reshape(-1), pa.float64()),
        ],
        schema=STATES_SCHEMA,
    )


class TrajectoryCollector:
    """Keeps the selected compartments of particle 0 for every day (deterministic runs)."""

    def __init__(self, compartments: Sequence[str]) -> None:
        self.compartments = list(compartments)
        self.days: list[np.ndarray] = []

    def __call__(self, output: DailyOutput) -> None:
        self.days.append(select(output, self.compartments)[0])

    def table(self, start_date: dt.date, codes: Sequence[str]) -> pa.Table:
        return long_table(start_date, codes, np.array(self.days), self.compartments)


#: Whole numbers below this are exact in float32 (a 24-bit significand).
_FLOAT32_EXACT = 2**24


def particle_quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``np.quantile(values, levels, axis=0)`` (linear interpolation), the same numbers, about
    four times faster for a day of many particles: each cell's particles are sorted as one
    contiguous row, as float32 when they are whole numbers it holds exactly (people counted in
    a stochastic run; its vectorised sort is the fast one), and the two order statistics of each
    level are interpolated as NumPy does."""
    particles = values.shape[0]
    rows = np.ascontiguousarray(values.reshape(particles, -1).T)
    whole = (
        rows.size and np.abs(rows).max() < _FLOAT32_EXACT and np.array_equal(rows, np.round(rows))
    )
    keys = rows.astype(np.float32) if whole else rows
    keys.sort(axis=1)
    position = np.asarray(levels, dtype=np.float64) * (particles - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, particles - 1)
    t = position - low
    a = keys[:, low].astype(np.float64)
    b = keys[:, high].astype(np.float64)
    difference = b - a
    lerp = np.where(t >= 0.5, b - difference * (1 - t), a + difference * t)  # NumPy's _lerp
    return lerp.T.reshape(len(position), *values.shape[1:])


class QuantileReducer:
    """Reduces each day to the mean and the given quantiles over particles."""

    def __init__(self, compartments: Sequence[str], quantiles: Sequence[float]) -> None:
        self.compartments = list(compartments)
        self.quantiles = np.asarray(quantiles, dtype=np.float64)
        self.means: list[np.ndarray] = []
        self.levels: list[np.ndarray] = []

    def __call__(self, output: DailyOutput) -> None:
        values = select(output, self.compartments)
        self.means.append(values.mean(axis=0))
        self.levels.append(particle_quantiles(values, self.quantiles))

    def table(self, start_date: dt.date, codes: Sequence[str]) -> pa.Table:
        """``SUMMARY_SCHEMA``: per date, region and compartment the mean, then each quantile."""
        means = np.array(self.means)[:, None]  # (days, 1, k, n)
        levels = np.array(self.levels)  # (days, q, k, n)
        stacked = np.concatenate([means, levels], axis=1)
        days, q1, k, n = stacked.shape
        base = long_table(start_date, codes, np.zeros((days, k, n)), self.compartments)
        kinds = np.array(["mean"] + ["quantile"] * (q1 - 1), dtype=object)
        ids = np.concatenate([[np.nan], self.quantiles])
        order = stacked.transpose(0, 3, 2, 1).reshape(-1)  # date, region, compartment, stat
        repeat = lambda column: np.repeat(np.asarray(column), q1)  # noqa: E731
        return pa.Table.from_arrays(
            [
                pa.array(repeat(base["date"].to_numpy()), pa.date32()),
                pa.array(repeat(base["region_code"].to_numpy(zero_copy_only=False)), pa.string()),
                pa.array(repeat(base["compartment"].to_numpy(zero_copy_only=False)), pa.string()),
                pa.array(np.tile(kinds, days * n * k), pa.string()),
                pa.array(np.tile(ids, days * n * k), pa.float64(), from_pandas=True),
                pa.array(order, pa.float64()),
            ],
            schema=SUMMARY_SCHEMA,
        )


class ParticleWriter:
    """Streams every particle's selected compartments to a Parquet file, a row group a day."""

    def __init__(
        self,
        path: Path,
        start_date: dt.date,
        codes: Sequence[str],
        compartments: Sequence[str],
    ) -> None:
        self.path, self.start_date = path, start_date
        self.codes, self.compartments = list(codes), list(compartments)
        self.tmp = path.with_name(path.name + ".tmp")
        self.writer = pq.ParquetWriter(self.tmp, PARTICLES_SCHEMA)

    def __call__(self, output: DailyOutput) -> None:
        values = select(output, self.compartments)  # (particles, k, n)
        particles = values.shape[0]
        day = long_table(
            self.start_date + dt.timedelta(days=output.day),
            self.codes,
            values,
            self.compartments,
        )  # a "day" per particle: rows ordered by particle, region, compartment
        number = np.repeat(np.arange(particles, dtype=np.int32), len(self.codes) * values.shape[1])
        dates = pa.repeat(day["date"][0], day.num_rows)
        table = pa.Table.from_arrays(
            [pa.array(number), dates, day["region_code"], day["compartment"], day["value"]],
            schema=PARTICLES_SCHEMA,
        )
        self.writer.write_table(table)

    def close(self) -> Path:
        self.writer.close()
        self.tmp.replace(self.path)
        return self.path
