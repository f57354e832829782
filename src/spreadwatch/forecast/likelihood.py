"""The endemic-epidemic likelihood (``hhh4``'s): the design of the model's terms, the negative
binomial log likelihood with its analytic gradient and Fisher information, and its maximisation
(Fisher scoring with step halving, region effects solved by a Schur complement). The model
and its forecasts are :mod:`spreadwatch.forecast.endemic`."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import special

from spreadwatch.forecast.coupling import power_law
from spreadwatch.forecast.history import History
from spreadwatch.forecast.terms import (
    EndemicFit,
    Spec,
    _Design,
    _design,
    draw_weights,
    lagged,
)


class _Evaluation:
    """Components of ``mu`` at periods ``k`` for one parameter vector (or a batch)."""

    def __init__(
        self,
        design: _Design,
        theta: np.ndarray,
        k: np.ndarray,
        previous: np.ndarray,
        stacked: np.ndarray | None = None,
    ):
        """``stacked``: each draw's power-law weights, when ``theta`` holds several draws
        (computed once for all periods)."""
        with np.errstate(over="ignore", invalid="ignore"):
            self._compute(design, theta, k, previous, stacked)

    def _compute(
        self,
        design: _Design,
        theta: np.ndarray,
        k: np.ndarray,
        previous: np.ndarray,
        stacked: np.ndarray | None,
    ) -> None:
        self.design = design
        history = design.history
        log_share = np.log(history.shares)
        theta = np.atleast_2d(theta)  # (D, P)
        self.theta = theta
        self.k = k
        self.previous = previous  # (D or 1, K, n)

        def predictor(name: str) -> np.ndarray:
            terms = design.terms[name]
            eta = (terms.time[k] @ theta[:, terms.shared].T).T[:, :, None]  # (D, K, 1)
            if terms.region is not None:
                eta = eta + theta[:, None, terms.region]
            if terms.log_population is not None:
                eta = eta + theta[:, terms.log_population, None, None] * log_share
            return eta

        self.endemic = np.exp(predictor("end") + log_share)
        self.lam = np.exp(predictor("ar")) if "ar" in design.terms else np.zeros((1, 1, 1))
        self.autoregressive = self.lam * previous
        self.neighbours = None
        self.weights = self.weights_derivative = None
        if "ne" in design.terms:
            self.phi = np.exp(predictor("ne"))
            if design.decay is not None:
                decay = np.exp(theta[:, design.decay])
                if decay.size == 1:
                    self.weights, self.weights_derivative = power_law(
                        design.orders, float(decay[0]), design.spec.max_lag
                    )
                    pressure = previous @ self.weights
                else:
                    if stacked is None:
                        stacked = draw_weights(design, theta)
                    pressure = np.einsum("dkj,dji->dki", previous, stacked)
            else:
                self.weights = design.weights
                pressure = previous @ self.weights
            self.neighbours = self.phi * pressure
        self.factor = 1.0
        if design.weekday is not None:
            weekday = (history.ends[0].weekday() + k) % 7
            effects = np.concatenate([np.zeros((theta.shape[0], 1)), theta[:, design.weekday]], 1)
            self.factor = np.exp(effects[:, weekday])[:, :, None]
        base = self.endemic + self.autoregressive
        if self.neighbours is not None:
            base = base + self.neighbours
        self.mean = self.factor * base
        self.size = np.exp(theta[:, design.size])[:, None, :]  # (D, 1, 1 or n)

    def epidemic_eigenvalue(self) -> float:
        """The largest modulus of the epidemic part's eigenvalues over the periods (the growth
        factor of a period's count without endemic cases; above 1 means growth)."""
        largest = 0.0
        lam = np.broadcast_to(self.lam[0], (len(self.k), self.endemic.shape[2]))
        # without epidemic harmonics every period has the same matrix: one is enough
        periods = len(self.k) if self.design.spec.epi_harmonics else 1
        for j in range(periods):
            matrix = np.diag(lam[j])
            if self.neighbours is not None and self.weights is not None:
                phi = np.broadcast_to(self.phi[0, j], lam[j].shape)
                matrix = matrix + phi[:, None] * self.weights.T
            largest = max(largest, float(np.max(np.abs(np.linalg.eigvals(matrix)))))
        return largest


