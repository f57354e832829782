"""Metapopulation SEIR: regions coupled by daytime mixing ("people mix where they spend the day").

A :class:`Model` holds what is simulated (residents, mixing matrix, disease parameters) and the
right-hand side of the equations; an engine (:class:`DeterministicEngine`, fixed-step RK4) turns it
into a :class:`Trajectory`. The state is an array of shape ``(4, n)``: compartments ``S, E, I, R``
along axis 0, regions along axis 1, people counted in their home region. With the row-stochastic
mixing matrix ``M`` (:mod:`spreadwatch.model.mobility`) and residents ``N_i``::

    N_eff_j  = sum_i M[i, j] N_i            people present in j during the day
    I_eff_j  = sum_i M[i, j] I_i            infectious people present in j
    lambda_j = beta I_eff_j / N_eff_j       force of infection in j
    h_i      = sum_j M[i, j] lambda_j       hazard of a resident of i

    dS/dt = -h S    dE/dt = h S - sigma E    dI/dt = sigma E - gamma I    dR/dt = gamma I

with ``sigma = 1 / latent_days``, ``gamma = 1 / infectious_days`` and ``R0 = beta / gamma``. The
derivatives sum to zero over compartments, so each region's residents are conserved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from spreadwatch.model.mobility import mixing_from_matrix
from spreadwatch.progress import track

COMPARTMENTS: tuple[str, ...] = ("S", "E", "I", "R")
S, E, I, R = range(4)  # noqa: E741 (the compartments' own names)
NEW_INFECTIONS = 4  # row of Model.rates holding the S -> E flow


@dataclass(frozen=True)
class SEIRParameters:
    """Transmission rate ``beta`` (per day) and mean latent and infectious periods (days)."""

    beta: float
    latent_days: float
    infectious_days: float

    def __post_init__(self) -> None:
        for name in ("beta", "latent_days", "infectious_days"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")

    @classmethod
    def from_r0(cls, r0: float, latent_days: float, infectious_days: float) -> SEIRParameters:
        """Parameters with ``beta = r0 / infectious_days``."""
        return cls(r0 / infectious_days, latent_days, infectious_days)

    @property
    def sigma(self) -> float:
        return 1.0 / self.latent_days

    @property
    def gamma(self) -> float:
        return 1.0 / self.infectious_days

    @property
    def r0(self) -> float:
        return self.beta * self.infectious_days


@dataclass(frozen=True, eq=False)
class Model:
    """Residents per region, daytime mixing matrix and disease parameters."""

    population: np.ndarray
    mixing: np.ndarray
    params: SEIRParameters
    _inv_present: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        population = np.array(self.population, dtype=np.float64)
        if population.ndim != 1 or not np.isfinite(population).all() or (population < 0).any():
            raise ValueError("population must be a 1-D array of finite numbers >= 0")
        mixing = mixing_from_matrix(self.mixing)
        if mixing.shape[0] != population.size:
            raise ValueError(f"mixing is {mixing.shape}, population has {population.size} regions")
        present = mixing.T @ population
        inv_present = np.divide(1.0, present, out=np.zeros_like(present), where=present > 0)
        object.__setattr__(self, "population", population)
        object.__setattr__(self, "mixing", mixing)
        object.__setattr__(self, "_inv_present", inv_present)

    @property
    def size(self) -> int:
        """Number of regions."""
        return self.population.size

    def initial_state(self) -> np.ndarray:
        """Everyone susceptible: array ``(4, n)``."""
        state = np.zeros((len(COMPARTMENTS), self.size))
        state[S] = self.population
        return state

    def hazard(self, infectious: np.ndarray) -> np.ndarray:
        """Per-capita infection rate ``h_i`` of residents of each region, given ``I`` by region."""
        force = self.params.beta * (self.mixing.T @ infectious) * self._inv_present
        return self.mixing @ force

    def rates(self, state: np.ndarray) -> np.ndarray:
        """Time derivatives, shape ``(5, n)``: ``dS, dE, dI, dR`` and the S -> E flow."""
        p = self.params
        new = self.hazard(state[I]) * state[S]
        progress = p.sigma * state[E]
        recover = p.gamma * state[I]
        return np.stack([-new, new - progress, progress - recover, recover, new])


@dataclass(frozen=True)
class Trajectory:
    """Daily output: ``states[d]`` (shape ``(4, n)``) at the end of day ``d``, and
    ``incidence[d]`` (shape ``(n,)``), the new infections (S -> E) during day ``d``."""

    states: np.ndarray
    incidence: np.ndarray

    @property
    def days(self) -> int:
        return self.states.shape[0]


Seeds = Mapping[int, npt.ArrayLike]


class Engine(Protocol):
    """Turns a model into daily output; seeds (day -> infected per region) apply at day start."""

    def run(
        self,
        model: Model,
        days: int,
        seeds: Seeds | None = None,
        initial: np.ndarray | None = None,
        progress: str | None = None,
    ) -> Trajectory: ...


def apply_seed(state: np.ndarray, infected: npt.ArrayLike) -> np.ndarray:
    """Move ``infected`` people per region from S to I (at most the susceptibles there)."""
    moved = np.minimum(np.asarray(infected, dtype=np.float64), state[S])
    state = state.copy()
    state[S] -= moved
    state[I] += moved
    return state


def rk4_increment(f: Callable[[np.ndarray], np.ndarray], y: np.ndarray, dt: float) -> np.ndarray:
    """Classical Runge-Kutta increment over ``dt``; ``f(y)`` may return extra trailing rows
    (integrated alongside but not fed back into ``y``)."""
    rows = y.shape[0]
    k1 = f(y)
    k2 = f(y + 0.5 * dt * k1[:rows])
    k3 = f(y + 0.5 * dt * k2[:rows])
    k4 = f(y + dt * k3[:rows])
    return (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


@dataclass(frozen=True)
class DeterministicEngine:
    """Integrates the SEIR equations with fixed-step RK4, ``steps_per_day`` steps a day."""

    steps_per_day: int = 8

    def __post_init__(self) -> None:
        if self.steps_per_day < 1:
            raise ValueError(f"steps_per_day must be >= 1, got {self.steps_per_day}")

    def step_day(self, model: Model, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance ``state`` by one day; returns the new state and that day's new infections."""
        dt = 1.0 / self.steps_per_day
        new_infections = np.zeros(model.size)
        for _ in range(self.steps_per_day):
            step = rk4_increment(model.rates, state, dt)
            state = state + step[: len(COMPARTMENTS)]
            new_infections += step[NEW_INFECTIONS]
        return state, new_infections

    def run(
        self,
        model: Model,
        days: int,
        seeds: Seeds | None = None,
        initial: np.ndarray | None = None,
        progress: str | None = None,
    ) -> Trajectory:
        """Simulate ``days`` days from ``initial`` (default: all susceptible); ``progress`` is a
        progress-bar label (no bar when ``None``)."""
        state = model.initial_state() if initial is None else np.array(initial, dtype=np.float64)
        if state.shape != (len(COMPARTMENTS), model.size):
            raise ValueError(f"initial state must have shape {(len(COMPARTMENTS), model.size)}")
        seeds = seeds or {}
        states = np.empty((days, len(COMPARTMENTS), model.size))
        incidence = np.empty((days, model.size))
        day_range = range(days)
        for day in day_range if progress is None else track(day_range, progress, total=days):
            if day in seeds:
                state = apply_seed(state, seeds[day])
            state, incidence[day] = self.step_day(model, state)
            states[day] = state
        return Trajectory(states, incidence)
