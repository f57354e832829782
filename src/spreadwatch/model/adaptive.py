"""The deterministic engine with an adaptive solver: the structured model's differential
equations (:mod:`spreadwatch.model.structured`) integrated by LSODA (ODEPACK, as scipy's
``odeint``: Adams steps while the system is smooth, BDF if it turns stiff), its own step sizes
chosen to the tolerances.

Whatever changes the equations happens at a day's start: the day's inputs (mobility,
contacts, isolation) and arrivals (seeds, imported infections). The run is cut into spans of
days over which nothing changes; each span is one integration from its first day's start,
with the state reported at every day's end, so an intervention starts exactly at midnight and
the daily output is the solution at each day's end (to the tolerances), not a step's
approximation. Only the compartments the conservation of residents leaves free are
integrated (``R`` is what remains; a day's new infections are what ``S`` lost), so the solver
works on ``3 x ages x regions`` numbers, or 5 with hospitals.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from scipy.integrate import odeint
from threadpoolctl import ThreadpoolController

from spreadwatch.model.structured import (
    D,
    DailyOutput,
    DayInputs,
    E,
    H,
    I,
    Observer,
    R,
    S,
    Schedule,
    StructuredModel,
    _DailyEngine,
    _same_mixing,
    _Transmission,
    observers_of,
)
from spreadwatch.progress import track

#: Relative tolerance of the solver (the outputs' digits that can be trusted, about).
RTOL = 1e-6
#: Absolute tolerance, in people.
ATOL = 1e-6


@dataclass(frozen=True)
class AdaptiveEngine(_DailyEngine):
    """Integrates the model's differential equations with LSODA (one trajectory)."""

    rtol: float = RTOL
    atol: float = ATOL
    particles: int = 1
    steps_per_day: int = 1
    seed: int = 0
    stochastic: bool = False
    kernel_dtype: type = np.float64

    def __post_init__(self) -> None:
        self._check_one_trajectory("adaptive")
        if not (0 < self.rtol < 1 and self.atol > 0):
            raise ValueError(f"tolerances must be in (0, 1) and > 0, got {self.rtol}, {self.atol}")

    def run(
        self,
        model: StructuredModel,
        days: int,
        schedule: Schedule | None = None,
        observe: Observer | Sequence[Observer] = (),
        progress: str | None = None,
        particle_transmissibility: np.ndarray | None = None,
    ) -> None:
        """As :meth:`~spreadwatch.model.structured.MeanFieldEngine.run`: each day's
        :class:`~spreadwatch.model.structured.DailyOutput` goes to every observer."""
        factor = float(self._transmissibilities(particle_transmissibility)[0])
        observers = observers_of(observe)
        inputs = [schedule(day) if schedule is not None else DayInputs() for day in range(days)]
        state = self.initial_state(model)
        outputs = self._outputs(model, inputs, state, factor)
        shown = outputs if progress is None else track(outputs, progress, total=days)
        with _blas_limited():
            for output in shown:
                for observer in observers:
                    observer(output)

    def _outputs(
        self, model: StructuredModel, inputs: list[DayInputs], state: np.ndarray, factor: float
    ):
        """Each day's :class:`DailyOutput`, span by span (``state`` follows)."""
        for first, end in self._spans(model, inputs):
            self._arrivals(model, state, inputs[first], first)
            scale = factor
            if inputs[first].particle_scale is not None:
                scale *= float(np.asarray(inputs[first].particle_scale).ravel()[0])
            transmission = _Transmission(model, inputs[first], np.float64)
            days = self._span(model, transmission, scale, state[0], first, end)
            for day, (now, new) in enumerate(days, start=first):
                state[0] = now
                yield DailyOutput(day, now[None], new[None], model.compartments)

    def _spans(self, model: StructuredModel, inputs: list[DayInputs]):
        """``(first, end)`` day ranges over which the equations stay the same."""
        return _spans(inputs)

    def _span(
        self,
        model: StructuredModel,
        transmission: _Transmission,
        factor: float,
        start: np.ndarray,
        first: int,
        end: int,
    ):
        """``(state, new infections)`` at the end of each day from ``first`` to ``end``
        (excluded), from ``start``.

        Only what the conservation laws leave free is integrated: ``S, E, I`` (and ``H, D``
        when anyone goes to hospital); ``R`` is the residents minus the rest, and a day's new
        infections are what ``S`` lost (nobody else leaves ``S`` within a span)."""
        days = end - first
        shape = start.shape  # (6, ages, regions)
        rates, free = _rates(model, transmission, factor)
        residents = start.sum(axis=0)
        times = np.arange(days + 1, dtype=np.float64)
        solution = odeint(
            rates, start[free].ravel(), times, rtol=self.rtol, atol=self.atol, mxstep=100_000
        )
        solved = np.maximum(solution.reshape(days + 1, len(free), *shape[1:]), 0.0)
        states = np.zeros((days, *shape))
        states[:, free] = solved[1:]
        states[:, R] = np.maximum(residents - states.sum(axis=1), 0.0)
        susceptible = np.concatenate([start[S][None], states[:, S]])
        new = np.maximum(susceptible[:-1] - susceptible[1:], 0.0)
        for k in range(days):
            yield states[k], new[k]


