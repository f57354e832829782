"""Shared inputs of the privacy tests: a small ingest store of synthetic Korea."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.ingest.store import events_glob
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

KEY = bytes(range(32))
START = dt.date(2020, 2, 1)
DAYS = 3


@pytest.fixture(scope="session")
def small_store(tmp_path_factory) -> Path:
    """An ingest store of 400 synthetic subscribers over 3 days (about 8,000 events)."""
    root = tmp_path_factory.mktemp("dp-store")
    generate(SynthConfig(seed=3, subscribers=400, days=DAYS, start_date=START), root / "synth")
    raw = root / "synth" / "raw"
    store = root / "store"
    ingest_sources(
        store, {"cells": [raw / "cells.csv"], "location": [raw / "location_events"]}, KeyRing(KEY)
    )
    return store


@pytest.fixture(scope="session")
def busy_regions(small_store, tmp_path_factory) -> Path:
    """A regions CSV (code,population) of the 12 regions with most events in the store."""
    import glob

    counts: Counter[str] = Counter()
    for path in glob.glob(events_glob(small_store)):
        counts.update(pq.read_table(path, columns=["region_code"])["region_code"].to_pylist())
    path = tmp_path_factory.mktemp("regions") / "regions.csv"
    rows = [f"{code},1000" for code, _ in counts.most_common(12)]
    path.write_text("code,population\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def store(small_store, tmp_path) -> Path:
    """A copy of the small store of one test's own: a store's budget is kept in it."""
    import shutil

    copy = tmp_path / "store"
    shutil.copytree(small_store, copy, ignore=shutil.ignore_patterns(".open", ".writing-*"))
    return copy


@pytest.fixture(scope="session")
def loose_events(small_store, tmp_path_factory) -> str:
    """The small store's location events copied out as loose Parquet files (a glob of a folder
    that is no store: files inside a store are charged to the store)."""
    import glob
    import shutil

    folder = tmp_path_factory.mktemp("loose-events")
    for part in glob.glob(events_glob(small_store)):
        shutil.copy(part, folder)
    return str(folder / "*.parquet")
