"""The engines of a declared model: the chain binomial over many particles, the adaptive
solver (LSODA) and fixed-step RK4, each on the compiled kernels of
:mod:`~spreadwatch.model.declared.kernels` and the day loop of the structured model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numba
import numpy as np
from scipy.integrate import odeint

from spreadwatch.model import hazard
from spreadwatch.model.adaptive import AdaptiveEngine, _dense_hazard, _spans
from spreadwatch.model.chain_binomial import StepDraw
from spreadwatch.model.declared import kernels
from spreadwatch.model.declared.model import DeclaredModel
from spreadwatch.model.engines import ChainBinomialEngine, MeanFieldEngine, _Blocks
from spreadwatch.model.seir import rk4_increment
from spreadwatch.model.structured import DayInputs, _Transmission


@dataclass(frozen=True)
class DeclaredChainBinomialEngine(ChainBinomialEngine):
    """Runs ``particles`` realisations of a :class:`DeclaredModel` as a chain binomial,
    ``steps_per_day`` steps a day (``stochastic=False`` steps the chain's mean), with the
    settings of :class:`~spreadwatch.model.engines.ChainBinomialEngine`."""

    @contextmanager
    def _prepared(self, model: DeclaredModel) -> Iterator[_DeclaredBlocks]:  # type: ignore[override]
        parts = hazard.blocks(self.particles)
        groups = model.compiled.weights.shape[0]
        shape = (model.ages, model.regions)
        scratch = [
            (
                np.empty((groups, size, *shape)),
                np.empty((groups, size, *shape)),
                np.empty((len(model.compartments), *shape)),
                hazard.block_scratch(size, *shape, self.kernel_dtype),
            )
            for size in (part.stop - part.start for part in parts)
        ]
        threads = min(numba.config.NUMBA_NUM_THREADS, len(parts))
        with ThreadPoolExecutor(threads - 1) if threads > 1 else nullcontext() as pool:
            yield _DeclaredBlocks(_Blocks((), parts, scratch, pool, threads))  # type: ignore[arg-type]

    def _step(  # type: ignore[override]
        self,
        model: DeclaredModel,
        transmission: _Transmission,
        state: np.ndarray,
        step: int,
        new: np.ndarray,
        transmissibility: np.ndarray,
        prepared: _DeclaredBlocks,
    ) -> None:
        rates = model.compiled.rates_on(step // self.steps_per_day)
        draw = StepDraw(
            np.uint64(self.seed % (1 << 64)),
            np.int64(step),
            self.stochastic,
            step % self.steps_per_day == 0,
        )
        arrays = model.arrays
        dt = 1.0 / self.steps_per_day
        tables = prepared.tables(rates, arrays, len(model.compartments), dt)
        blocks = prepared.blocks

        def advance(block: int) -> None:
            part = blocks.parts[block]
            kernels.block_step(
                state[part],
                part.start,
                rates,
                arrays,
                transmission.parts,
                transmissibility[part],
                dt,
                draw,
                new[part],
                blocks.scratch[block],
                tables,
            )

        blocks.map(advance)


class _DeclaredBlocks:
    """The blocks of a run (:class:`~spreadwatch.model.engines._Blocks`) and the CDF tables of
    its constant exits (:func:`~spreadwatch.model.declared.kernels.constant_tables`), made
    again only when a day's rates change."""

    def __init__(self, blocks: _Blocks) -> None:
        self.blocks = blocks
        self._cache: dict[float, tuple[np.ndarray, np.ndarray, bool]] = {}
        self._rates: np.ndarray | None = None
        self._tables: tuple[np.ndarray, ...] = ()

    def tables(
        self, rates: np.ndarray, arrays: tuple[np.ndarray, ...], compartments: int, dt: float
    ) -> tuple[np.ndarray, ...]:
        if rates is not self._rates:  # the compiled model keeps each set of rates: same object
            source, group = arrays[0], arrays[2]
            self._tables = kernels.constant_tables(
                rates, source, group, compartments, dt, self._cache
            )
            self._rates = rates
        return self._tables


def _right_hand_side(
    model: DeclaredModel, transmission: _Transmission, factor: float, day: int
) -> Callable[[np.ndarray], np.ndarray]:
    """``f(y)``: the rates of change ``(compartments + 1, ages, regions)`` (the last row the
    new infections) of one trajectory ``y`` ``(compartments, ages, regions)`` on ``day``."""
    rates = model.compiled.rates_on(day)
    source, target, group, weights, _, _ = model.arrays
    hazard_of = _dense_hazard(transmission, factor)
    infectious = np.empty((weights.shape[0], model.ages, model.regions))
    hazards = np.empty_like(infectious)
    out = np.empty((len(model.compartments) + 1, model.ages, model.regions))

    def f(y: np.ndarray) -> np.ndarray:
        kernels.weighted(y, weights, infectious)
        for g in range(infectious.shape[0]):
            hazards[g] = hazard_of(infectious[g])
        kernels.derivative(y, rates, source, target, group, hazards, out)
        return out

    return f


@dataclass(frozen=True)
class DeclaredAdaptiveEngine(AdaptiveEngine):
    """Integrates a :class:`DeclaredModel`'s equations with LSODA (one trajectory): spans
    also end where a modifier changes the rates."""

    def _spans(self, model: DeclaredModel, inputs: list[DayInputs]):  # type: ignore[override]
        for first, end in _spans(inputs):
            start = first
            for day in range(first + 1, end):
                if model.compiled.factors_on(day) != model.compiled.factors_on(day - 1):
                    yield start, day
                    start = day
            yield start, end

    def _span(  # type: ignore[override]
        self,
        model: DeclaredModel,
        transmission: _Transmission,
        factor: float,
        start: np.ndarray,
        first: int,
        end: int,
    ):
        f = _right_hand_side(model, transmission, factor, first)
        compartments = start.shape[0]
        shape = (compartments + 1, *start.shape[1:])

        def flat(y: np.ndarray, t: float) -> np.ndarray:
            return f(y.reshape(shape)[:compartments]).ravel()

        y0 = np.concatenate([start, np.zeros((1, *start.shape[1:]))]).ravel()
        times = np.arange(end - first + 1, dtype=np.float64)
        solution = odeint(flat, y0, times, rtol=self.rtol, atol=self.atol, mxstep=100_000)
        solved = solution.reshape(len(times), *shape)
        states = np.maximum(solved[1:, :compartments], 0.0)
        new = np.maximum(np.diff(solved[:, compartments], axis=0), 0.0)
        for k in range(end - first):
            yield states[k], new[k]


@dataclass(frozen=True)
class DeclaredMeanFieldEngine(MeanFieldEngine):
    """Integrates a :class:`DeclaredModel`'s equations with fixed-step RK4."""

    def _step(  # type: ignore[override]
        self,
        model: DeclaredModel,
        transmission: _Transmission,
        state: np.ndarray,
        step: int,
        new: np.ndarray,
        transmissibility: np.ndarray,
        prepared: object,
    ) -> None:
        day = step // self.steps_per_day
        f = _right_hand_side(model, transmission, float(transmissibility[0]), day)
        change = rk4_increment(lambda y: f(y).copy(), state[0], 1.0 / self.steps_per_day)
        compartments = state.shape[1]
        state[0] += change[:compartments]
        new[0] += change[compartments]
