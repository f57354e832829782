"""Models every run config can name with ``[model] preset = "..."``: their compartments and
transitions, as a user would declare them. The parameters are the config's own."""

from __future__ import annotations

from typing import Any

_SEIR_BASE = [
    {"kind": "contact", "from": "S", "to": "E", "rate": "beta", "infectious": {"I": 1.0}},
    {"kind": "spontaneous", "from": "E", "to": "I", "rate": "1 / latent_days"},
]
_RECOVERY = {"kind": "spontaneous", "from": "I", "to": "R", "rate": "1 / infectious_days"}

#: Each preset: a one-line description, its compartments and transitions.
PRESETS: dict[str, dict[str, Any]] = {
    "seir": {
        "description": "susceptible, exposed, infectious, recovered",
        "compartments": ["S", "E", "I", "R"],
        "transitions": [*_SEIR_BASE, _RECOVERY],
    },
    "seihrd": {
        "description": "SEIR with hospital stays and deaths (fractions per age band)",
        "compartments": ["S", "E", "I", "H", "R", "D"],
        "transitions": [
            *_SEIR_BASE,
            {
                "kind": "spontaneous",
                "from": "I",
                "to": "H",
                "rate": "hospital_fraction / infectious_days",
            },
            {
                "kind": "spontaneous",
                "from": "I",
                "to": "R",
                "rate": "(1 - hospital_fraction) / infectious_days",
            },
            {
                "kind": "spontaneous",
                "from": "H",
                "to": "D",
                "rate": "fatality_fraction / hospital_days",
            },
            {
                "kind": "spontaneous",
                "from": "H",
                "to": "R",
                "rate": "(1 - fatality_fraction) / hospital_days",
            },
        ],
    },
    "seirs": {
        "description": "SEIR whose immunity wanes after waning_days on average",
        "compartments": ["S", "E", "I", "R"],
        "transitions": [
            *_SEIR_BASE,
            _RECOVERY,
            {"kind": "spontaneous", "from": "R", "to": "S", "rate": "1 / waning_days"},
        ],
    },
    "seirv": {
        "description": (
            "SEIR with vaccination (S -> V at vaccination_rate a day) and a leaky vaccine: "
            "the vaccinated are infected at (1 - efficacy) times the rate"
        ),
        "compartments": ["S", "V", "E", "I", "R"],
        "transitions": [
            _SEIR_BASE[0],
            {
                "kind": "contact",
                "from": "V",
                "to": "E",
                "rate": "(1 - efficacy) * beta",
                "infectious": {"I": 1.0},
            },
            {"kind": "spontaneous", "from": "S", "to": "V", "rate": "vaccination_rate"},
            _SEIR_BASE[1],
            _RECOVERY,
        ],
    },
    "seapir": {
        "description": (
            "SEIR with presymptomatic (P) and asymptomatic (A) infectious people, each with "
            "its relative infectiousness"
        ),
        "compartments": ["S", "E", "P", "A", "I", "R"],
        "transitions": [
            {
                "kind": "contact",
                "from": "S",
                "to": "E",
                "rate": "beta",
                "infectious": {
                    "P": "presymptomatic_infectiousness",
                    "A": "asymptomatic_infectiousness",
                    "I": 1.0,
                },
            },
            {
                "kind": "spontaneous",
                "from": "E",
                "to": "P",
                "rate": "(1 - asymptomatic_fraction) / latent_days",
            },
            {
                "kind": "spontaneous",
                "from": "E",
                "to": "A",
                "rate": "asymptomatic_fraction / latent_days",
            },
            {"kind": "spontaneous", "from": "P", "to": "I", "rate": "1 / presymptomatic_days"},
            _RECOVERY,
            {"kind": "spontaneous", "from": "A", "to": "R", "rate": "1 / infectious_days"},
        ],
    },
    "two-strain": {
        "description": (
            "two strains, each an SEIR; after one strain, infection by the other at "
            "(1 - cross_immunity) times its rate (the second infection without a latent stage)"
        ),
        "compartments": ["S", "E1", "I1", "R1", "E2", "I2", "R2", "J1", "J2", "R"],
        "transitions": [
            {
                "kind": "contact",
                "from": "S",
                "to": "E1",
                "rate": "beta1",
                "infectious": {"I1": 1.0, "J1": 1.0},
            },
            {
                "kind": "contact",
                "from": "S",
                "to": "E2",
                "rate": "beta2",
                "infectious": {"I2": 1.0, "J2": 1.0},
            },
            {"kind": "spontaneous", "from": "E1", "to": "I1", "rate": "1 / latent_days"},
            {"kind": "spontaneous", "from": "E2", "to": "I2", "rate": "1 / latent_days"},
            {"kind": "spontaneous", "from": "I1", "to": "R1", "rate": "1 / infectious_days"},
            {"kind": "spontaneous", "from": "I2", "to": "R2", "rate": "1 / infectious_days"},
            {
                "kind": "contact",
                "from": "R2",
                "to": "J1",
                "rate": "(1 - cross_immunity) * beta1",
                "infectious": {"I1": 1.0, "J1": 1.0},
            },
            {
                "kind": "contact",
                "from": "R1",
                "to": "J2",
                "rate": "(1 - cross_immunity) * beta2",
                "infectious": {"I2": 1.0, "J2": 1.0},
            },
            {"kind": "spontaneous", "from": "J1", "to": "R", "rate": "1 / infectious_days"},
            {"kind": "spontaneous", "from": "J2", "to": "R", "rate": "1 / infectious_days"},
        ],
    },
}
