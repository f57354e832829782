"""The endemic-epidemic model of the ``hhh4`` class (Held, Höhle & Hofmann 2005; Paul & Held
2011; Meyer & Held 2014; Meyer, Held & Höhle 2017), fitted by maximum likelihood with analytic
gradients::

    Y[t, i] ~ NegBin(mu[t, i], size)          (size shared, or one per region)
    mu[t, i] = f(t) * (e_i nu[t, i] + lambda[t, i] Y[t-1, i] + phi[t, i] sum_j w[j, i] Y[t-1, j])

    log nu[t, i]     = a + b t + sum_s (g_s sin(2 pi s t / P) + h_s cos(2 pi s t / P)) [+ a_i]
    log lambda[t, i] = c [+ harmonics] [+ c_i]
    log phi[t, i]    = d [+ p log e_i] [+ harmonics] [+ d_i]

with ``e_i`` the population fraction (an offset of the endemic part), ``w`` the neighbour
weights (a power law ``o^-k`` of the neighbourhood order ``o`` estimated with the rest, first
neighbours only, or measured mobility), ``f`` weekday factors for daily data and ``t`` the
period's index from 0. Region effects ``a_i``, ``c_i``, ``d_i`` are penalised deviations with
a fixed standard deviation (a ridge, the fixed-variance cousin of hhh4's random intercepts).
With the same terms, the estimates are those of ``surveillance::hhh4`` (tested).

Forecasts are paths simulated forward from the maximum-likelihood parameters, as hhh4's
``simulate`` does (``parameter_uncertainty=True`` draws them from the Laplace approximation
instead: on the real data sets of the benchmark that widened the forecasts beyond what the
outcomes supported); a period's count never exceeds the region's population.

The autoregressive and neighbour parts may pass on a distribution of lags (Bracher & Held
2020): ``lags`` fixes its weights, or, unset, the fit takes the geometric distribution of
:func:`~spreadwatch.forecast.terms.lag_candidates` with the highest likelihood. The terms and
their design are :mod:`spreadwatch.forecast.terms`, the likelihood and its maximisation
:mod:`spreadwatch.forecast.likelihood`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from spreadwatch.forecast.history import History
from spreadwatch.forecast.likelihood import (
    _Evaluation,
    _fit,
)
from spreadwatch.forecast.terms import (
    SEASON,
    EndemicFit,
    Spec,
    _design,
    draw_weights,
    lag_candidates,
    lagged,
    lagged_growth,
    resolved,
)

#: Days of data from which daily forecasts have weekday effects.
WEEKDAY_FROM = 28


#: A total's 95% upper bound may reach this many times the highest total yet (grown at the
#: data's fastest rate) before the model falls back to simpler terms.
CEILING_FACTOR = 5.0


#: Largest mean a simulated path may take (keeps runaway parameter draws finite).
MAX_MEAN = 1e9


def automatic_spec(history: History) -> Spec:
    """The terms the data can carry: seasonality (one harmonic per whole season seen, up to
    three) and a trend from one whole season on (52 weeks, 365 days), region effects from 20
    periods on, weekday effects for daily data from four weeks on, lags chosen by the fit."""
    seasons = int(history.periods // SEASON[history.unit])
    season = seasons >= 1
    return resolved(
        Spec(
            end_harmonics=min(3, seasons),
            epi_harmonics=1 if season else 0,
            trend=season,
            region_effects=("end", "ar", "ne") if history.periods >= 20 else (),
            weekday=history.periods >= WEEKDAY_FROM,
            lags=None,
        ),
        history,
    )


def simpler_specs(spec: Spec) -> list[tuple[Spec, str]]:
    """The fallbacks after ``spec``, each with what it leaves out."""
    plain = dataclasses.replace(
        spec, end_harmonics=0, epi_harmonics=0, trend=False, region_effects=()
    )
    ladder = [
        (plain, "no seasonality, trend or region effects"),
        (dataclasses.replace(plain, coupling="none"), "no coupling between regions"),
        (dataclasses.replace(plain, coupling="none", epidemic=False), "endemic part only"),
    ]
    return [(s, why) for s, why in ladder if s != spec]


def observed_growth(history: History) -> float:
    """The largest growth factor per period of the total that the data show, over pairs of
    consecutive windows of a week (two periods for weekly data) with at least 5 cases in the
    first and 20 in the two (half a case added to each); 1 when no pair has that many or
    nothing grew. (An onset from nothing is no measure of growth.)"""
    total = history.counts.sum(axis=1)
    width = 7 if history.unit == "day" else 2
    sums = np.convolve(total, np.ones(width), mode="valid")
    before, after = sums[:-width], sums[width:]
    enough = (before >= 5) & (before + after >= 20)
    if not enough.any():
        return 1.0
    ratio = (after[enough] + 0.5) / (before[enough] + 0.5)
    return float(max(1.0, np.max(ratio) ** (1 / width)))


@dataclass(frozen=True)
class EndemicEpidemic:
    """The endemic-epidemic forecaster: :meth:`fit` for the estimates, :meth:`sample` for
    paths. Without a ``spec`` the terms are chosen from the data (:func:`automatic_spec`); a
    fit that does not converge, grows faster than the data ever did or reaches a region's
    population falls back to simpler terms, and the notes say so."""

    spec: Spec | None = None
    name: str = "endemic-epidemic"

    def fit(self, history: History, spec: Spec | None = None) -> EndemicFit:
        """The maximum-likelihood fit; with ``spec.lags`` unset, the lag distribution with the
        highest likelihood among :func:`lag_candidates` (each fit starts from the last)."""
        spec = spec or self.spec or automatic_spec(history)
        if spec.lags is not None:
            return _fit(history, spec, spec.lags)
        best = None
        for lags in lag_candidates(history.unit, history.periods):
            fit = _fit(history, spec, lags, None if best is None else best.theta)
            if best is None or fit.log_likelihood > best.log_likelihood:
                best = fit
        return best

    def growth(self, history: History, fit: EndemicFit, horizons: int, spec: Spec) -> float:
        """The growth factor per period of the epidemic part over the forecast periods: the
        largest eigenvalue of its matrix (times the weekdays' mean factor), spread over the
        fit's lags."""
        design = _design(history, spec, horizons)
        if "ar" not in design.terms:
            return 0.0
        k = np.arange(history.periods, history.periods + horizons)
        previous = np.ones((1, horizons, len(history.regions)))
        largest = _Evaluation(design, fit.theta, k, previous).epidemic_eigenvalue()
        if design.weekday is not None:
            effects = np.concatenate([[0.0], fit.theta[design.weekday]])
            largest *= float(np.exp(effects.mean()))  # the weekdays' geometric mean factor
        return lagged_growth(largest, fit.lags)

    def sample(
        self,
        history: History,
        horizons: int,
        draws: int,
        rng: np.random.Generator,
        notes: list[str] | None = None,
    ) -> np.ndarray:
        """Paths ``(draws, horizons, regions)`` of future counts, from the first spec of the
        ladder whose fit passes the checks (the last one is used whatever happens)."""
        spec = resolved(self.spec, history) if self.spec else automatic_spec(history)
        ladder = [(spec, ""), *simpler_specs(spec)]
        limit = observed_growth(history)
        peak = max(float(history.counts.sum(axis=1).max()), 2.0)
        for rung, (candidate, _) in enumerate(ladder):
            last = rung == len(ladder) - 1
            try:
                fit = self.fit(history, candidate)
            except (ValueError, np.linalg.LinAlgError) as exc:
                if last:
                    raise ValueError(f"no fit of the simplest terms ({exc})") from exc
                problem = str(exc)
            else:
                problem = ""
                if not fit.converged:
                    problem = f"the fit did not converge ({fit.message})"
                else:
                    growth = self.growth(history, fit, horizons, candidate)
                    if growth > limit * 1.05:
                        seen = (
                            f"faster than the data ever grew ({limit:.2f})"
                            if limit > 1
                            else "while the data show no measurable growth (no week with 5 "
                            "cases before a rise)"
                        )
                        problem = (
                            f"its epidemic part grows {growth:.2f}-fold a {history.unit}, {seen}"
                        )
                if not problem or last:
                    paths, capped = _simulate(history, candidate, fit, horizons, draws, rng)
                    upper = np.quantile(paths.sum(axis=2), 0.95, axis=0)
                    ceiling = CEILING_FACTOR * peak * limit ** np.arange(1, horizons + 1)
                    if last:
                        return paths
                    if capped:
                        problem = "its paths reach the population of " + ", ".join(capped[:5])
                    elif (upper > ceiling).any():
                        h = int(np.argmax(upper > ceiling))
                        problem = (
                            f"its 95% bound for the total reaches {upper[h]:,.0f} at horizon "
                            f"{h + 1}, beyond {CEILING_FACTOR:g} times the highest total yet "
                            f"({peak:,.0f}) grown at the data's fastest rate"
                        )
                    else:
                        return paths
            if notes is not None:
                following = ladder[rung + 1][1] if not last else "nothing simpler"
                notes.append(f"{self.name}: {candidate.describe()}: {problem}; using {following}")
        raise AssertionError("unreachable")  # pragma: no cover


#: Share of a region's paths at its population that sends the model to simpler terms.
CAPPED_SHARE = 0.05


def _simulate(
    history: History,
    spec: Spec,
    fit: EndemicFit,
    horizons: int,
    draws: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[str]]:
    """Paths ``(draws, horizons, regions)`` with parameters drawn from the fit's Laplace
    approximation, each period's count at most the region's population; and the regions whose
    paths reach it more than :data:`CAPPED_SHARE` of the time."""
    design = _design(history, spec, horizons)
    if spec.parameter_uncertainty:
        thetas = rng.multivariate_normal(fit.theta, fit.covariance, size=draws, method="eigh")
        low, high = np.array(design.bounds).T
        thetas = np.clip(thetas, low, high)
    else:
        thetas = np.broadcast_to(fit.theta, (draws, fit.theta.size))
    n = len(history.regions)
    cap = history.population if history.population is not None else np.full(n, np.inf)
    out = np.empty((draws, horizons, n))
    # a power law's weights differ by draw: take the draws in batches of bounded memory
    varies = design.decay is not None and spec.parameter_uncertainty
    batch = max(1, int(4e6 // (n * n))) if varies else draws
    for first in range(0, draws, batch):
        chosen = thetas[first : first + batch]
        stacked = None
        if design.decay is not None:
            stacked = (
                draw_weights(design, chosen)
                if varies
                else np.broadcast_to(draw_weights(design, chosen[:1]), (len(chosen), n, n))
            )
        tail = history.counts[-len(fit.lags) :]
        recent = np.broadcast_to(tail, (len(chosen), *tail.shape))
        for h in range(horizons):
            k = np.array([history.periods + h])
            so_far = np.concatenate([recent, out[first : first + batch, :h]], axis=1)
            previous = lagged(so_far[:, -len(fit.lags) :], fit.lags)[:, -1:]
            ev = _Evaluation(design, chosen, k, previous, stacked)
            mean = np.minimum(ev.mean[:, 0], np.minimum(MAX_MEAN, cap))
            size = np.broadcast_to(ev.size[:, 0], mean.shape)
            counts = rng.negative_binomial(size, size / (size + mean)).astype(np.float64)
            out[first : first + batch, h] = np.minimum(counts, cap)
    reached = (out >= cap).mean(axis=0).max(axis=0) > CAPPED_SHARE
    return out, [history.regions[i] for i in np.flatnonzero(reached)]
