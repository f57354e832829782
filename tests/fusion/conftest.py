"""Fixtures: events files in the contract (local Spark: ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.fusion.events import make_events


@pytest.fixture(scope="module")
def small_events(tmp_path_factory) -> Path:
    """About 9,000 events of 400 subscribers over 3 days, as one Parquet file."""
    path = tmp_path_factory.mktemp("events") / "events.parquet"
    pq.write_table(make_events(400, 3, seed=5), path)
    return path
