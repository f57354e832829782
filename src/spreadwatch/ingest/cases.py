"""Reported cases: ``region_code, date, confirmed`` rows validated into the ``cases`` contract."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pyarrow as pa

from spreadwatch import duck
from spreadwatch.ingest.raw import RowCheck, read_raw_csv, split_valid

CASES_COLUMNS = ("region_code", "date", "confirmed")

CASES_SCHEMA = pa.schema(
    [("region_code", pa.string()), ("date", pa.date32()), ("confirmed", pa.int64())]
)


def read_cases(path: Path, region_codes: Collection[str]) -> tuple[pa.Table, pa.Table]:
    """Validated daily cases and the quarantined rows.

    A row is quarantined when its region is not one of ``region_codes``, its date is not
    ``YYYY-MM-DD``, its count is not a non-negative integer, or it repeats a (region, date) pair
    already seen earlier in the file.
    """
    raw, malformed = read_raw_csv(Path(path), CASES_COLUMNS)
    con = duck.connect()
    con.register("cases_raw", raw)
    con.register("known_regions", pa.table({"code": pa.array(sorted(region_codes), pa.string())}))
    con.execute(
        "CREATE TEMP VIEW cases_typed AS SELECT *, "
        "try_strptime(date, '%Y-%m-%d')::DATE AS date_parsed, "
        "try_cast(confirmed AS BIGINT) AS confirmed_parsed, "
        "trim(region_code) IN (SELECT code FROM known_regions) AS region_known, "
        "row_number() OVER (PARTITION BY trim(region_code), date ORDER BY _row_number) AS seen "
        "FROM cases_raw"
    )
    checks = (
        RowCheck("region_code", "unknown region code", "NOT region_known"),
        RowCheck("date", "expected a date like 2020-02-01", "date_parsed IS NULL"),
        RowCheck(
            "confirmed",
            "expected a non-negative integer count",
            "confirmed_parsed IS NULL OR confirmed_parsed < 0",
        ),
        RowCheck("date", "repeats an earlier row's region and date", "seen > 1"),
    )
    valid, quarantine = split_valid(con, "cases_typed", CASES_COLUMNS, checks)
    cases = con.sql(
        "SELECT trim(region_code) AS region_code, date_parsed AS date, "
        f"confirmed_parsed AS confirmed FROM {valid} ORDER BY date, region_code"
    ).to_arrow_table()
    return cases.cast(CASES_SCHEMA), pa.concat_tables([malformed, quarantine])
