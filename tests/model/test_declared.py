"""Models declared as data (``[model]``) against independent truth: the fixed model's own
equations and engines, the final-size relation, SEIRS's endemic equilibrium, closed-form
reproduction numbers and sojourn times, exponential vaccination, and the two-strain model's
collapse to one SEIR when the strains are the same."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from scipy.optimize import brentq

import spreadwatch.model.run as model_run
from spreadwatch.configfile import ConfigError
from spreadwatch.model.config import config_from_mapping
from spreadwatch.model.declared import expressions
from spreadwatch.model.declared.model import DeclaredModel
from spreadwatch.model.outputs import select
from spreadwatch.model.run import build_scenario, simulate
from spreadwatch.model.structured import StructuredModel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEIR = {"r0": 2.5, "latent_days": 3.0, "infectious_days": 5.0}
#: An SIR's two transitions, as a config writes them.
CONTACT = {"kind": "contact", "from": "S", "to": "I", "rate": "beta", "infectious": {"I": 1}}
RECOVERY = {"kind": "spontaneous", "from": "I", "to": "R", "rate": "1 / infectious_days"}


def _config(model: dict | None = None, *, disease: dict | None = None, **sections):
    data = {
        "run": {"start_date": "2026-01-01", "days": 120},
        "regions": {"csv": "three-countries.csv"},
        "mobility": {"kind": "gravity", "away_fraction": 0.05},
        "seed": [{"region": "XAN", "infected": 20}],
    }
    data.update(sections)
    if disease is not None:
        data["disease"] = disease
    if model is not None:
        data["model"] = model
    return config_from_mapping(data, EXAMPLES, "t.toml")


def _days(config, generic: bool = False, monkeypatch=None) -> list:
    """Each day's output (states and incidence, copied) of a config's run."""
    if generic:
        monkeypatch.setattr(model_run, "lowered", lambda model: None)
    scenario = build_scenario(config)
    out: list = []
    scenario.run(lambda o: out.append(select(o, [*config.compartments, "incidence"])))
    return out


def _trajectory(config, generic=False, monkeypatch=None) -> np.ndarray:
    """``(days, compartments + 1, regions)`` of particle 0."""
    return np.stack([day[0] for day in _days(config, generic, monkeypatch)])


# ---- the section's validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            {"preset": "seir", "parameters": {"r0": 2.5, "latent_days": 3}},
            "model.parameters.infectious_days: missing",
        ),
        (
            {"preset": "seir", "parameters": {**SEIR, "beta": 0.3}},
            "model.parameters.r0: give r0 or beta",
        ),
        (
            {"preset": "seir", "parameters": {**SEIR, "waning_days": 9}},
            "model.parameters.waning_days: not used by any rate",
        ),
        ({"preset": "sir", "parameters": SEIR}, "model.preset: expected one of"),
        (
            {
                "compartments": ["S", "I", "R"],
                "transitions": [
                    CONTACT,
                    {**RECOVERY, "kind": "decay", "rate": "g"},
                ],
            },
            "model.transitions[1].kind: expected one of 'spontaneous', 'contact', got 'decay'",
        ),
        (
            {
                "compartments": ["S", "I", "R"],
                "transitions": [
                    CONTACT,
                    {**RECOVERY, "rate": "g", "infectious": {"I": 1}},
                ],
                "parameters": {"beta": 0.5, "g": 0.2},
            },
            "model.transitions[1].infectious: unknown key for kind = 'spontaneous' (used with",
        ),
        (
            {
                "compartments": ["S", "I", "R"],
                "transitions": [
                    {**CONTACT, "infectious": {"X": 1}},
                ],
                "parameters": {"beta": 0.5},
            },
            "model.transitions[0].infectious.X: unknown compartment (S, I, R)",
        ),
        (
            {
                "compartments": ["S", "I", "R"],
                "transitions": [
                    CONTACT,
                    {**RECOVERY, "rate": "open('x')"},
                ],
            },
            "model.transitions[1].rate: only numbers, parameter names",
        ),
        (
            {
                "compartments": ["S", "I", "R"],
                "transitions": [{"kind": "spontaneous", "from": "S", "to": "I", "rate": "1"}],
            },
            "model.transitions: no contact transition",
        ),
        (
            {
                "preset": "seir",
                "parameters": SEIR,
                "modifiers": [
                    {"kind": "step", "parameter": "gamma", "factor": 0.5, "start": "2026-02-01"}
                ],
            },
            "model.modifiers[0].parameter: unknown parameter 'gamma'",
        ),
        (
            {
                "preset": "seir",
                "parameters": SEIR,
                "modifiers": [{"kind": "step", "parameter": "beta", "start": "2026-02-01"}],
            },
            "model.modifiers[0].factor: missing required key",
        ),
    ],
)
def test_model_section_errors_name_the_field(model: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(model)
    assert expected in str(caught.value)


def test_errors_found_when_compiled_name_the_parameter_and_region() -> None:
    with pytest.raises(ConfigError, match=r"model.parameters.beta.regions.XZZ: unknown region"):
        beta = {"value": 0.5, "regions": {"XZZ": 0.1}}
        _config(
            {"preset": "seir", "parameters": {"beta": beta, "latent_days": 3, "infectious_days": 5}}
        )
    negative = {
        "preset": "seapir",
        "parameters": {
            **SEIR,
            "asymptomatic_fraction": 1.5,
            "presymptomatic_days": 2,
            "presymptomatic_infectiousness": 1,
            "asymptomatic_infectiousness": 0.5,
        },
    }
    with pytest.raises(ConfigError, match=r"the rate of E -> P .* is -0.1"):
        build_scenario(_config(negative))
    with pytest.raises(ConfigError, match="expected one number or 1"):
        build_scenario(
            _config({"preset": "seir", "parameters": {**SEIR, "latent_days": [3.0, 4.0]}})
        )


def test_exactly_one_of_disease_and_model() -> None:
    with pytest.raises(ConfigError, match="disease: give exactly one of"):
        _config({"preset": "seir", "parameters": SEIR}, disease=SEIR)
    with pytest.raises(ConfigError, match="disease: give exactly one of"):
        _config()


@pytest.mark.parametrize(
    "text", ["__import__('os')", "a.b", "f(x)", "x if y else z", "[1]", "'s'", "a < b", "True"]
)
def test_expressions_refuse_anything_but_arithmetic(text: str) -> None:
    with pytest.raises(ValueError):
        expressions.parse(text)


def test_expressions_evaluate_with_broadcasting() -> None:
    rate = expressions.parse("(1 - efficacy) * beta / 2 ** -1")
    value = rate.evaluate({"efficacy": np.array([[0.5], [0.0]]), "beta": np.array([[1.0, 2.0]])})
    np.testing.assert_allclose(value, [[1.0, 2.0], [2.0, 4.0]])
    assert rate.names == {"efficacy", "beta"}
    assert rate.scales_with("beta") and not rate.scales_with("efficacy")


# ---- the same model as the fixed one ------------------------------------------------------


SEIHRD = {
    **SEIR,
    "hospital_fraction": [0.01 * (1 + b) for b in range(16)],
    "hospital_days": 8.0,
    "fatality_fraction": 0.2,
}
DISEASE = {**{k: v for k, v in SEIHRD.items()}, "compartments": ["S", "E", "I", "H", "R", "D"]}


def test_a_preset_of_the_fixed_family_runs_on_the_fixed_kernels() -> None:
    fixed = build_scenario(_config(disease=DISEASE, age={}))
    declared = build_scenario(_config({"preset": "seihrd", "parameters": SEIHRD}, age={}))
    assert isinstance(declared.model, StructuredModel)
    a, b = fixed.model.history, declared.model.history
    assert b.beta == pytest.approx(a.beta, rel=1e-12)  # r0 by the next-generation matrix
    assert (b.latent_days, b.infectious_days, b.hospital_days) == pytest.approx(
        (a.latent_days, a.infectious_days, a.hospital_days)
    )
    np.testing.assert_allclose(b.hospital_fraction, a.hospital_fraction, rtol=1e-12)
    np.testing.assert_allclose(b.fatality_fraction, [0.2] * 16, rtol=1e-12)
    # anything else (a modifier, here) runs on the declared kernels
    seasonal = {
        "kind": "seasonal",
        "parameter": "latent_days",
        "amplitude": 0.0,
        "peak": "2026-01-01",
    }
    other = build_scenario(
        _config({"preset": "seihrd", "parameters": SEIHRD, "modifiers": [seasonal]}, age={})
    )
    assert isinstance(other.model, DeclaredModel)
    assert other.model.r0 == pytest.approx(2.5, rel=1e-9)


def test_generic_solver_agrees_with_the_fixed_model(monkeypatch) -> None:
    """Ages, hospitals, deaths and mobility: the declared kernels under LSODA against the
    fixed model's own adaptive engine."""
    config = _config({"preset": "seihrd", "parameters": SEIHRD}, age={})
    fixed = _trajectory(_config(disease=DISEASE, age={}))
    generic = _trajectory(config, generic=True, monkeypatch=monkeypatch)
    population = 18_430_000
    assert np.abs(generic - fixed).max() / population < 2e-6
    assert fixed[-1, -1].sum() > 1000  # an epidemic ran
    np.testing.assert_allclose(generic[:, :6].sum(axis=(1, 2)), population, rtol=1e-9)


