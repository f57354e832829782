"""Reading ahead in a thread: the same items in order, failures where they happened, and a
stop when the reader is closed early."""

from __future__ import annotations

import threading
import time

import pytest

from spreadwatch.ingest.readers import read_ahead


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
