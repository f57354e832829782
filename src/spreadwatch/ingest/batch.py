"""Ingest the files of several sources into one store, then write its ``quality.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from spreadwatch.ingest.run import Follow, IngestReport, ingest
from spreadwatch.ingest.store import Store
from spreadwatch.privacy.pseudonym import KeyRing


def ingest_sources(
    store_dir: Path,
    sources: Mapping[str, Sequence[Path | str]],
    keyring: KeyRing,
    reports: dict[str, IngestReport] | None = None,
    keep_going: bool = False,
    follow: Follow | None = None,
) -> dict[str, dict]:
    """Ingest raw files into the store at ``store_dir`` (cells before location events) and write
    ``quality.json``: the row accounting per source over everything the store holds. What each
    source's call did (files ingested, skipped, unreadable with ``keep_going``) goes into
    ``reports`` when given; ``follow`` follows the kept rows of each (see
    :func:`~spreadwatch.ingest.run.ingest`)."""
    with Store(store_dir) as store:
        for name in sorted(sources, key=lambda n: n != "cells"):
            report = ingest(
                name, sources[name], store, keyring, keep_going=keep_going, follow=follow
            )
            if reports is not None:
                reports[name] = report
        quality = store.quality()
    (Path(store_dir) / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    return quality
