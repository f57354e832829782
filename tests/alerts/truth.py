"""The independent truth of the bridge tests: what the file ingest makes of the same rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.alerts.fleet import TELEMETRY_COLUMNS
from spreadwatch.ingest import Store, ingest
from spreadwatch.privacy.pseudonym import KeyRing


def telemetry_table(store: Store) -> pa.Table:
    """A store's telemetry in a fixed order."""
    return pq.read_table(store.parts("telemetry")).sort_by(
        [("device_pseudo", "ascending"), ("ts", "ascending"), ("kind", "ascending")]
    )


def file_ingested(rows: list[dict[str, str]], folder: Path, keyring: KeyRing) -> pa.Table:
    """The telemetry the file ingest keeps of ``rows`` written as one raw CSV file."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "telemetry.csv"
    with raw.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, TELEMETRY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with Store(folder / "store") as store:
        ingest("telemetry", [raw], store, keyring)
        return telemetry_table(store)
