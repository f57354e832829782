"""Fixtures every test folder may use: one local Spark per test process."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """The ibis backend of a local Spark (``local[2]``), started once per test process."""
    pytest.importorskip("pyspark")
    from spreadwatch.fusion import engines

    con = engines.connect("spark")
    yield con
    engines.stop(con)
