"""Pipeline steps that read and write the on-disk contracts, used by the CLI and the demo."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import fusion
from spreadwatch.ingest import ingest_location_events, read_cells
from spreadwatch.privacy.kanon import DEFAULT_K
from spreadwatch.progress import step, track


@dataclass
class IngestSummary:
    """Row accounting of one ingest (written as ``quality.json``)."""

    files: int
    rows_in: int
    rows_kept: int
    rows_quarantined: int
    duplicates_removed: int
    quarantined_by_reason: dict[str, int]
    cells_in: int
    cells_kept: int
    cells_quarantined_by_reason: dict[str, int]

    def balanced(self) -> bool:
        """Whether every input row is accounted for."""
        return self.rows_in == self.rows_kept + self.rows_quarantined + self.duplicates_removed


def location_files(paths: list[Path]) -> list[Path]:
    """Expand folders into the CSV files below them (sorted); files are kept as given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.csv")))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    if not files:
        raise FileNotFoundError(f"no CSV files under {', '.join(map(str, paths))}")
    return files


def ingest_location(cells_csv: Path, paths: list[Path], out_dir: Path, key: bytes) -> IngestSummary:
    """Validate and pseudonymise location events; write events, cells and quarantine Parquet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = location_files(paths)
    with step("Reading and placing cells"):
        cells, cell_quarantine = read_cells(cells_csv)
    with step(f"Ingesting {len(files)} location-event files"):
        result = ingest_location_events(files, cells, key)
    quarantine = pa.concat_tables([cell_quarantine, result.quarantine])
    pq.write_table(result.events, out_dir / "events.parquet")
    pq.write_table(cells, out_dir / "cells.parquet")
    pq.write_table(quarantine, out_dir / "quarantine.parquet")
    summary = IngestSummary(
        files=len(files),
        rows_in=result.rows_in,
        rows_kept=result.rows_kept,
        rows_quarantined=result.rows_quarantined,
        duplicates_removed=result.duplicates_removed,
        quarantined_by_reason=result.quarantined_by_reason,
        cells_in=cells.num_rows + cell_quarantine.num_rows,
        cells_kept=cells.num_rows,
        cells_quarantined_by_reason=_count_reasons(cell_quarantine),
    )
    (out_dir / "quality.json").write_text(json.dumps(asdict(summary), indent=2))
    return summary


def _count_reasons(quarantine: pa.Table) -> dict[str, int]:
    reasons = quarantine["reason"].to_pylist()
    return {r: reasons.count(r) for r in sorted(set(reasons))}


FLOW_TABLES = ("od_flows", "presence", "commuting")


def build_flows(events_parquet: Path, out_dir: Path, k: int = DEFAULT_K) -> dict[str, Path]:
    """Write ``od_flows``, ``presence`` and ``commuting`` Parquet files from an events file.

    Returns the written path of each table by name.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    con = fusion.connect()
    events = con.read_parquet(events_parquet)
    builders = {
        "od_flows": fusion.od_flows,
        "presence": fusion.presence,
        "commuting": fusion.commuting,
    }
    paths = {name: out_dir / f"{name}.parquet" for name in FLOW_TABLES}
    for name in track(FLOW_TABLES, "Computing flows, presence and commuting"):
        con.to_parquet(builders[name](events, k=k), paths[name])
    return paths
