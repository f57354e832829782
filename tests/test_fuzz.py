"""Property-based fuzzing of every parser that takes outside input (tests/fuzz_targets.py):
whatever hypothesis feeds it, it answers or raises its own named error, never crashes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz_targets import TARGETS


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_survives_any_input(name):
    target = TARGETS[name]

    @settings(
        max_examples=15 if name.endswith("ingest") else 60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
    )
    @given(target.inputs)
    def survives(value):
        with contextlib.suppress(*target.allowed):
            target.run(value)

    survives()
