"""The fixed-step engines of the structured model (:mod:`spreadwatch.model.structured`): the
chain binomial over many particles (:class:`ChainBinomialEngine`, exact binomial flows, blocks
of particles on parallel threads) and the deterministic RK4 of one trajectory
(:class:`MeanFieldEngine`). The adaptive deterministic engine is
:mod:`spreadwatch.model.adaptive`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from spreadwatch.model import chain_binomial, hazard
from spreadwatch.model.seir import rk4_increment
from spreadwatch.model.structured import (
    STATE_COMPARTMENTS,
    E,
    H,
    I,
    S,
    StructuredModel,
    _DailyEngine,
    _Transmission,
)


@dataclass(frozen=True)
class ChainBinomialEngine(_DailyEngine):
    """Runs ``particles`` realisations of a :class:`StructuredModel` as a chain binomial
    (tau-leap with exact binomial flows), ``steps_per_day`` steps a day.

    Random numbers depend only on ``seed`` and the position of each draw, so a run is
    reproducible whatever the number of threads. ``stochastic=False`` steps the chain's mean.
    """

    particles: int = 100
    steps_per_day: int = 4
    seed: int = 0
    stochastic: bool = True
    kernel_dtype: type = np.float32

    def __post_init__(self) -> None:
        self._check()

    @contextmanager
    def _prepared(self, model: StructuredModel) -> Iterator[_Blocks]:
        dt = 1.0 / self.steps_per_day
        history = model.history
        durations = (history.latent_days, history.infectious_days, history.hospital_days)
        parts = hazard.blocks(self.particles)
        sizes = [part.stop - part.start for part in parts]
        scratch = [
            (
                hazard.block_scratch(size, model.ages, model.regions, self.kernel_dtype),
                np.empty((size, model.ages, model.regions)),
                np.empty((chain_binomial.ROWS, model.regions)),
                np.empty(model.regions, dtype=np.uint64),
            )
            for size in sizes
        ]
        threads = min(numba.config.NUMBA_NUM_THREADS, len(parts))
        with ThreadPoolExecutor(threads - 1) if threads > 1 else nullcontext() as pool:
            exits = chain_binomial.constant_exits([dt / days for days in durations])
            yield _Blocks(exits, parts, scratch, pool, threads)

    def _step(
        self,
        model: StructuredModel,
        transmission: _Transmission,
        state: np.ndarray,
        step: int,
        new: np.ndarray,
        transmissibility: np.ndarray,
        prepared: _Blocks,
    ) -> None:
        history = model.history
        factors = transmissibility / self.steps_per_day
        course = chain_binomial.Course(
            *prepared.exits,
            model.per_age(history.hospital_fraction),
            model.per_age(history.fatality_fraction),
        )
        draw = chain_binomial.StepDraw(
            np.uint64(self.seed % (1 << 64)),
            np.int64(step),
            self.stochastic,
            step % self.steps_per_day == 0,  # the kernels zero the day's infections
        )

        def advance(block: int) -> None:
            part = prepared.parts[block]
            chain_binomial.block_step(
                state[part],
                part.start,
                transmission.parts,
                factors[part],
                course,
                draw,
                new[part],
                prepared.scratch[block],
            )

        prepared.map(advance)

    def _clear_day(self, new: np.ndarray) -> None:
        pass  # each block's kernel zeroes its own rows on the day's first step


@dataclass(frozen=True)
class _Blocks:
    """A chain-binomial run's constant exits, its blocks of particles with their scratch
    space, and the threads that advance the blocks: the pool's and the calling one (no pool:
    one at a time)."""

    exits: tuple[np.ndarray, np.ndarray, np.ndarray]
    parts: list[slice]
    scratch: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    pool: ThreadPoolExecutor | None
    threads: int

    def map(self, work: Callable[[int], None]) -> None:
        """Run ``work(block)`` for every block, in parallel when there are threads: each
        thread takes every n-th block, the calling thread the first share (one hand-over per
        thread and step: waking a thread costs more than a block's call)."""
        if self.pool is None:
            for block in range(len(self.parts)):
                work(block)
            return
        threads = self.threads

        def share(first: int) -> None:
            for block in range(first, len(self.parts), threads):
                work(block)

        others = [self.pool.submit(share, first) for first in range(1, threads)]
        share(0)
        for future in others:
            future.result()


@dataclass(frozen=True)
class MeanFieldEngine(_DailyEngine):
    """Integrates the model's differential equations with fixed-step RK4 (one trajectory)."""

    steps_per_day: int = 8
    particles: int = 1
    seed: int = 0
    stochastic: bool = False
    kernel_dtype: type = np.float64

    def __post_init__(self) -> None:
        self._check_one_trajectory("mean-field")
        self._check()

    def _step(
        self,
        model: StructuredModel,
        transmission: _Transmission,
        state: np.ndarray,
        step: int,
        new: np.ndarray,
        transmissibility: np.ndarray,
        prepared: Any,
    ) -> None:
        history = model.history
        factor = float(transmissibility[0])
        to_h = model.per_age(history.hospital_fraction)[:, None]
        to_d = model.per_age(history.fatality_fraction)[:, None]

        def rates(y: np.ndarray) -> np.ndarray:
            infections = factor * transmission.hazard(y[None, I])[0] * y[S]
            onset = y[E] / history.latent_days
            out_i = y[I] / history.infectious_days
            out_h = y[H] / history.hospital_days
            return np.stack(
                [
                    -infections,
                    infections - onset,
                    onset - out_i,
                    to_h * out_i - out_h,
                    (1 - to_h) * out_i + (1 - to_d) * out_h,
                    to_d * out_h,
                    infections,
                ]
            )

        step_change = rk4_increment(rates, state[0], 1.0 / self.steps_per_day)
        state[0] += step_change[: len(STATE_COMPARTMENTS)]
        new[0] += step_change[len(STATE_COMPARTMENTS)]
