"""A declared model that is one of the fixed family (SEIR, SEIHR, SEIHRD with a single
``beta``, periods the same for every age band and region, no modifiers) runs on the fixed
model's hand-tuned kernels: the same equations, so the declared SEIR is exactly as fast as
the ``[disease]`` one. Branching is the same in both: leaving ``I`` at the sum of the two exit
rates, a share ``rate(I -> H) / sum`` goes to ``H``."""

from __future__ import annotations

import numpy as np

from spreadwatch.model.declared.compiled import SPONTANEOUS
from spreadwatch.model.declared.model import DeclaredModel
from spreadwatch.model.structured import (
    STATE_COMPARTMENTS,
    E,
    I,
    NaturalHistory,
    S,
    StructuredModel,
)

#: The fixed family's compartment sets and their transitions ``(from, to)``; ``S -> E`` is
#: the contact transition.
_FAMILY = {
    ("S", "E", "I", "R"): {("E", "I"), ("I", "R")},
    ("S", "E", "I", "H", "R"): {("E", "I"), ("I", "R"), ("I", "H"), ("H", "R")},
    ("S", "E", "I", "H", "R", "D"): {
        ("E", "I"),
        ("I", "R"),
        ("I", "H"),
        ("H", "R"),
        ("H", "D"),
    },
}


def lowered(model: DeclaredModel) -> StructuredModel | None:
    """The fixed model equal to ``model``, or ``None`` when it is not of the family."""
    compiled = model.compiled
    names = compiled.compartments
    spontaneous = _FAMILY.get(names)
    if spontaneous is None or compiled.section.modifiers:
        return None
    ends = (compiled.initial, compiled.seed_into, compiled.import_into)
    if tuple(names[i] for i in ends) != tuple(STATE_COMPARTMENTS[i] for i in (S, I, E)):
        return None
    pairs = {
        (names[s], names[t]): k
        for k, (s, t) in enumerate(zip(compiled.source, compiled.target, strict=True))
    }
    contact = [k for k in range(compiled.transitions) if compiled.group[k] != SPONTANEOUS]
    if set(pairs) != spontaneous | {("S", "E")} or len(pairs) != compiled.transitions:
        return None
    if contact != [pairs["S", "E"]]:
        return None
    weights = compiled.weights[compiled.group[contact[0]]]
    infectious = names.index("I")
    if np.any(np.delete(weights, infectious, axis=0)):
        return None
    rates = compiled.base_rates()
    infectiousness = weights[infectious]
    if not (np.all(rates == rates[:, :, :1]) and np.all(infectiousness == infectiousness[0, 0])):
        return None  # regional rates, or infectiousness by age or region
    rate = {pair: rates[k, :, 0] for pair, k in pairs.items()}
    if not _same(rate["S", "E"]):
        return None  # susceptibility by age
    beta = rate["S", "E"] * infectiousness[0, 0]
    onset = rate["E", "I"]
    out_i = rate["I", "R"] + rate.get(("I", "H"), 0.0)
    out_h = rate.get(("H", "R"), 0.0) + rate.get(("H", "D"), 0.0)
    if not all(_same(x) for x in (beta, onset, out_i, out_h)) or beta[0] <= 0:
        return None
    if onset[0] <= 0 or out_i[0] <= 0:
        return None
    to_h = rate.get(("I", "H"), np.zeros_like(out_i)) / out_i
    to_d = np.zeros_like(to_h)
    hospital_days = 1.0
    if "H" in names:
        if out_h[0] <= 0:
            return None
        hospital_days = 1.0 / float(out_h[0])
        to_d = rate.get(("H", "D"), np.zeros_like(out_h)) / out_h
    history = NaturalHistory(
        beta=float(beta[0]),
        latent_days=1.0 / float(onset[0]),
        infectious_days=1.0 / float(out_i[0]),
        hospital_fraction=to_h,
        hospital_days=hospital_days,
        fatality_fraction=to_d,
    )
    return StructuredModel(
        model.population, model.mixing, model.contacts, history, model.home_settings
    )


def _same(values: np.ndarray | float) -> bool:
    """Whether a per-age array holds one value."""
    values = np.atleast_1d(values)
    return bool(np.allclose(values, values[0], rtol=1e-12, atol=0))
