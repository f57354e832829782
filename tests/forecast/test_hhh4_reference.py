"""The endemic-epidemic model against R's surveillance::hhh4 on real regional surveillance data
(measles in the 17 districts of Weser-Ems, 2001-2002, weekly), fitted by R once with
tests/forecast/data/make_hhh4_reference.R and stored beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spreadwatch.forecast.coupling import neighbour_orders, power_law
from spreadwatch.forecast.endemic import EndemicEpidemic
from spreadwatch.forecast.history import adjacency_orders, from_series, population_of
from spreadwatch.forecast.likelihood import _evaluate, _Observed
from spreadwatch.forecast.terms import Spec, _design
from spreadwatch.infer import read_cases

DATA = Path(__file__).parent / "data"

#: The specifications of make_hhh4_reference.R in spreadwatch's terms.
SPECS = {
    "adjacency": Spec(coupling="adjacency", neighbour_log_population=False),
    "powerlaw": Spec(coupling="power-law"),
    "powerlaw_negbinm": Spec(coupling="power-law", dispersion="region"),
    "seasonal": Spec(coupling="power-law", epi_harmonics=1),
}


def measles():
    series = read_cases(DATA / "measles_cases.csv")
    residents, shares = population_of(DATA / "measles_population.csv", series.regions)
    orders = adjacency_orders(DATA / "measles_adjacency.csv", series.regions)
    return from_series(series, "week", orders, None, residents, shares, "start")


def _r_name(name: str) -> str:
    """hhh4's name of one of our parameters."""
    if name == "log(size)":
        return "-log(overdisp)"
    if name.startswith("log(size)."):
        return f"-log(overdisp.{name.removeprefix('log(size).')})"
    for f in ("sin", "cos"):
        name = name.replace(f"{f}(1)", f"{f}(2 * pi * t/52)")
    return name.replace("ne.log(decay)", "neweights.d")


@pytest.mark.parametrize("spec", list(SPECS))
def test_estimates_and_likelihood_are_hhh4s(spec):
    reference = pd.read_csv(DATA / "measles_hhh4_fits.csv").query("spec == @spec")
    expected = dict(zip(reference["parameter"], reference["estimate"], strict=True))
    fit = EndemicEpidemic(SPECS[spec]).fit(measles())
    assert fit.converged
    assert fit.log_likelihood == pytest.approx(reference["loglik"].iloc[0], abs=1e-4)
    for name, value in fit.values().items():
        theirs = expected[_r_name(name)]
        if name == "ne.log(decay)":
            theirs = np.log(theirs)  # hhh4 estimates d itself
        if name.startswith("log(size)") and theirs < -20:
            continue  # no overdispersion bound: both at the edge of the parameter space
        assert value == pytest.approx(theirs, abs=2e-3), name


def test_standard_errors_are_hhh4s_where_the_parameterisation_agrees():
    reference = pd.read_csv(DATA / "measles_hhh4_fits.csv").query("spec == 'powerlaw'")
    expected = dict(zip(reference["parameter"], reference["se"], strict=True))
    fit = EndemicEpidemic(SPECS["powerlaw"]).fit(measles())
    errors, values = fit.standard_errors(), fit.values()
    for name in ("end.1", "end.t", "end.sin(1)", "end.cos(1)", "ar.1", "log(size)"):
        assert errors[name] == pytest.approx(expected[_r_name(name)], rel=0.03), name
    # hhh4's d against our log d: the delta method
    decay = errors["ne.log(decay)"] * np.exp(values["ne.log(decay)"])
    assert decay == pytest.approx(expected["neweights.d"], rel=0.03)


@pytest.mark.parametrize("dispersion", ["shared", "region"])
def test_the_gradient_is_the_likelihoods_derivative(dispersion):
    """Against central differences of the value itself, with region effects, at a point away
    from the optimum."""
    history = measles()
    spec = Spec(
        coupling="power-law",
        epi_harmonics=1,
        region_effects=("end", "ar", "ne"),
        dispersion=dispersion,
    )
    design = _design(history, spec)
    shared = dispersion == "shared"
    observed, previous = _Observed(history.counts[1:], shared), history.counts[:-1]
    k = np.arange(1, history.periods)
    rng = np.random.default_rng(0)
    theta = EndemicEpidemic(spec).fit(history).theta + rng.normal(0, 0.05, len(design.names))
    theta[design.size] = np.clip(theta[design.size], -3, 3)  # not at the edges (e^-30, e^15)

    def value(th):
        return _evaluate(design, th, observed, previous, k)[0]

    _, gradient, _ = _evaluate(design, theta, observed, previous, k)
    step = 1e-4  # the value is a long sum: smaller steps drown in its rounding
    numeric = [
        (value(theta + step * e) - value(theta - step * e)) / (2 * step) for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-3)


def test_power_law_weights_and_orders():
    # a path A-B-C-D and an island E
    adjacent = np.zeros((5, 5), dtype=bool)
    for a, b in ((0, 1), (1, 2), (2, 3)):
        adjacent[a, b] = adjacent[b, a] = True
    orders = neighbour_orders(adjacent)
    assert orders[0].tolist()[:4] == [0, 1, 2, 3] and orders[4, 4] == 0
    assert orders[0, 4] > 100  # unreachable
    weights, derivative = power_law(orders, 2.0, max_lag=2)
    # A reaches B (order 1) and C (order 2): 1 and 1/4, normalised
    np.testing.assert_allclose(weights[0], [0, 0.8, 0.2, 0, 0])
    assert weights[4].sum() == 0
    step = 1e-6
    numeric = (power_law(orders, 2.0 * np.exp(step), 2)[0] - weights) / step
    np.testing.assert_allclose(derivative, numeric, atol=1e-5)
