"""Location events: validate, place in regions through cells, pseudonymise, deduplicate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from spreadwatch import duck
from spreadwatch.ingest.raw import RowCheck, read_raw_csv, split_valid
from spreadwatch.privacy.pseudonym import hmac_sql
from spreadwatch.progress import track

LOCATION_COLUMNS = ("carrier", "subscriber_id", "ts", "cell_id")

#: Timestamp layouts accepted in raw files (all UTC).
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S")

EVENTS_SCHEMA = pa.schema(
    [
        ("carrier", pa.string()),
        ("subscriber_pseudo", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("region_code", pa.string()),
        ("cell_id", pa.string()),
    ]
)

_FORMATS_SQL = "[" + ", ".join(f"'{f}'" for f in TIMESTAMP_FORMATS) + "]"
_CHECKS = (
    RowCheck("carrier", "blank carrier", "trim(carrier) = ''"),
    RowCheck("subscriber_id", "blank subscriber_id", "trim(subscriber_id) = ''"),
    RowCheck(
        "ts",
        "expected a UTC timestamp like 2020-02-01T08:15:42Z",
        "ts_parsed IS NULL",
    ),
    RowCheck(
        "cell_id", "unknown cell (not in the valid cells of this carrier)", "region_code IS NULL"
    ),
)


def _masked_id(pseudo_sql: str) -> str:
    """The subscriber ID as the quarantine shows it: its pseudonym, or blank when blank."""
    return f"CASE WHEN trim(subscriber_id) = '' THEN subscriber_id ELSE {pseudo_sql} END"


@dataclass
class IngestResult:
    """Pseudonymised events, quarantined rows and the row accounting of one ingest."""

    events: pa.Table
    quarantine: pa.Table
    rows_in: int
    duplicates_removed: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rows_kept(self) -> int:
        return self.events.num_rows

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.num_rows


def ingest_location_events(paths: Sequence[Path], cells: pa.Table, key: bytes) -> IngestResult:
    """Read raw location-event CSV files into the ``events`` contract.

    Every input row ends up in exactly one of: the events (kept), the quarantine (with a reason),
    or the count of exact duplicates removed, so ``rows_in = kept + quarantined + duplicates``.
    """
    if not paths:
        raise ValueError("no location-event files given")
    reads = [
        read_raw_csv(Path(p), LOCATION_COLUMNS, withhold_malformed_text=True)
        for p in track(paths, "reading event files")
    ]
    raws, malformed = zip(*reads, strict=True)
    raw = pa.concat_tables(raws)
    con = duck.connect()
    con.register("events_raw", raw)
    con.register("cells", cells.select(["carrier", "cell_id", "region_code"]))
    con.execute(
        "CREATE TEMP VIEW events_typed AS "
        f"SELECT e.*, try_strptime(e.ts, {_FORMATS_SQL}) AS ts_parsed, c.region_code "
        "FROM events_raw e LEFT JOIN cells c ON e.carrier = c.carrier AND e.cell_id = c.cell_id"
    )
    pseudo = hmac_sql(key, "carrier || ':' || subscriber_id")
    valid, quarantine = split_valid(
        con, "events_typed", LOCATION_COLUMNS, _CHECKS, masked={"subscriber_id": _masked_id(pseudo)}
    )
    quarantine = pa.concat_tables([*malformed, quarantine])
    events = con.sql(
        f"SELECT carrier, {pseudo} AS subscriber_pseudo, "
        "timezone('UTC', ts_parsed) AS ts, region_code, cell_id "
        f"FROM (SELECT DISTINCT ON (carrier, subscriber_id, ts_parsed, cell_id) * FROM {valid} "
        "ORDER BY carrier, subscriber_id, ts_parsed, cell_id, _source_file, _row_number)"
    ).to_arrow_table()
    rows_in = raw.num_rows + sum(m.num_rows for m in malformed)
    kept_before_dedup = raw.num_rows - (quarantine.num_rows - sum(m.num_rows for m in malformed))
    return IngestResult(
        events=events.cast(EVENTS_SCHEMA),
        quarantine=quarantine,
        rows_in=rows_in,
        duplicates_removed=kept_before_dedup - events.num_rows,
        quarantined_by_reason=dict(Counter(quarantine["reason"].to_pylist())),
    )