def _rates(model: StructuredModel, transmission: _Transmission, factor: float):
    """The right-hand side ``f(y, t)`` of the free compartments (flat), and which they are:
    ``S, E, I``, with ``H, D`` when anyone goes to hospital. One age band without hospitals
    (the plain SEIR) is one compiled call."""
    history = model.history
    ages, regions = model.ages, model.regions
    to_h = model.per_age(history.hospital_fraction)[:, None]
    to_d = model.per_age(history.fatality_fraction)[:, None]
    hospital = bool(np.any(to_h > 0))
    free = [S, E, I, H, D] if hospital else [S, E, I]
    onset_rate, out_i_rate = 1.0 / history.latent_days, 1.0 / history.infectious_days
    out_h_rate = 1.0 / history.hospital_days
    derivative = np.empty((len(free), ages, regions))
    flat = derivative.ravel()
    if ages == 1 and not hospital:
        kernels, away, home, inv_residents = transmission.parts
        kernel = kernels[0] if kernels.shape[0] else np.zeros((regions, regions))
        local = factor * float(home[0, 0]) * inv_residents[0]
        pressure = factor * float(away[0, 0])

        def seir(y: np.ndarray, t: float) -> np.ndarray:
            _seir_rates(y, kernel, pressure, local, onset_rate, out_i_rate, flat)
            return flat

        return seir, free
    hazard = _dense_hazard(transmission, factor)

    def general(y: np.ndarray, t: float) -> np.ndarray:
        x = y.reshape(len(free), ages, regions)  # views: nothing copied
        infections = hazard(x[2]) * x[0]
        onset = onset_rate * x[1]
        out_i = out_i_rate * x[2]
        derivative[0] = -infections
        derivative[1] = infections - onset
        derivative[2] = onset - out_i
        if hospital:
            out_h = out_h_rate * x[3]
            derivative[3] = to_h * out_i - out_h
            derivative[4] = to_d * out_h
        return flat

    return general, free


@numba.njit(cache=True, nogil=True)
def _seir_rates(
    y: np.ndarray,
    kernel: np.ndarray,
    pressure: float,
    local: np.ndarray,
    onset_rate: float,
    out_i_rate: float,
    out: np.ndarray,
) -> None:
    """``dS, dE, dI`` of one age band into ``out`` from ``y = (S, E, I)`` (flat): the
    infections are ``S * (pressure * (I @ kernel) + local * I)``."""
    regions = local.shape[0]
    infectious = y[2 * regions :]
    met = np.dot(infectious, kernel)
    for r in range(regions):
        s, e, i = y[r], y[regions + r], infectious[r]
        infections = s * (pressure * met[r] + local[r] * i)
        onset = onset_rate * e
        out[r] = -infections
        out[regions + r] = infections - onset
        out[2 * regions + r] = onset - out_i_rate * i


@functools.cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()  # finding the loaded BLAS libraries costs milliseconds: once


def _blas_limited():
    """BLAS on one thread: the solver's small products gain nothing from more, and idle
    threads spinning between them would slow it."""
    return _threadpools().limit(limits=1, user_api="blas")


def _dense_hazard(transmission: _Transmission, factor: float):
    """The hazard ``(ages, regions)`` of one trajectory from its infectious people, as
    :meth:`~spreadwatch.model.structured._Transmission.hazard` computes it for a block of
    particles, in plain matrix products (one per age band): a solver asks for it hundreds of
    times, one trajectory at a time."""
    kernels, away, home, inv_residents = transmission.parts
    away, home = factor * away, factor * home
    if away.shape[0] == 1:  # one age band: one matrix-vector product
        kernel = kernels[0] if kernels.shape[0] else None
        a, h = float(away[0, 0]), float(home[0, 0]) * inv_residents[0]

        def one_band(infectious: np.ndarray) -> np.ndarray:
            local = h * infectious[0]
            if kernel is not None:
                local += a * (infectious[0] @ kernel)
            return local[None]

        return one_band

    def bands(infectious: np.ndarray) -> np.ndarray:
        hazard = home @ (infectious * inv_residents)
        if kernels.shape[0]:
            hazard += away @ np.einsum("bk,bkr->br", infectious, kernels)
        return hazard

    return bands


def _spans(inputs: list[DayInputs]):
    """``(first, end)`` day ranges over which the equations stay the same: a span starts on
    the first day, on a day whose inputs differ from the day before, and on a day with
    arrivals (seeds, imported infections)."""
    first = 0
    for day in range(1, len(inputs) + 1):
        if day == len(inputs):
            yield first, day
            return
        today, before = inputs[day], inputs[day - 1]
        arrivals = today.seed_infectious is not None or today.imported_exposed is not None
        arrivals = arrivals or bool(today.seeded)
        if arrivals or not _same_mixing(today, before) or not _same_scale(today, before):
            yield first, day
            first = day


def _same_scale(a: DayInputs, b: DayInputs) -> bool:
    if a.particle_scale is None or b.particle_scale is None:
        return a.particle_scale is b.particle_scale
    return np.array_equal(a.particle_scale, b.particle_scale)
