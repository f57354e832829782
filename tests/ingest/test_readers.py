"""Reading ahead in a thread: the same items in order, failures where they happened, and a
stop when the reader is closed early; Parquet files read whole or in chunks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadwatch.ingest.raw import ROW_NUMBER
from spreadwatch.ingest.readers import iter_chunks, read_ahead


def _threads() -> int:
    return sum(t.name == "spreadwatch-read-ahead" for t in threading.enumerate())


def test_items_come_in_order_and_a_failure_where_it_happened():
    def items():
        yield from range(5)
        raise ValueError("file 5 is broken")

    taken = []
    with pytest.raises(ValueError, match="file 5"):
        for item in read_ahead(items(), ahead=2):
            taken.append(item)
    assert taken == [0, 1, 2, 3, 4]


def test_closing_early_stops_the_reading_thread():
    made = []

    def items():
        for n in range(1000):
            made.append(n)
            yield n

    before = _threads()
    ahead = read_ahead(items(), ahead=1)
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()
    assert _threads() == before
    settled = len(made)
    time.sleep(0.05)
    assert len(made) == settled < 10  # at most a few read ahead, none after the close


def test_chunks_are_smaller_under_a_memory_cap_and_the_setting_is_checked(monkeypatch):
    from spreadwatch.ingest.run import CHUNK_ENV, default_chunk_bytes

    monkeypatch.delenv(CHUNK_ENV, raising=False)
    monkeypatch.delenv("SPREADWATCH_MEMORY_LIMIT", raising=False)
    assert default_chunk_bytes() == 64 * 1024 * 1024
    monkeypatch.setenv("SPREADWATCH_MEMORY_LIMIT", "1GB")
    assert default_chunk_bytes() == 32 * 1024 * 1024
    monkeypatch.setenv(CHUNK_ENV, "1000000")
    assert default_chunk_bytes() == 1_000_000
    monkeypatch.setenv(CHUNK_ENV, "64MB")
    with pytest.raises(ValueError, match="SPREADWATCH_INGEST_CHUNK_BYTES='64MB'"):
        default_chunk_bytes()


def test_parquet_row_groups_read_whole_or_in_chunks_give_the_files_rows(tmp_path):
    """Row groups with dictionaries of their own: a file read as one chunk (its row groups
    decoded side by side) and read in small chunks gives its rows, in order, numbered."""
    rng = np.random.default_rng(2)
    n = 30_000
    table = pa.table(
        {
            "carrier": pa.array(rng.choice(["SKT", "KT", "LGU"], n)),
            "subscriber_id": pa.array([f"s{i}" for i in rng.integers(0, 5000, n)]),
            "ts": pa.array(rng.integers(0, 10**15, n)).cast(pa.timestamp("us")),
            "cell_id": pa.array([f"c{i}" for i in rng.integers(0, 900, n)]),
        }
    )
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=7_000)  # five row groups, five dictionaries
    columns = list(table.column_names)
    whole = list(iter_chunks(path, columns))
    pieces = list(iter_chunks(path, columns, chunk_bytes=200_000))
    assert len(whole) == 1 and len(pieces) > 2
    for chunks in (whole, pieces):
        rows = pa.concat_tables([c.select(columns).cast(table.schema) for c, _ in chunks])
        assert rows.equals(table)
        numbers = np.concatenate([c[ROW_NUMBER].to_numpy() for c, _ in chunks])
        assert numbers.tolist() == list(range(1, n + 1))
    # strings come dictionary-encoded, one dictionary a chunk, its values distinct
    for chunk, _ in whole + pieces:
        column = chunk["subscriber_id"]
        assert pa.types.is_dictionary(column.type)
        first = column.chunk(0).dictionary
        assert all(part.dictionary.equals(first) for part in column.chunks)
        assert len(first.unique()) == len(first)


def test_an_empty_parquet_file_gives_no_chunk(tmp_path):
    schema = pa.schema([(c, pa.string()) for c in ("carrier", "subscriber_id", "ts", "cell_id")])
    path = tmp_path / "empty.parquet"
    pq.write_table(schema.empty_table(), path)
    assert list(iter_chunks(path, schema.names)) == []