def test_generic_rk4_agrees_with_the_adaptive_solver(monkeypatch) -> None:
    model = {"preset": "seirs", "parameters": {**SEIR, "waning_days": 40.0}}
    adaptive = _trajectory(_config(model), generic=True, monkeypatch=monkeypatch)
    rk4 = _trajectory(
        _config(model, run={"start_date": "2026-01-01", "days": 120, "steps_per_day": 16})
    )
    assert np.abs(rk4 - adaptive).max() / 18_430_000 < 1e-5


def test_generic_chain_binomial_agrees_with_the_fixed_one_in_distribution(monkeypatch) -> None:
    run = {
        "start_date": "2026-01-01",
        "days": 60,
        "engine": "stochastic",
        "particles": 300,
        "random_seed": 4,
    }
    regions = {"csv": "three-countries.csv"}

    def totals(config, generic):
        days = _days(config, generic, monkeypatch)
        return np.stack([d[:, -1] for d in days]).sum(axis=(0, 2)), days

    fixed, _ = totals(_config(disease=SEIR, run=run, regions=regions), False)
    generic, days = totals(_config({"preset": "seir", "parameters": SEIR}, run=run), True)
    se = math.sqrt(fixed.var() / fixed.size + generic.var() / generic.size)
    assert abs(fixed.mean() - generic.mean()) < 4 * se
    assert 0.5 < generic.std() / fixed.std() < 2
    last = days[-1][:, :4]  # whole people, every resident in one compartment
    assert np.array_equal(last, np.round(last))
    np.testing.assert_array_equal(last.sum(axis=(1, 2)), 18_430_000)