def _derivatives(
    design: _Design, ev: _Evaluation, previous: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[tuple[slice, np.ndarray]]]:
    """``d mu / d theta`` in two parts: for the parameters shared by all regions (their
    positions, and ``(periods, regions, parameters)``), and for each block of region effects
    its slice and ``(periods, regions)`` (region ``i``'s effect moves only region ``i``)."""
    periods, n = ev.mean.shape[1:]
    regional = [t.region for t in design.terms.values() if t.region is not None]
    shared = np.ones(len(design.names), dtype=bool)
    for block in regional:
        shared[block] = False
    positions = np.flatnonzero(shared)
    column = np.full(len(design.names), -1)
    column[positions] = np.arange(positions.size)
    jacobian = np.zeros((periods, n, positions.size))
    factor = ev.factor[0] if design.weekday is not None else 1.0
    parts = {"end": ev.endemic[0]}
    if "ar" in design.terms:
        parts["ar"] = ev.autoregressive[0]
    if ev.neighbours is not None:
        parts["ne"] = ev.neighbours[0]
    log_share = np.log(design.history.shares)
    blocks = []
    for name, part in parts.items():
        terms = design.terms[name]
        scaled = np.broadcast_to(factor * part, (periods, n))
        jacobian[:, :, column[terms.shared]] = scaled[:, :, None] * terms.time[k][:, None, :]
        if terms.region is not None:
            blocks.append((terms.region, scaled))
        if terms.log_population is not None:
            jacobian[:, :, column[terms.log_population]] = scaled * log_share
    if design.decay is not None:
        pressure = previous @ ev.weights_derivative
        jacobian[:, :, column[design.decay]] = factor * ev.phi[0] * pressure
    if design.weekday is not None:
        weekday = (design.history.ends[0].weekday() + k) % 7
        for d in range(1, 7):
            jacobian[weekday == d, :, column[design.weekday.start + d - 1]] = ev.mean[0][
                weekday == d
            ]
    return positions, jacobian, blocks


class _Observed:
    """The counts a fit explains, with (for a shared size) their distinct values and how often
    each occurs: sums of ``f(y + size)`` over the cells then cost one call per distinct
    value."""

    def __init__(self, counts: np.ndarray, shared: bool):
        self.y = counts
        self.shared = shared
        self.values, self.times = np.unique(counts, return_counts=True)
        self.cells = counts.size if shared else counts.shape[0]

    def total(self, function, size: np.ndarray) -> np.ndarray:
        """``sum f(y + size)`` over all cells (shared size) or per region."""
        if self.shared:
            return self.times @ function(self.values + size.item())
        return function(self.y + size).sum(axis=0)

    def reduce(self, cells: np.ndarray) -> np.ndarray:
        return cells.sum() if self.shared else cells.sum(axis=0)


