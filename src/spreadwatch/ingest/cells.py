"""Cell sites: validate, and place each cell in a si-gun-gu by point-in-polygon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from spreadwatch import duck, regions
from spreadwatch.ingest.raw import RowCheck, read_raw_csv, split_valid

CELL_COLUMNS = ("carrier", "cell_id", "lat", "lon")

CELLS_SCHEMA = pa.schema(
    [
        ("carrier", pa.string()),
        ("cell_id", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("region_code", pa.string()),
    ]
)

_CHECKS = (
    RowCheck("carrier", "blank carrier", "trim(carrier) = ''"),
    RowCheck("cell_id", "blank cell_id", "trim(cell_id) = ''"),
    RowCheck(
        "lat", "expected a latitude in [-90, 90]", "NOT coalesce(lat_f BETWEEN -90 AND 90, false)"
    ),
    RowCheck(
        "lon",
        "expected a longitude in [-180, 180]",
        "NOT coalesce(lon_f BETWEEN -180 AND 180, false)",
    ),
    RowCheck("lat", "cell lies outside every region", "region_code IS NULL"),
    RowCheck(
        "cell_id",
        "duplicate (carrier, cell_id)",
        "row_number() OVER (PARTITION BY carrier, cell_id ORDER BY _row_number) > 1",
    ),
)


def read_cells(path: Path) -> tuple[pa.Table, pa.Table]:
    """Validated cells with their si-gun-gu, and the quarantined rows.

    The region is always derived from the coordinates, never taken from the file; a cell outside
    every region is quarantined rather than snapped to the nearest one.
    """
    raw, malformed = read_raw_csv(path, CELL_COLUMNS)
    con = duck.connect()
    con.register("cells_raw", raw)
    typed = con.sql(
        "SELECT *, "
        "CASE WHEN isfinite(try_cast(lat AS DOUBLE)) THEN try_cast(lat AS DOUBLE) END AS lat_f, "
        "CASE WHEN isfinite(try_cast(lon AS DOUBLE)) THEN try_cast(lon AS DOUBLE) END AS lon_f "
        "FROM cells_raw"
    ).to_arrow_table()
    lat = typed["lat_f"].to_numpy(zero_copy_only=False).astype(float)
    lon = typed["lon_f"].to_numpy(zero_copy_only=False).astype(float)
    codes = regions.locate(np.nan_to_num(lat, nan=0.0), np.nan_to_num(lon, nan=0.0))
    con.register("cells_typed", typed.append_column("region_code", pa.array(codes, pa.string())))
    valid, quarantine = split_valid(con, "cells_typed", CELL_COLUMNS, _CHECKS)
    cells = con.sql(
        f"SELECT carrier, cell_id, lat_f AS lat, lon_f AS lon, region_code "
        f"FROM {valid} ORDER BY _row_number"
    ).to_arrow_table()
    return cells.cast(CELLS_SCHEMA), pa.concat_tables([malformed, quarantine])
