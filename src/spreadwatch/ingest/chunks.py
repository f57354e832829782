"""One chunk of raw rows through DuckDB: typed, checked (the first failing check is the
quarantine reason), identifiers pseudonymised inside the engine, and compared by key with the
rows seen before (a duplicate is dropped and counted, a different row with the same key is
quarantined as a conflict). :mod:`spreadwatch.ingest.run` feeds it file by file."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from spreadwatch import duck, regions
from spreadwatch.ingest.raw import (
    QUARANTINE_SCHEMA,
    ROW_NUMBER,
    SOURCE_FILE,
    RawFileError,
    split_valid,
)
from spreadwatch.ingest.readers import (
    text_sql,
)
from spreadwatch.ingest.sources import AIR_READINGS, AIR_STATIONS, CELLS, LOCATION, Source
from spreadwatch.ingest.store import Store
from spreadwatch.privacy.pseudonym import KeyRing

_ID_PLACEHOLDER = re.compile(r"\{id:(\w+)\}")


Prepare = Callable[[duckdb.DuckDBPyConnection, str], str]


_NO_PERIOD = "'all'"


#: What the quarantine shows for a malformed value of a file with identifiers.
WITHHELD = "(withheld: malformed)"


def reference_table(store: Store, spec: Source, what: str) -> pa.Table:
    """The store's table of a reference source (``what``, as the error names it), which the
    rows of another source are checked against; RawFileError when it is not ingested yet."""
    table = store.read(spec.name)
    if table is None:
        raise RawFileError(
            f"{store.root}: no {what} yet; ingest the {what} file first "
            f"(spreadwatch ingest {spec.name} FILE --out STORE)"
        )
    return table


def _context(spec: Source, store: Store, con: duckdb.DuckDBPyConnection) -> Prepare | None:
    """Columns a source's checks need beyond the raw strings (cell regions, region codes)."""
    if spec is LOCATION:
        cells = reference_table(store, CELLS, "cells")
        # a table of the connection's own: each chunk's join reads it, an Arrow table would be
        # converted for each
        con.register("store_cells_arrow", cells.select(["carrier", "cell_id", "region_code"]))
        duck.run(con, "CREATE OR REPLACE TEMP TABLE store_cells AS FROM store_cells_arrow")
        con.unregister("store_cells_arrow")

        def join_cells(con: duckdb.DuckDBPyConnection, source: str) -> str:
            duck.run(
                con,
                "CREATE OR REPLACE TEMP VIEW chunk_cells AS SELECT r.*, c.region_code "
                f"FROM {source} r LEFT JOIN store_cells c "
                "ON r.carrier = c.carrier AND r.cell_id = c.cell_id",
            )
            return "chunk_cells"

        return join_cells
    if spec in (CELLS, AIR_STATIONS):
        return _place_cells
    if spec is AIR_READINGS:
        stations = reference_table(store, AIR_STATIONS, "air stations")
        return _known(con, "trim(station_id)", stations.select(["station_id"]), "station_known")
    if "region_code" in spec.columns:  # cases, households: codes checked against the regions
        codes = regions.load("sigungu").regions["code"].astype(str)
        known = pa.table({"code": pa.array(codes, pa.string())})
        return _known(con, "region_code", known, "region_known")
    return None


def _known(con: duckdb.DuckDBPyConnection, value_sql: str, values: pa.Table, flag: str) -> Prepare:
    """Adds the column ``flag``: whether a row's ``value_sql`` is among ``values`` (a table of
    one column, registered on ``con``)."""
    table = f"known_{flag}"
    con.register(table, values)
    (column,) = values.column_names

    def prepare(con: duckdb.DuckDBPyConnection, source: str) -> str:
        duck.run(
            con,
            f"CREATE OR REPLACE TEMP VIEW chunk_{flag} AS SELECT *, {value_sql} IN "
            f"(SELECT {column} FROM {table}) AS {flag} FROM {source}",
        )
        return f"chunk_{flag}"

    return prepare


