"""Age-structured metapopulation model run as a chain binomial over many particles.

State per particle: compartments ``S, E, I, H, R, D`` by age band and region (people counted in
their home region). With residents ``N[b, k]`` (age ``b``, region ``k``), the day's mixing
matrix ``M`` (row-stochastic: the share of a resident's day spent in each region), contact
matrices ``C_s`` by setting with the day's multipliers ``c_s``, and a transmissibility
multiplier ``tau`` (isolation), the hazard of a susceptible resident of region ``i``, age ``a``::

    home:  h_home[a, i] = sum_{s at home} c_s sum_b C_s[a, b] I[b, i] / N[b, i]
    away:  y[b, j]      = sum_k M[k, j] I[b, k] / sum_k M[k, j] N[b, k]   (infectious share in j)
           h_away[a, i] = sum_j M[i, j] sum_{s not at home} c_s sum_b C_s[a, b] y[b, j]
    h[a, i] = beta * tau * (h_home[a, i] + h_away[a, i])

Home contacts happen in the home region; work, school and community contacts where people spend
the day. Without age structure there is one band and one setting with ``C = [[1]]``, which is the
deterministic model of :mod:`spreadwatch.model.seir`. ``beta = r0 / (infectious_days * rho)``
where ``rho`` is the spectral radius of the summed baseline contact matrix: ``r0`` is the basic
reproduction number of the contact structure without mobility.

Each step of ``dt = 1 / steps_per_day`` days moves people with probabilities ``1 - exp(-rate dt)``
(S -> E at the hazard, E -> I at ``1 / latent_days``, I out at ``1 / infectious_days``, H out at
``1 / hospital_days``); leaving I, a share ``hospital_fraction`` of each age goes to H, and
leaving H, a share ``fatality_fraction`` dies. Stochastic runs draw every flow (exact binomials,
:mod:`spreadwatch.model.chain_binomial`); deterministic runs use the means.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from spreadwatch.model import hazard
from spreadwatch.model.mobility import mixing_from_matrix
from spreadwatch.progress import track

#: Compartments of the state array, in order.
STATE_COMPARTMENTS: tuple[str, ...] = ("S", "E", "I", "H", "R", "D")
S, E, I, H, R, D = range(6)  # noqa: E741 (the compartments' own names)


@dataclass(frozen=True)
class NaturalHistory:
    """Transmission and the periods and branching of the disease (days; fractions per age)."""

    beta: float
    latent_days: float
    infectious_days: float
    hospital_fraction: np.ndarray = field(default_factory=lambda: np.zeros(1))
    hospital_days: float = 7.0
    fatality_fraction: np.ndarray = field(default_factory=lambda: np.zeros(1))

    def __post_init__(self) -> None:
        for name in ("beta", "latent_days", "infectious_days", "hospital_days"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        for name in ("hospital_fraction", "fatality_fraction"):
            value = np.atleast_1d(np.asarray(getattr(self, name), dtype=np.float64))
            if not (np.isfinite(value).all() and ((value >= 0) & (value <= 1)).all()):
                raise ValueError(f"{name} must be fractions in [0, 1]")
            object.__setattr__(self, name, value)


class Residents:
    """What every model over residents ``population`` ``(ages, regions)`` offers."""

    population: np.ndarray

    @property
    def ages(self) -> int:
        return self.population.shape[0]

    @property
    def regions(self) -> int:
        return self.population.shape[1]

    def per_age(self, values: np.ndarray) -> np.ndarray:
        """A per-age parameter broadcast to all age bands."""
        return np.broadcast_to(values, (self.ages,)).astype(np.float64)


@dataclass(frozen=True, eq=False)
class StructuredModel(Residents):
    """Residents by age and region, baseline mixing, contact matrices by setting, disease.

    ``population`` is ``(ages, regions)``; ``contacts`` maps a setting to its ``(ages, ages)``
    matrix (mean daily contacts of an age-``a`` person with age-``b`` people); settings in
    ``home_settings`` mix within the home region, the others where people spend the day.
    """

    population: np.ndarray
    mixing: np.ndarray
    contacts: Mapping[str, np.ndarray]
    history: NaturalHistory
    home_settings: frozenset[str] = frozenset({"home"})

    def __post_init__(self) -> None:
        check_structure(self)
        for name in ("hospital_fraction", "fatality_fraction"):
            size = getattr(self.history, name).size
            if size not in (1, self.ages):
                raise ValueError(
                    f"{name} has {size} values, expected 1 or {self.ages} (one per age)"
                )

    #: The state's compartments; residents start in ``S``, seeds go to ``I``, infected
    #: arrivals to ``E`` (the same attributes as a declared model's).
    compartments = STATE_COMPARTMENTS
    initial, seed_into, import_into = S, I, E

    @property
    def transmission_rate(self) -> float:
        """``beta``: the hazard's factor (a declared model's rates carry their own)."""
        return self.history.beta

    @property
    def r0(self) -> float:
        """The basic reproduction number without mobility: ``beta D rho(C)``."""
        total = sum(self.contacts.values())
        return (
            self.history.beta
            * self.history.infectious_days
            * float(np.max(np.abs(np.linalg.eigvals(total))))
        )


def check_structure(model: object) -> None:
    """Check and normalise (in place, on a frozen dataclass) a model's ``population``,
    ``mixing``, ``contacts`` and ``home_settings``."""
    population = np.atleast_2d(np.asarray(model.population, dtype=np.float64))  # type: ignore[attr-defined]
    if not np.isfinite(population).all() or (population < 0).any():
        raise ValueError("population must be finite numbers >= 0")
    ages, regions = population.shape
    mixing = mixing_from_matrix(model.mixing)  # type: ignore[attr-defined]
    if mixing.shape[0] != regions:
        raise ValueError(f"mixing is {mixing.shape}, population has {regions} regions")
    contacts = {}
    for name, matrix in model.contacts.items():  # type: ignore[attr-defined]
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (ages, ages) or not np.isfinite(matrix).all() or (matrix < 0).any():
            raise ValueError(f"contacts[{name!r}] must be a {ages}x{ages} matrix of numbers >= 0")
        contacts[name] = matrix
    if not contacts:
        raise ValueError("at least one contact setting is needed")
    object.__setattr__(model, "population", population)
    object.__setattr__(model, "mixing", mixing)
    object.__setattr__(model, "contacts", contacts)
    home = frozenset(model.home_settings) & set(contacts)  # type: ignore[attr-defined]
    object.__setattr__(model, "home_settings", home)


def beta_for_r0(r0: float, infectious_days: float, contacts: Mapping[str, np.ndarray]) -> float:
    """Transmission rate giving basic reproduction number ``r0`` without mobility."""
    total = sum(np.asarray(m, dtype=np.float64) for m in contacts.values())
    rho = float(np.max(np.abs(np.linalg.eigvals(total))))
    if rho <= 0:
        raise ValueError("the summed contact matrix has spectral radius 0")
    return r0 / (infectious_days * rho)


@dataclass(frozen=True)
class DayInputs:
    """What may change from day to day (interventions, measured mobility, importations)."""

    mixing: np.ndarray | None = None
    """Mixing matrix of the day; ``None`` keeps the model's baseline."""
    away_scale: np.ndarray | None = None
    """Per region multiplier of the time residents spend away from home (mobility cuts)."""
    contact_scale: Mapping[str, float] = field(default_factory=dict)
    """Per setting multiplier of contacts (school closure, work from home)."""
    transmissibility: float = 1.0
    """Multiplier of every infectious contact (faster isolation)."""
    seed_infectious: np.ndarray | None = None
    """People per region moved from S to I at the start of the day: ``(regions,)`` for all
    particles, or ``(particles, regions)``."""
    imported_exposed: np.ndarray | None = None
    """Expected infected arrivals per region on the day, added to E (Poisson per particle)."""
    particle_scale: np.ndarray | None = None
    """Per particle multiplier of the day's hazard ``(particles,)`` (a calibrated change)."""
    seeded: Mapping[str, np.ndarray] | None = None
    """People per region moved at the start of the day into the named compartments (seeds
    of a declared model that say where they go)."""


