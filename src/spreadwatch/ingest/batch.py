"""Ingest the files of several sources into one store, then write its ``quality.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spreadwatch.ingest.on_spark import ingest_on_spark, runs_on_spark
from spreadwatch.ingest.run import Follow, IngestReport, ingest
from spreadwatch.ingest.sources import REFERENCE_SOURCES, SOURCES
from spreadwatch.ingest.store import Store
from spreadwatch.privacy.pseudonym import KeyRing

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def ingest_sources(
    store_dir: Path,
    sources: Mapping[str, Sequence[Path | str]],
    keyring: KeyRing,
    reports: dict[str, IngestReport] | None = None,
    keep_going: bool = False,
    follow: Follow | None = None,
    spark: SparkSession | None = None,
) -> dict[str, dict]:
    """Ingest raw files into the store at ``store_dir`` (reference tables first: cells before
    location events, stations before their readings) and write
    ``quality.json``: the row accounting per source over everything the store holds. What each
    source's call did (files ingested, skipped, unreadable with ``keep_going``) goes into
    ``reports`` when given; ``follow`` follows the kept rows of each (see
    :func:`~spreadwatch.ingest.run.ingest`). With a ``spark`` session the sources that can
    run on Spark do (:mod:`spreadwatch.ingest.on_spark`; not followed), the others here."""
    with Store(store_dir) as store:
        for name in sorted(sources, key=lambda n: n not in REFERENCE_SOURCES):
            if spark is not None and runs_on_spark(SOURCES[name]):
                report = ingest_on_spark(
                    name, sources[name], store, keyring, spark, keep_going=keep_going
                )
            else:
                report = ingest(
                    name, sources[name], store, keyring, keep_going=keep_going, follow=follow
                )
            if reports is not None:
                reports[name] = report
        quality = store.quality()
    (Path(store_dir) / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    return quality