def _place_cells(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """Add the si-gun-gu of each cell or station by point-in-polygon (null outside every
    region)."""
    cells = con.sql(f"SELECT * FROM {source}").to_arrow_table()
    coords = con.sql(
        f"SELECT try_cast(lat AS DOUBLE) AS lat, try_cast(lon AS DOUBLE) AS lon FROM {source}"
    ).to_arrow_table()
    if coords.num_rows != cells.num_rows:
        raise AssertionError("cells changed between two reads")
    lat = coords["lat"].to_numpy().astype(float)
    lon = coords["lon"].to_numpy().astype(float)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    codes = np.full(len(lat), None, dtype=object)
    if ok.any():
        codes[ok] = regions.locate(lat[ok], lon[ok])
    con.register("chunk_placed", cells.append_column("region_code", pa.array(codes, pa.string())))
    return "chunk_placed"


#: Raw identifiers whose pseudonyms a connection keeps, per identifier column, before it
#: starts afresh (bounds memory; a forgotten identifier is simply hashed again).
PSEUDONYM_CACHE_ROWS = 5_000_000


def _pseudonyms(
    con: duckdb.DuckDBPyConnection,
    keyring: KeyRing,
    column: str,
    key: list[str],
    labels: Sequence[str],
) -> str:
    """Name of a table of ``key -> pseudo`` holding every non-blank identifier of the view
    ``typed``: one HMAC per distinct identifier and period, kept across the chunks of a
    connection. Like the chunk itself it lives inside DuckDB: in memory, or, under a memory cap
    (``$SPREADWATCH_MEMORY_LIMIT``), possibly in DuckDB's spill files of the run (keep
    ``$SPREADWATCH_SPILL_DIR`` on storage as protected as the raw files); it is never written
    to the store."""
    fingerprint = hashlib.sha256(keyring.key).hexdigest()[:12]
    table = f"pseudonyms_{column}_{keyring.rotation}_{fingerprint}"
    typed_key = ", ".join(f"{k} VARCHAR" for k in key)
    duck.run(con, f"CREATE TEMP TABLE IF NOT EXISTS {table} ({typed_key}, pseudo VARCHAR)")
    ((cached,),) = con.sql(f"SELECT count(*) FROM {table}").fetchall()
    if cached > PSEUDONYM_CACHE_ROWS:
        duck.run(con, f"DELETE FROM {table}")
    message = " || ':' || ".join(k for k in key if k != "_period")
    names = ", ".join(key)
    duck.run(
        con,
        f"INSERT INTO {table} SELECT {names}, {keyring.pseudonym_sql(message, labels)} "
        f"FROM (SELECT DISTINCT {names} FROM typed WHERE trim({column}) <> '' "
        f"AND _period IS NOT NULL) ANTI JOIN {table} USING ({names})",
    )
    return table


def process_chunk(
    con: duckdb.DuckDBPyConnection,
    spec: Source,
    chunk: pa.Table,
    keyring: KeyRing,
    prepare: Prepare | None = None,
    store: Store | None = None,
    settle: Callable[[], None] = lambda: None,
) -> tuple[pa.Table, pa.Table, int]:
    """``(output rows, quarantine rows, duplicates removed)`` of one chunk of raw rows;
    ``settle()`` runs before the store is read (parts still being written must be in place:
    the checks against the store must see every earlier part)."""
    con.register("chunk_raw", chunk)
    texts = ", ".join(f"{text_sql(c, chunk.schema.field(c).type)} AS {c}" for c in spec.columns)
    duck.run(con, f"CREATE OR REPLACE TEMP VIEW chunk AS SELECT * REPLACE ({texts}) FROM chunk_raw")
    source = prepare(con, "chunk") if prepare is not None else "chunk"
    period = keyring.period_sql("ts_parsed") if spec.time_column else None
    typed = f", {spec.typed_sql}" if spec.typed_sql else ""
    duck.run(  # a table: its text, parsing and joins are read three times below
        con,
        "CREATE OR REPLACE TEMP TABLE typed AS "
        f"SELECT *, {period or _NO_PERIOD} AS _period FROM (SELECT *{typed} FROM {source})",
    )
    labels = (
        [
            r[0]
            for r in con.sql(
                "SELECT DISTINCT _period FROM typed WHERE _period IS NOT NULL"
            ).fetchall()
        ]
        if period
        else []
    )
    keys = {col: [*parts, "_period"] for col, parts in spec.identifiers.items()}
    pseudo = {col: _pseudonyms(con, keyring, col, parts, labels) for col, parts in keys.items()}
    joins = " ".join(f"LEFT JOIN {pseudo[c]} USING ({', '.join(k)})" for c, k in keys.items())
    columns = {col: f"{pseudo[col]}.pseudo" for col in keys}
    selected = ", ".join(f"{expr} AS _pseudo_{col}" for col, expr in columns.items())
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP VIEW named AS SELECT typed.*{', ' if selected else ''}{selected} "
        f"FROM typed {joins}",
    )
    masked = {col: f"CASE WHEN trim({col}) = '' THEN {col} ELSE _pseudo_{col} END" for col in keys}
    if spec.has_identifiers:  # a malformed value may be a misplaced identifier: withhold it
        for col in spec.columns:
            if col not in masked:
                shape = spec.shapes.get(col, "false")
                masked[col] = f"CASE WHEN coalesce({shape}, false) THEN {col} ELSE '{WITHHELD}' END"
    valid, quarantine = split_valid(con, "named", spec.columns, spec.checks, masked)
    output_sql = _ID_PLACEHOLDER.sub(lambda m: f"_pseudo_{m.group(1)}", spec.output_sql)
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP VIEW out_rows AS SELECT {output_sql}, "
        f"{SOURCE_FILE}, {ROW_NUMBER} FROM {valid}",
    )
    if store is not None:
        settle()
    if not spec.conflicts_possible:
        return _drop_repeats(con, spec, store, quarantine)
    return _deduplicate(con, spec, store, quarantine)