def test_chain_binomial_is_reproducible_by_seed(monkeypatch) -> None:
    def run(seed):
        run = {
            "start_date": "2026-01-01",
            "days": 30,
            "engine": "stochastic",
            "particles": 20,
            "random_seed": seed,
        }
        return np.stack(
            [
                d
                for d in _days(
                    _config(
                        {
                            "preset": "seirv",
                            "parameters": {**SEIR, "efficacy": 0.7, "vaccination_rate": 0.01},
                        },
                        run=run,
                    )
                )
            ]
        )

    first, again, other = run(1), run(1), run(2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


# ---- analytic truths ------------------------------------------------------------------------

ONE_REGION = {"csv": "three-countries.csv"}


def _alone(model: dict, days: int, **run) -> tuple:
    """One region with nobody travelling (Xandria, 5.2 million)."""
    config = _config(
        model,
        run={"start_date": "2026-01-01", "days": days, **run},
        mobility={"kind": "none"},
    )
    return config, _trajectory(config)


def test_final_size_of_a_declared_sir() -> None:
    """A model the fixed family does not have (SIR, written out) ends at the final-size
    relation ``z = 1 - exp(-R0 z)``."""
    sir = {
        "compartments": ["S", "I", "R"],
        "transitions": [
            {"kind": "contact", "from": "S", "to": "I", "rate": "beta", "infectious": {"I": 1}},
            {"kind": "spontaneous", "from": "I", "to": "R", "rate": "1 / infectious_days"},
        ],
        "parameters": {"r0": 1.8, "infectious_days": 4.0},
    }
    config, path = _alone(sir, 500)
    assert isinstance(build_scenario(config).model, DeclaredModel)
    z = brentq(lambda z: z - 1 + math.exp(-1.8 * z), 1e-6, 1)
    attack = path[-1, 2, 0] / 5_200_000
    assert attack == pytest.approx(z, abs=2e-5)
    assert path[:, 3, 0].sum() == pytest.approx(path[-1, 2, 0], rel=1e-5)  # incidence adds up


def test_seirs_settles_at_its_endemic_equilibrium() -> None:
    """With waning immunity, ``S / N -> 1 / R0`` and ``I / N -> (1 - 1/R0) / (gamma (T_L +
    T_I + T_W))`` scaled by ``T_I``: the shares of a cycle spent in E, I and R."""
    model = {
        "preset": "seirs",
        "parameters": {"r0": 2.0, "latent_days": 2.0, "infectious_days": 4.0, "waning_days": 60.0},
    }
    _, path = _alone(model, 3000)
    share = path[-1, :4, 0] / 5_200_000
    cycle = 2.0 + 4.0 + 60.0
    expected = [0.5, 0.5 * 2 / cycle, 0.5 * 4 / cycle, 0.5 * 60 / cycle]
    np.testing.assert_allclose(share, expected, rtol=2e-3)


def test_seapir_reproduction_number_and_infectious_time_in_closed_form() -> None:
    a, p_days, t_i, rel_p, rel_a = 0.3, 2.0, 5.0, 0.6, 0.5
    parameters = {
        "beta": 0.2,
        "latent_days": 3.0,
        "infectious_days": t_i,
        "presymptomatic_days": p_days,
        "asymptomatic_fraction": a,
        "presymptomatic_infectiousness": rel_p,
        "asymptomatic_infectiousness": rel_a,
    }
    tau = (1 - a) * (rel_p * p_days + t_i) + a * rel_a * t_i
    homogeneous = build_scenario(_config({"preset": "seapir", "parameters": parameters}))
    assert homogeneous.model.r0 == pytest.approx(0.2 * tau, rel=1e-12)
    assert homogeneous.model.infectious_days == pytest.approx(tau, rel=1e-12)
    aged = build_scenario(_config({"preset": "seapir", "parameters": parameters}, age={}))
    rho = max(abs(np.linalg.eigvals(sum(aged.model.contacts.values()))))
    assert aged.model.r0 == pytest.approx(0.2 * tau * rho, rel=1e-9)


def test_vaccination_empties_s_exponentially() -> None:
    """Without seeds nobody is infected; ``S`` decays at the vaccination rate."""
    model = {"preset": "seirv", "parameters": {**SEIR, "efficacy": 0.8, "vaccination_rate": 0.02}}
    config = _config(
        model, seed=[], run={"start_date": "2026-01-01", "days": 50}, mobility={"kind": "none"}
    )
    path = _trajectory(config)
    population = np.array([5_200_000, 12_400_000, 830_000])
    days = np.arange(1, 51)[:, None]
    np.testing.assert_allclose(path[:, 0], population * np.exp(-0.02 * days), rtol=1e-5)
    np.testing.assert_allclose(path[:, 1], population * (1 - np.exp(-0.02 * days)), rtol=1e-5)
    assert path[:, -1].max() == 0.0


def test_identical_strains_with_full_cross_immunity_are_one_seir() -> None:
    """Two strains with the same parameters and full cross-immunity, seeded apart (each seed
    names its compartment), infect as many people as one SEIR of the same ``beta``."""
    both = {
        "beta1": 0.5,
        "beta2": 0.5,
        "latent_days": 3.0,
        "infectious_days": 5.0,
        "cross_immunity": 1.0,
    }
    seeds = [
        {"region": "XAN", "infected": 10, "compartment": "I1"},
        {"region": "XBL", "infected": 10, "compartment": "I2"},
    ]
    config = _config(
        {"preset": "two-strain", "parameters": both},
        seed=seeds,
        run={"start_date": "2026-01-01", "days": 400},
    )
    path = _trajectory(config)
    names = config.compartments
    assert path[-1, names.index("J1")].sum() == path[-1, names.index("J2")].sum() == 0.0
    seeds_one = [{"region": "XAN", "infected": 10}, {"region": "XBL", "infected": 10}]
    seir = _trajectory(
        _config(
            {
                "preset": "seir",
                "parameters": {"beta": 0.5, "latent_days": 3.0, "infectious_days": 5.0},
            },
            seed=seeds_one,
            run={"start_date": "2026-01-01", "days": 400},
        )
    )
    infected = path[-1, names.index("R1")] + path[-1, names.index("R2")]
    np.testing.assert_allclose(infected, seir[-1, 3], rtol=1e-4)
    assert path[-1, names.index("R1")].sum() > 1e6 and path[-1, names.index("R2")].sum() > 1e6


def test_seed_compartment_must_exist() -> None:
    with pytest.raises(ConfigError, match=r"seed\[0\].compartment: 'I3' is not a compartment"):
        _config(
            {
                "preset": "two-strain",
                "parameters": {
                    "beta1": 0.5,
                    "beta2": 0.5,
                    "latent_days": 3.0,
                    "infectious_days": 5.0,
                    "cross_immunity": 1.0,
                },
            },
            seed=[{"region": "XAN", "infected": 1, "compartment": "I3"}],
        )
    with pytest.raises(ConfigError, match=r"seed\[0\].compartment: only used with a \[model\]"):
        _config(disease=SEIR, seed=[{"region": "XAN", "infected": 1, "compartment": "I"}])


def test_step_modifier_starts_and_ends_at_midnight() -> None:
    model = {
        "preset": "seir",
        "parameters": SEIR,
        "modifiers": [
            {
                "kind": "step",
                "parameter": "beta",
                "factor": 0.0,
                "start": "2026-02-01",
                "end": "2026-02-10",
            }
        ],
    }
    _, path = _alone(model, 60)
    incidence = path[:, -1, 0]
    assert incidence[30] > 100 and incidence[41] > 0  # before and after
    np.testing.assert_array_equal(incidence[31:41], 0.0)  # Feb 1 to 10, both included


def test_seasonal_modifier_scales_the_rates_by_its_cosine() -> None:
    modifier = {"kind": "seasonal", "parameter": "beta", "amplitude": 0.3, "peak": "2026-01-15"}
    scenario = build_scenario(
        _config({"preset": "seir", "parameters": SEIR, "modifiers": [modifier]})
    )
    compiled = scenario.model.compiled
    base = compiled.base_rates()[0]
    for day in (0, 14, 100, 197):
        factor = 1 + 0.3 * math.cos(2 * math.pi * (day - 14) / 365.25)
        np.testing.assert_allclose(compiled.rates_on(day)[0], base * factor, rtol=1e-12)
        np.testing.assert_allclose(compiled.rates_on(day)[1:], compiled.base_rates()[1:])


def test_regional_parameter_applies_to_its_region_only() -> None:
    """Nobody travels: a region where beta is 0 sees no infections after its own seeds."""
    beta = {"value": 0.5, "regions": {"XBL": 0.0}}
    config = _config(
        {
            "preset": "seir",
            "parameters": {"beta": beta, "latent_days": 3.0, "infectious_days": 5.0},
        },
        seed=[{"region": "XAN", "infected": 10}, {"region": "XBL", "infected": 10}],
        mobility={"kind": "none"},
    )
    path = _trajectory(config)
    assert path[:, -1, 1].max() == 0.0
    assert path[:, -1, 0].sum() > 1e6


def test_declared_model_runs_end_to_end_with_its_own_compartments(tmp_path) -> None:
    run = {"start_date": "2026-01-01", "days": 20, "engine": "stochastic", "particles": 30}
    config = _config(
        {"preset": "seirv", "parameters": {**SEIR, "efficacy": 0.7, "vaccination_rate": 0.01}},
        run=run,
    )
    table = simulate(config, tmp_path)
    assert set(table["compartment"].to_pylist()) == {"S", "V", "E", "I", "R", "incidence"}
    means = table.filter(pc.equal(table["output_type"], "mean"))
    last = means.filter(pc.equal(means["date"], means["date"][-1]))
    states = last.filter(pc.not_equal(last["compartment"], "incidence"))
    assert pc.sum(states["value"]).as_py() == pytest.approx(18_430_000, rel=1e-12)


def test_the_declared_example_builds_with_the_r0_it_states() -> None:
    from spreadwatch.model.config import load_config

    scenario = build_scenario(load_config(EXAMPLES / "korea-influenza-seasonal.toml"))
    assert isinstance(scenario.model, DeclaredModel)
    assert scenario.model.r0 == pytest.approx(1.2, rel=1e-9)
    assert scenario.model.compartments == ("S", "V", "E", "P", "A", "I", "R")


def test_parameter_sets_scale_a_declared_models_r0() -> None:
    """Calibration's runs (one particle per parameter set) work on declared models: the
    config's own r0 reproduces the chain's mean run, a larger one infects more."""
    from spreadwatch.model.ensemble import run_parameter_sets
    from spreadwatch.model.run import chain_engine

    run = {"start_date": "2026-01-01", "days": 60, "steps_per_day": 4}
    model = {"preset": "seirv", "parameters": {**SEIR, "efficacy": 0.7, "vaccination_rate": 0.01}}
    scenario = build_scenario(_config(model, run=run))
    assert isinstance(scenario.model, DeclaredModel)
    engine = chain_engine(scenario.model, 2, 4, stochastic=False)
    infections = run_parameter_sets(scenario, engine, {"r0": np.array([2.5, 3.5])})
    alone = chain_engine(scenario.model, 1, 4, stochastic=False)
    days: list = []
    alone.run(scenario.model, 60, scenario.timeline, lambda o: days.append(o.incidence[0].copy()))
    np.testing.assert_allclose(infections[0], np.stack(days), rtol=1e-12)
    assert infections[1].sum() > 1.2 * infections[0].sum()


SIR = [CONTACT, RECOVERY]


def _sir(*, rate: str = "beta", weight: float | str = 1, **model) -> dict:
    contact = {**SIR[0], "rate": rate, "infectious": {"I": weight}}
    parameters = model.pop("parameters", {"r0": 2.0, "infectious_days": 4.0})
    return {"compartments": ["S", "I", "R"], "transitions": [contact, SIR[1]]} | {
        "parameters": parameters,
        **model,
    }


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            _sir(
                modifiers=[
                    {"kind": "seasonal", "parameter": "r0", "amplitude": 0.2, "peak": "2026-01-01"}
                ]
            ),
            "model.modifiers[0].parameter: modify beta, which r0 sets",
        ),
        (_sir(rate="beta / r0"), "model.transitions[0].rate: r0 is not a parameter of the rates"),
        (
            _sir(rate="beta ** 2"),
            "model.transitions[0].rate: with r0, a contact rate must be beta times",
        ),
        (_sir(rate="beta + 0.1"), "with r0, a contact rate must be beta times a factor"),
        (_sir(weight="beta"), "model.parameters.r0: with r0, infectious weights cannot use beta"),
        (
            _sir(parameters={"r0": -1.0, "infectious_days": 4.0}),
            "model.parameters.r0: expected a number > 0",
        ),
        (
            _sir(
                weight="w",
                parameters={"beta": 0.5, "infectious_days": 4.0, "w": 1.0},
                modifiers=[{"kind": "step", "parameter": "w", "factor": 0, "start": "2026-01-05"}],
            ),
            "model.modifiers[0].parameter: 'w' sets infectious weights",
        ),
        (_sir(weight=-1.0), "model.transitions[0].infectious.I: expected a weight >= 0, got -1"),
        (_sir(initial="I"), "model.initial: 'I' is not the source of any contact transition"),
        (_sir(rate="beta * " + "9" * 300), "model.transitions[0].rate: expected at most 200 char"),
        (
            {
                "compartments": ["S", "I", "R"],
                "transitions": [{**SIR[0], "infectious": {"I": 1, "S": 1}}, SIR[1]],
                "parameters": {"r0": 2.0, "infectious_days": 4.0},
            },
            "model.transitions[0].infectious.S: 'S' is where residents start",
        ),
    ],
)
def test_what_the_second_reading_found_is_refused_by_name(model: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(model)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        ("1 / (infectious_days - 4)", "is inf"),
        ("10 ** 400 * infectious_days", "is inf"),
        ("(0 - 1) ** 0.5 / infectious_days", "is nan"),
    ],
)
def test_rates_that_are_not_numbers_name_their_transition(rate: str, shown: str) -> None:
    model = _sir(parameters={"beta": 0.5, "infectious_days": 4.0})
    model["transitions"][1] = {**SIR[1], "rate": rate}
    with pytest.raises(ConfigError, match=rf"the rate of I -> R .* {shown}"):
        build_scenario(_config(model))


