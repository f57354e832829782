"""Determinism, the manifest's file listing and the output folder's safety rules."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from spreadwatch.synth import SynthConfig, SynthManifest, generate
from tests.synth.conftest import BASE, file_hashes, read_csv


def test_same_config_gives_byte_identical_files_and_a_new_seed_differs(base, tmp_path):
    # The second run takes its config from the first run's manifest.json, as a user
    # reproducing a run would.
    stored = json.loads((base.root / "manifest.json").read_text())["config"]
    again = SynthConfig.model_validate(stored)
    generate(again, tmp_path / "again")
    first, second = file_hashes(base.root), file_hashes(tmp_path / "again")
    assert len(first) > 10
    assert first == second

    generate(BASE.model_copy(update={"seed": BASE.seed + 1}), tmp_path / "other")
    other = file_hashes(tmp_path / "other")
    assert other.keys() == first.keys()
    data = [k for k in first if k.startswith(("raw/", "truth/"))]
    differing = [k for k in data if first[k] != other[k]]
    # Everything random differs; only the seed-free truth (the mobility matrix) may not.
    assert set(data) - set(differing) <= {"truth/mobility.parquet"}


def test_manifest_lists_every_file_with_its_row_count(base):
    on_disk = {
        p.relative_to(base.root).as_posix()
        for p in base.root.rglob("*")
        if p.is_file() and p.suffix in (".csv", ".parquet")
    }
    assert set(base.manifest.files) == on_disk
    for relative, rows in base.manifest.files.items():
        path = base.root / relative
        if path.suffix == ".csv":
            assert len(read_csv(path)[1]) == rows, relative
        else:
            assert pq.read_metadata(path).num_rows == rows, relative
    read_back = SynthManifest.read(base.root)
    assert read_back == base.manifest
    assert read_back.path("raw/cells.csv") == base.root / "raw" / "cells.csv"
    location = [k for k in base.manifest.files if k.startswith("raw/location_events/")]
    assert len(location) == len(BASE.carriers) * BASE.days
    assert base.manifest.totals["location_events"] == sum(base.manifest.files[k] for k in location)


def test_refuses_foreign_folders_and_fails_early_on_an_unknown_seed_region(tmp_path):
    foreign = tmp_path / "foreign"
    (foreign / "raw").mkdir(parents=True)
    (foreign / "raw" / "precious.csv").write_text("keep me\n")
    with pytest.raises(FileExistsError):
        generate(SynthConfig(subscribers=10, days=1), foreign)
    assert (foreign / "raw" / "precious.csv").read_text() == "keep me\n"

    bad = SynthConfig(subscribers=10, days=1, epidemic={"seed_region": "99999"})
    with pytest.raises(ValueError, match="99999"):
        generate(bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_rerun_replaces_a_previous_run(tmp_path):
    small = SynthConfig(subscribers=20, days=2, seed=4)
    generate(small.model_copy(update={"days": 3}), tmp_path)
    generate(small, tmp_path)
    days = sorted(p.name for p in (tmp_path / "raw" / "location_events" / "SKT").iterdir())
    assert days == ["2020-02-01.csv", "2020-02-02.csv"]