def _earlier_rows_sql(con: duckdb.DuckDBPyConnection, spec: Source, store: Store | None) -> str:
    """SQL of the store's rows that may share a key with ``out_rows`` (time-pruned)."""
    parts = store.parts(spec.name) if store is not None else []
    if not parts:
        return ""
    files = "[" + ", ".join(f"'{p}'" for p in parts) + "]"
    window = ""
    if spec.time_column:  # parts are sorted by time: row-group statistics prune the scan
        t = spec.time_column
        low, high = con.sql(
            f"SELECT min({t})::VARCHAR, max({t})::VARCHAR FROM out_rows"
        ).fetchall()[0]
        window = f"WHERE {t} BETWEEN '{low}' AND '{high}'" if low is not None else ""
    return f"SELECT * FROM read_parquet({files}) {window}"


def _drop_repeats(
    con: duckdb.DuckDBPyConnection, spec: Source, store: Store | None, quarantine: pa.Table
) -> tuple[pa.Table, pa.Table, int]:
    """Sources whose key is the whole row: repeats are duplicates, conflicts cannot happen."""
    names = ", ".join(f.name for f in spec.schema)
    key = ", ".join(spec.key)
    earlier = _earlier_rows_sql(con, spec, store)
    anti = f"ANTI JOIN ({earlier}) e USING ({key})" if earlier else ""
    order = f"{spec.time_column}, {key}" if spec.time_column else key
    output = con.sql(
        f"SELECT {names} FROM (SELECT DISTINCT {names} FROM out_rows) {anti} ORDER BY {order}"
    ).to_arrow_table()
    (rows,) = con.sql("SELECT count(*) FROM out_rows").fetchall()[0]
    return output.cast(spec.schema), quarantine, int(rows) - output.num_rows


def _deduplicate(
    con: duckdb.DuckDBPyConnection, spec: Source, store: Store | None, quarantine: pa.Table
) -> tuple[pa.Table, pa.Table, int]:
    """Split ``out_rows`` into first occurrences, duplicates and conflicts (see module doc)."""
    names = [f.name for f in spec.schema]
    key = ", ".join(spec.key)
    row = ", ".join(names)

    def whole(alias: str) -> str:
        return "struct_pack(" + ", ".join(f"{n} := {alias}.{n}" for n in names) + ")"

    duck.run(
        con,
        "CREATE OR REPLACE TEMP TABLE ranked AS SELECT *, "
        f"row_number() OVER w AS _rank, first_value({whole('o')}) OVER w <> {whole('o')} "
        f"AS _differs FROM out_rows o WINDOW w AS (PARTITION BY {key} ORDER BY {ROW_NUMBER})",
    )
    duck.run(
        con,
        f"CREATE OR REPLACE TEMP TABLE earlier AS SELECT {key}, {whole('o')} AS _row "
        "FROM out_rows o WHERE false",
    )
    earlier = _earlier_rows_sql(con, spec, store)
    if earlier:
        duck.run(
            con,
            f"INSERT INTO earlier SELECT {', '.join('s.' + k for k in spec.key)}, {whole('s')} "
            f"FROM ({earlier}) s SEMI JOIN (SELECT DISTINCT {key} FROM ranked) k USING ({key})",
        )
    duck.run(
        con,
        "CREATE OR REPLACE TEMP TABLE judged AS SELECT r.*, CASE "
        "WHEN r._rank > 1 THEN (CASE WHEN r._differs THEN 'conflict' ELSE 'duplicate' END) "
        "WHEN e._row IS NULL THEN 'new' "
        f"WHEN e._row = {whole('r')} THEN 'duplicate' ELSE 'conflict' END AS _verdict "
        f"FROM ranked r LEFT JOIN earlier e USING ({key})",
    )
    order = spec.time_column or key
    output = con.sql(
        f"SELECT {row} FROM judged WHERE _verdict = 'new' ORDER BY {order}, {key}"
    ).to_arrow_table()
    reason = f"conflicts with an earlier row with the same {', '.join(spec.key)}"
    conflicts = con.sql(
        f"SELECT {SOURCE_FILE} AS source_file, {ROW_NUMBER} AS row_number, "
        f"'{spec.key[-1]}' AS column, '{reason}' AS reason, "
        f"to_json({whole('j')})::VARCHAR AS raw_row "
        f"FROM judged j WHERE _verdict = 'conflict' ORDER BY {ROW_NUMBER}"
    ).to_arrow_table()
    (duplicates,) = con.sql("SELECT count(*) FROM judged WHERE _verdict = 'duplicate'").fetchall()[
        0
    ]
    quarantine = pa.concat_tables([quarantine, conflicts.cast(QUARANTINE_SCHEMA)])
    return output.cast(spec.schema), quarantine, int(duplicates)