def test_an_infection_that_never_ends_is_named() -> None:
    si = {"compartments": ["S", "I"], "transitions": [SIR[0]], "parameters": {"r0": 2.0}}
    with pytest.raises(ConfigError, match="nobody leaves I"):
        build_scenario(_config(si))
    isolation = [{"kind": "isolation", "start": "2026-01-10", "days": 2.0}]
    zero = _sir(weight=0.0, parameters={"beta": 0.5, "infectious_days": 4.0})
    with pytest.raises(ConfigError, match="ever becomes infectious"):
        build_scenario(_config(zero, intervention=isolation))
    assert isinstance(build_scenario(_config(zero)).model, StructuredModel | DeclaredModel)


def test_isolation_does_not_depend_on_how_weights_are_scaled() -> None:
    isolation = [{"kind": "isolation", "start": "2026-01-01", "days": 6.0}]
    totals = []
    for beta, weight in ((0.5, 1.0), (0.25, 2.0)):
        model = _sir(weight=weight, parameters={"beta": beta, "infectious_days": 4.0})
        totals.append(_trajectory(_config(model, intervention=isolation))[:, -1].sum())
    assert totals[0] == pytest.approx(totals[1], rel=1e-6)
    assert totals[0] > 1e4  # an epidemic that isolation slows, not stops (R = 1.2)