def _evaluate(
    design: _Design,
    theta: np.ndarray,
    observed: _Observed,
    previous: np.ndarray,
    k: np.ndarray,
    information: bool = False,
    gradient_too: bool = True,
) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """The penalised negative log likelihood (without the constant ``sum log y!``), its
    gradient (unless ``gradient_too`` is false) and, when asked, the Fisher information of the
    mean's parameters with the observed information of the dispersion (a positive definite
    scoring matrix whose inverse is the estimates' covariance)."""
    ev = _Evaluation(design, theta, k, previous[None])
    mu = np.maximum(ev.mean[0], 1e-300)
    size = ev.size[0]  # (1, 1) or (1, regions)
    y = observed.y
    log_size_mu = np.log(size + mu)
    penalty = _penalty(design)
    value = (
        observed.total(special.gammaln, size).sum()
        - observed.cells * special.gammaln(size).sum()
        + (size * (np.log(size) - log_size_mu)).sum()
        + (y * (np.log(mu) - log_size_mu)).sum()
        - 0.5 * float(theta @ penalty @ theta)
    )
    if not (gradient_too or information):
        return -float(value), None, None
    score = y / mu - (y + size) / (size + mu)  # d ll / d mu
    positions, jacobian, blocks = _derivatives(design, ev, previous, k)
    flat = jacobian.reshape(-1, positions.size)
    gradient = np.zeros(len(design.names))
    gradient[positions] = flat.T @ score.reshape(-1)
    for block, scaled in blocks:
        gradient[block] = (score * scaled).sum(axis=0)
    size_row = size[0] if not observed.shared else size.item()
    d_size = size_row * (
        observed.total(special.digamma, size)
        - observed.cells * special.digamma(size_row)
        + observed.reduce(np.log(size) + 1 - log_size_mu - (y + size) / (size + mu))
    )
    gradient[design.size] = d_size
    gradient -= penalty @ theta
    if not information:
        return -float(value), -gradient, None
    weight = size / (mu * (size + mu))
    fisher = penalty.copy()
    fisher[np.ix_(positions, positions)] += flat.T @ (flat * weight.reshape(-1)[:, None])
    for a, (block, scaled) in enumerate(blocks):
        cross = np.einsum("tik,ti->ki", jacobian, weight * scaled)
        fisher[positions, block] += cross
        fisher[block, positions] += cross.T
        for other, other_scaled in blocks[a:]:
            both = (weight * scaled * other_scaled).sum(axis=0)
            fisher[block, other] += np.diag(both)
            if other != block:
                fisher[other, block] += np.diag(both)
    trigamma = lambda x: special.polygamma(1, x)  # noqa: E731
    second = size_row**2 * (
        observed.total(trigamma, size)
        - observed.cells * trigamma(size_row)
        + observed.reduce(1 / size - 1 / (size + mu) - (mu - y) / (size + mu) ** 2)
    )
    index = np.arange(design.size.start, design.size.stop)
    fisher[index, index] += np.maximum(-(second + d_size), 1e-6)
    return -float(value), -gradient, fisher


def _penalty(design: _Design) -> np.ndarray:
    """The ridges' precision matrix: region effects shrunk to 0, and regions' dispersions
    (log sizes) shrunk to their mean."""
    if design.penalty is None:
        count = len(design.names)
        penalty = np.zeros((count, count))
        for terms in design.terms.values():
            if terms.region is not None:
                index = np.arange(terms.region.start, terms.region.stop)
                penalty[index, index] = 1.0 / design.spec.region_sd**2
        sizes = np.arange(design.size.start, design.size.stop)
        if sizes.size > 1 and design.spec.size_sd is not None:
            centre = np.eye(sizes.size) - 1.0 / sizes.size
            penalty[np.ix_(sizes, sizes)] = centre / design.spec.size_sd**2
        design.penalty = penalty
    return design.penalty


def block_solver(design: _Design):
    """A solver of the scoring equations that uses their structure: region ``i``'s effects
    meet only each other and the shared parameters, so the matrix is a small dense block, a
    border and one ``m x m`` block per region (a Schur complement instead of a dense solve
    of hundreds of unknowns). ``np.linalg.solve`` when there are no region effects."""
    blocks = [t.region for t in design.terms.values() if t.region is not None]
    if not blocks:
        return np.linalg.solve
    regional = np.stack([np.arange(b.start, b.stop) for b in blocks], axis=1)  # (n, m)
    shared = np.setdiff1d(np.arange(len(design.names)), regional.ravel())
    n, m = regional.shape

    def solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        a_block = matrix[np.ix_(shared, shared)]
        border = matrix[np.ix_(shared, regional.ravel())].reshape(shared.size, n, m)
        inverse = np.linalg.inv(matrix[regional[:, :, None], regional[:, None, :]])  # (n,m,m)
        inverse_border = np.einsum("ipq,kiq->ipk", inverse, border)  # D^-1 B'
        schur = a_block - np.einsum("kip,ipl->kl", border, inverse_border)
        inverse_rhs = np.einsum("ipq,iq->ip", inverse, rhs[regional])
        x = np.linalg.solve(schur, rhs[shared] - np.einsum("kip,ip->k", border, inverse_rhs))
        out = np.empty_like(rhs)
        out[shared] = x
        out[regional] = inverse_rhs - np.einsum("ipk,k->ip", inverse_border, x)
        return out

    return solve


