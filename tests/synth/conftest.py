"""Shared synthetic-Korea runs (generated once per test session and worker) and readers that parse
the written files back independently of the generator."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spreadwatch import regions
from spreadwatch.synth import SynthConfig, SynthManifest, generate

ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
LOCATION_COLUMNS = ["carrier", "subscriber_id", "ts", "cell_id"]

# The base run: small, default knobs otherwise. 2020-02-01 is a Saturday (2 weekend days).
BASE = SynthConfig(seed=11, subscribers=4001, days=7)  # 4001: the split has a remainder
# Many messy rows and several subscriber blocks per carrier-day (chunking).
MESSY = SynthConfig(seed=12, subscribers=2000, days=3, messy_fraction=0.05, chunk_rows=10_000)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file, every field as the text written."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, list(reader)


def parse_utc(text: pd.Series) -> pd.Series:
    """Strict ``YYYY-MM-DDTHH:MM:SSZ`` parse; anything else (empty, text, impossible) is NaT."""
    shaped = text.str.fullmatch(ISO_UTC.pattern)
    parsed = pd.to_datetime(text.where(shaped), format="%Y-%m-%dT%H:%M:%SZ", errors="coerce")
    return parsed


def file_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@dataclass
class Run:
    """One generated output folder with lazily parsed views of its files."""

    root: Path
    manifest: SynthManifest

    @property
    def config(self) -> SynthConfig:
        return self.manifest.config

    @property
    def dates(self) -> list[date]:
        return [self.config.start_date + timedelta(days=d) for d in range(self.config.days)]

    def truth(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.root / "truth" / f"{name}.parquet")

    @cached_property
    def location_files(self) -> list[Path]:
        return sorted((self.root / "raw" / "location_events").glob("*/*.csv"))

    @cached_property
    def events(self) -> pd.DataFrame:
        """All location-event rows as written (strings), with the file's carrier, date and line."""
        frames = []
        for path in self.location_files:
            header, rows = read_csv(path)
            assert header == LOCATION_COLUMNS
            frame = pd.DataFrame(rows, columns=header, dtype=str)
            frame["file_carrier"] = path.parent.name
            frame["file_date"] = path.stem
            frame["line"] = np.arange(len(rows))
            frames.append(frame)
        events = pd.concat(frames, ignore_index=True)
        events["t"] = parse_utc(events["ts"])
        return events

    @cached_property
    def cells_raw(self) -> pd.DataFrame:
        header, rows = read_csv(self.root / "raw" / "cells.csv")
        frame = pd.DataFrame(rows, columns=header, dtype=str)
        frame["lat"] = frame["lat"].astype(float)
        frame["lon"] = frame["lon"].astype(float)
        return frame

    @cached_property
    def clean_events(self) -> pd.DataFrame:
        """Rows with a subscriber, a valid timestamp and a known cell, one per exact duplicate,
        joined to the true region of the cell and the subscriber's true home and day region."""
        e = self.events
        known = set(zip(self.cells_raw["carrier"], self.cells_raw["cell_id"], strict=True))
        ok = e["t"].notna() & (e["subscriber_id"] != "")
        ok &= pd.Series(
            [(c, i) in known for c, i in zip(e["carrier"], e["cell_id"], strict=True)],
            index=e.index,
        )
        clean = e[ok].drop_duplicates(subset=LOCATION_COLUMNS)
        cells = self.truth("cells")[["carrier", "cell_id", "region_code"]]
        subs = self.truth("subscribers")
        clean = clean.merge(cells, on=["carrier", "cell_id"], how="left", validate="m:1")
        return clean.merge(subs, on=["carrier", "subscriber_id"], how="left", validate="m:1")


def make_run(tmp_path_factory: pytest.TempPathFactory, config: SynthConfig, name: str) -> Run:
    root = tmp_path_factory.mktemp(name)
    return Run(root, generate(config, root))


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return make_run(tmp_path_factory, BASE, "base")


@pytest.fixture(scope="session")
def messy_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return make_run(tmp_path_factory, MESSY, "messy")


@pytest.fixture(scope="session")
def sigungu() -> pd.DataFrame:
    """The region table the generator builds on (codes, populations, centroids, polygons)."""
    return regions.load("sigungu").regions