Schedule = Callable[[int], DayInputs]


def scaled_mixing(mixing: np.ndarray, away_scale: np.ndarray) -> np.ndarray:
    """``mixing`` with each row's time away from home scaled by ``away_scale`` (clipped to
    [0, 1 / away share]): off-diagonal entries scale, the diagonal takes the rest."""
    away = 1.0 - np.diag(mixing)
    limit = np.divide(1.0, away, out=np.full_like(away, np.inf), where=away > 0)
    scale = np.clip(np.asarray(away_scale, dtype=np.float64), 0.0, limit)
    scaled = mixing * scale[:, None]
    np.fill_diagonal(scaled, 0.0)
    np.fill_diagonal(scaled, 1.0 - scaled.sum(axis=1))
    return scaled


class _Transmission:
    """The hazard of :class:`StructuredModel` for one day's inputs (see
    :mod:`spreadwatch.model.hazard`): the mobility kernels ``K_b = M diag(1 / N_eff[b]) M^T``
    per age band (in float32 for stochastic runs: binomial probabilities need no more), the
    contact matrices of the away and the home settings times ``beta``, and ``1 / N``."""

    def __init__(self, model: StructuredModel, inputs: DayInputs, dtype: type = np.float64) -> None:
        mixing = model.mixing if inputs.mixing is None else mixing_from_matrix(inputs.mixing)
        if inputs.away_scale is not None:
            mixing = scaled_mixing(mixing, inputs.away_scale)
        scale = {s: inputs.contact_scale.get(s, 1.0) for s in model.contacts}
        beta = model.transmission_rate * inputs.transmissibility
        ages = model.ages
        home = [s for s in model.contacts if s in model.home_settings]
        away = [s for s in model.contacts if s not in model.home_settings]
        self.home = beta * sum((scale[s] * model.contacts[s] for s in home), np.zeros((ages, ages)))
        self.away = beta * sum((scale[s] * model.contacts[s] for s in away), np.zeros((ages, ages)))
        population = model.population
        self.inv_residents = np.divide(
            1.0, population, out=np.zeros_like(population), where=population > 0
        )
        present = population @ mixing  # (ages, regions)
        inv_present = np.divide(1.0, present, out=np.zeros_like(present), where=present > 0)
        self.kernels = np.zeros((0, model.regions, model.regions), dtype=dtype)
        if np.any(self.away):
            self.kernels = np.stack(
                [(mixing * inv_present[b]) @ mixing.T for b in range(ages)]
            ).astype(dtype)
        self._scratch: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(kernels, away, home, inv_residents)``, as the compiled kernels take them."""
        return self.kernels, self.away, self.home, self.inv_residents

    def hazard(self, infectious: np.ndarray) -> np.ndarray:
        """Hazard ``(particles, ages, regions)`` from infectious people of the same shape."""
        infectious = np.ascontiguousarray(infectious, dtype=np.float64)
        out = np.empty_like(infectious)
        particles, ages, regions = infectious.shape
        for part in hazard.blocks(particles):
            size = part.stop - part.start
            if size not in self._scratch:  # kept: the RK4 engine asks four times a step
                self._scratch[size] = hazard.block_scratch(size, ages, regions, self.kernels.dtype)
            scratch = self._scratch[size]
            hazard.block_hazards(infectious[part], *self.parts, np.ones(size), scratch, out[part])
        return out


class DailyOutput:
    """One day of a run, summed over age bands: ``states`` ``(particles, compartments,
    regions)`` at the end of the day and ``incidence`` ``(particles, regions)``, new
    infections during the day; ``compartments`` names the states' rows.

    Each is summed from the engine's state when first read, so a day nobody looks at costs
    nothing; an output still referenced after the observers return (kept in a list, say) is
    given its own copies before the engine moves on."""

    __slots__ = ("_incidence", "_live", "_states", "compartments", "day")

    def __init__(
        self,
        day: int,
        state: np.ndarray,
        new: np.ndarray,
        compartments: Sequence[str] = STATE_COMPARTMENTS,
    ) -> None:
        self.day = day
        self.compartments = tuple(compartments)
        self._states: np.ndarray | None = None
        self._incidence: np.ndarray | None = None
        self._live: tuple[np.ndarray, np.ndarray] | None = (state, new)  # by age band

    @property
    def states(self) -> np.ndarray:
        if self._states is None:
            self._states = _over_ages(self._live[0], 2)
        return self._states

    @property
    def incidence(self) -> np.ndarray:
        if self._incidence is None:
            self._incidence = _over_ages(self._live[1], 1)
        return self._incidence

    def detach(self) -> None:
        """Take copies of what is still read from the engine (before it changes)."""
        if self._live is not None:
            self.states, self.incidence  # noqa: B018 (computed and kept by the properties)
            self._live = None


Observer = Callable[[DailyOutput], None]


def observers_of(observe: Observer | Sequence[Observer]) -> list[Observer]:
    """One observer or several, as a list."""
    return [observe] if callable(observe) else list(observe)


class _DailyEngine:
    """The day loop both engines share: the day's inputs, arrivals, sub-steps, observers."""

    particles: int
    steps_per_day: int
    seed: int
    stochastic: bool
    kernel_dtype: type = np.float64

    def _check_one_trajectory(self, name: str) -> None:
        """Refuse particles or draws for a deterministic engine called ``name``."""
        if self.particles != 1 or self.stochastic:
            raise ValueError(f"the {name} engine runs one deterministic trajectory")

    def _check(self) -> None:
        if self.particles < 1:
            raise ValueError(f"particles must be >= 1, got {self.particles}")
        if self.steps_per_day < 1:
            raise ValueError(f"steps_per_day must be >= 1, got {self.steps_per_day}")

    def initial_state(self, model: StructuredModel) -> np.ndarray:
        """Everyone in the initial compartment: ``(particles, compartments, ages, regions)``
        (whole people when stochastic: fractional residents are rounded)."""
        compartments = len(model.compartments)
        state = np.zeros((self.particles, compartments, model.ages, model.regions))
        state[:, model.initial] = np.rint(model.population) if self.stochastic else model.population
        return state

    def _transmissibilities(self, given: np.ndarray | None) -> np.ndarray:
        """Each particle's multiplier of its hazard ``(particles,)``: ``given``, checked, or
        ones."""
        if given is None:
            return np.ones(self.particles)
        values = np.asarray(given, dtype=np.float64).ravel()
        if values.shape[0] != self.particles:
            raise ValueError(f"expected {self.particles} transmissibilities, got {values.size}")
        return values

    def run(
        self,
        model: StructuredModel,
        days: int,
        schedule: Schedule | None = None,
        observe: Observer | Sequence[Observer] = (),
        progress: str | None = None,
        particle_transmissibility: np.ndarray | None = None,
    ) -> None:
        """Simulate ``days`` days; each day's :class:`DailyOutput` goes to every observer (so
        nothing but the current state is kept). ``schedule(day)`` gives the day's inputs;
        ``particle_transmissibility`` (``(particles,)``) multiplies each particle's hazard (one
        run over many parameter sets, as calibration does)."""
        transmissibility = self._transmissibilities(particle_transmissibility)
        observers = observers_of(observe)
        state = self.initial_state(model)
        shape = (self.particles, model.ages, model.regions)
        new = np.zeros(shape)
        day_range = range(days)
        transmission, inputs_before = None, None
        # BLAS threads spin between calls and would take the cores from the compiled kernel
        with threadpool_limits(1, "blas"), self._prepared(model) as prepared:
            for day in day_range if progress is None else track(day_range, progress, total=days):
                inputs = schedule(day) if schedule is not None else DayInputs()
                if transmission is None or not _same_mixing(inputs, inputs_before):
                    transmission = _Transmission(model, inputs, self.kernel_dtype)
                inputs_before = inputs
                self._arrivals(model, state, inputs, day)
                self._clear_day(new)
                scale = transmissibility
                if inputs.particle_scale is not None:
                    scale = transmissibility * inputs.particle_scale
                for sub in range(self.steps_per_day):
                    step = day * self.steps_per_day + sub
                    self._step(model, transmission, state, step, new, scale, prepared)
                output = DailyOutput(day, state, new, model.compartments)
                for observer in observers:
                    observer(output)
                if sys.getrefcount(output) > 2:  # an observer kept it: the state moves on
                    output.detach()
                del output

    @contextmanager
    def _prepared(self, model: StructuredModel) -> Iterator[Any]:
        """What every step of a run of ``model`` needs (constants, scratch space, threads)."""
        yield None

    def _clear_day(self, new: np.ndarray) -> None:
        """Zero the new infections before a day's steps."""
        new[:] = 0.0

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
        raise NotImplementedError

    def _arrivals(
        self, model: StructuredModel, state: np.ndarray, inputs: DayInputs, day: int
    ) -> None:
        """Seeds (S -> I, or into the compartments they name) and imported infections (into
        E), spread over ages by population (a declared model's ``initial``, ``seed_into`` and
        ``import_into`` for S, I and E)."""
        if inputs.seed_infectious is None and inputs.imported_exposed is None and not inputs.seeded:
            return
        rng = np.random.default_rng([self.seed, day, 0x5EED])
        share = model.population / np.maximum(model.population.sum(axis=0), 1e-300)
        if inputs.seed_infectious is not None:
            counts = np.broadcast_to(inputs.seed_infectious, (self.particles, model.regions))
            self._move(state, model.initial, model.seed_into, counts, share, rng)
        for name, seeds in (inputs.seeded or {}).items():
            counts = np.broadcast_to(seeds, (self.particles, model.regions))
            self._move(state, model.initial, model.compartments.index(name), counts, share, rng)
        if inputs.imported_exposed is not None:
            mean = np.broadcast_to(inputs.imported_exposed, (self.particles, model.regions))
            counts = rng.poisson(mean) if self.stochastic else mean
            self._move(state, model.initial, model.import_into, counts, share, rng)

    def _move(
        self,
        state: np.ndarray,
        source: int,
        target: int,
        counts: np.ndarray,
        share: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        """Move ``counts`` ``(particles, regions)`` people from ``source`` to ``target``,
        split over age bands by ``share`` (multinomially when stochastic), at most all there."""
        if self.stochastic:
            by_age = np.zeros(state[:, source].shape)
            for r in np.flatnonzero(np.asarray(counts).any(axis=0)):
                whole = np.rint(counts[:, r]).astype(np.int64)
                by_age[:, :, r] = rng.multinomial(whole, share[:, r])
        else:
            by_age = np.asarray(counts)[:, None, :] * share[None]
        moved = np.minimum(by_age, state[:, source])
        state[:, source] -= moved
        state[:, target] += moved


def _over_ages(values: np.ndarray, axis: int) -> np.ndarray:
    """``values`` summed over its age axis (a copy of the one band when there is one)."""
    if values.shape[axis] == 1:
        return np.take(values, 0, axis=axis)
    return values.sum(axis=axis)


def _same_mixing(a: DayInputs, b: DayInputs | None) -> bool:
    """Whether two days' inputs give the same transmission (so its kernels can be reused)."""
    if b is None:
        return False
    return (
        a.mixing is b.mixing
        and _equal(a.away_scale, b.away_scale)
        and dict(a.contact_scale) == dict(b.contact_scale)
        and a.transmissibility == b.transmissibility
    )


def _equal(x: np.ndarray | None, y: np.ndarray | None) -> bool:
    if x is None or y is None:
        return x is y
    return np.array_equal(x, y)