def _maximise(
    objective,
    start: np.ndarray,
    bounds: np.ndarray,
    tolerance: float = 1e-9,
    solve=np.linalg.solve,
):
    """Fisher scoring with step halving inside box bounds (a tiny ridge when the scoring
    matrix is singular): ``(theta, value, information, converged, message)``. Converged when
    a step gains less than ``tolerance`` relative to the value."""
    low, high = bounds
    theta = np.clip(start, low, high)
    value, gradient, fisher = objective(theta, True)
    for _ in range(200):
        ridge = 0.0
        while True:
            try:
                step = -solve(fisher + ridge * np.eye(theta.size), gradient)
                break
            except np.linalg.LinAlgError:
                ridge = max(10 * ridge, 1e-8 * float(np.max(np.diag(fisher), initial=1.0)))
        # shorter scoring steps, then Levenberg-damped ones (towards scaled steepest descent)
        diagonal = np.diag(np.maximum(np.diag(fisher), 1e-12))
        steps = itertools.chain(
            (step * 0.5**i for i in range(12)),
            (-solve(fisher + damping * diagonal, gradient) for damping in 10.0 ** np.arange(-2, 9)),
        )
        for candidate in steps:
            trial = np.clip(theta + candidate, low, high)
            trial_value = objective(trial, None)[0]
            if np.isfinite(trial_value) and trial_value <= value:
                break
        else:
            return theta, value, fisher, False, "no step lowers the negative log likelihood"
        gain = value - trial_value
        theta = trial
        value, gradient, fisher = objective(theta, True)
        if gain <= tolerance * (abs(value) + 1):
            return theta, value, fisher, True, ""
    return theta, value, fisher, False, "no convergence in 200 iterations"


def _start(design: _Design) -> np.ndarray:
    theta = np.zeros(len(design.names))
    y = design.history.counts
    level = max(float(y.mean()) * len(design.history.regions), 0.1)
    theta[design.terms["end"].shared.start] = np.log(0.5 * level)
    if "ar" in design.terms:
        theta[design.terms["ar"].shared.start] = np.log(0.5)
    if "ne" in design.terms:
        theta[design.terms["ne"].shared.start] = np.log(0.1)
    if design.decay is not None:
        theta[design.decay] = np.log(2.0)
    theta[design.size] = np.log(2.0)
    return theta


def _fit(
    history: History, spec: Spec, lags: tuple[float, ...], start: np.ndarray | None = None
) -> EndemicFit:
    design = _design(history, spec)
    observed = _Observed(history.counts[1:], spec.dispersion == "shared")
    previous = lagged(history.counts, lags)[:-1]
    k = np.arange(1, history.periods)

    def objective(theta: np.ndarray, information: bool | None) -> tuple:
        """``information``: True for all three, False for value and gradient, None for the
        value only."""
        return _evaluate(
            design, theta, observed, previous, k, bool(information), information is not None
        )

    # trial steps may overflow: their value is then not finite and the step is refused
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        theta, value, information, converged, message = _maximise(
            objective,
            _start(design) if start is None else start,
            np.array(design.bounds).T,
            solve=block_solver(design),
        )

    def observed_or_fisher() -> np.ndarray:
        if theta.size <= OBSERVED_INFORMATION_UP_TO:
            return _observed_information(lambda th: objective(th, False)[1], theta)
        return information

    constant = float(special.gammaln(observed.y + 1).sum())
    return EndemicFit(
        theta,
        tuple(design.names),
        -value - constant,
        converged,
        message,
        lags,
        observed_or_fisher,
    )


#: Up to this many parameters the covariance is the inverse of the observed information
#: (as hhh4's); beyond, of the Fisher information (the observed one would cost two gradients
#: per parameter).
OBSERVED_INFORMATION_UP_TO = 60


def _observed_information(gradient, theta: np.ndarray) -> np.ndarray:
    """The Hessian of the negative log likelihood by central differences of its analytic
    gradient."""
    k = theta.size
    hessian = np.empty((k, k))
    for i in range(k):
        step = 1e-5 * max(1.0, abs(theta[i]))
        e = np.zeros(k)
        e[i] = step
        hessian[i] = (gradient(theta + e) - gradient(theta - e)) / (2 * step)
    return 0.5 * (hessian + hessian.T)