def test_lowering_refuses_infectiousness_by_region_or_susceptibility_by_age(monkeypatch) -> None:
    regional = {"value": 1.0, "regions": {"XAN": 0.1}}
    weights = {"beta": 0.5, "latent_days": 3.0, "infectious_days": 5.0, "w": regional}
    model = {
        "compartments": ["S", "E", "I", "R"],
        "transitions": [
            {**SIR[0], "to": "E", "infectious": {"I": "w"}},
            {"kind": "spontaneous", "from": "E", "to": "I", "rate": "1 / latent_days"},
            SIR[1],
        ],
        "parameters": weights,
    }
    config = _config(model)
    assert isinstance(build_scenario(config).model, DeclaredModel)
    lowered = _trajectory(config)
    generic = _trajectory(config, generic=True, monkeypatch=monkeypatch)
    np.testing.assert_allclose(lowered, generic)
    by_age = {
        **weights,
        "w": [1.0 + b / 10 for b in range(16)],
        "s": [1.0 / (1.0 + b / 10) for b in range(16)],
    }
    model = {
        **model,
        "transitions": [{**model["transitions"][0], "rate": "beta * s"}, *model["transitions"][1:]],
        "parameters": by_age,
    }
    assert isinstance(build_scenario(_config(model, age={})).model, DeclaredModel)


def test_parameter_sets_on_regional_rates_and_named_seeds() -> None:
    from spreadwatch.model.ensemble import run_parameter_sets
    from spreadwatch.model.run import chain_engine

    regional = {"value": 3.0, "regions": {"XBL": 2.0}}
    parameters = {"beta": 0.5, "latent_days": regional, "infectious_days": 5.0}
    seeds = [{"region": "XAN", "infected": 10, "compartment": "I"}]
    scenario = build_scenario(
        _config(
            {"preset": "seir", "parameters": parameters},
            seed=seeds,
            run={"start_date": "2026-01-01", "days": 15},
        )
    )
    engine = chain_engine(scenario.model, 2, 4, stochastic=False)
    infections = run_parameter_sets(scenario, engine, {"seed_scale": np.array([1.0, 10.0])})
    early = infections[:, :5].sum(axis=(1, 2))
    assert early[1] == pytest.approx(10 * early[0], rel=0.02)  # still growing exponentially
