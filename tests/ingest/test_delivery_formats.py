"""The generator's deliveries in Parquet ingest exactly as their CSV."""

from __future__ import annotations

from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

KEY = bytes(range(32))


def test_a_delivery_in_parquet_ingests_as_its_csv(tmp_path):
    """The generator's Parquet delivery (for billion-event runs) is the CSV one, row for row."""
    quality = {}
    for fmt in ("csv", "parquet"):
        config = SynthConfig(
            seed=4, subscribers=600, days=2, messy_fraction=0.05, events_format=fmt
        )
        generate(config, tmp_path / fmt)
        raw = tmp_path / fmt / "raw"
        sources = {"cells": [raw / "cells.csv"], "location": [raw / "location_events"]}
        quality[fmt] = ingest_sources(tmp_path / f"store-{fmt}", sources, KeyRing(KEY))["location"]
    assert quality["csv"] == quality["parquet"]
    assert quality["csv"]["rows_quarantined"] > 0
