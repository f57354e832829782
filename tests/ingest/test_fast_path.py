"""The fast path of location events gives exactly what the SQL path gives: the same store parts,
the same quarantine, the same row accounting; on messy deliveries in CSV and typed Parquet."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from spreadwatch.ingest import Store, ingest
from spreadwatch.ingest import fast as fast_module
from spreadwatch.ingest.sources import IMPLAUSIBLE_REASON, TS_REASON
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

RING = KeyRing(bytes(range(32)))


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("messy")
    generate(SynthConfig(seed=21, subscribers=1500, days=3, messy_fraction=0.05), out)
    return out / "raw"


@pytest.fixture(scope="module")
def deliveries(raw, tmp_path_factory) -> dict[str, list[Path]]:
    """The CSV files; the same as typed Parquet (text timestamps parsed, bad ones null, cell
    IDs as categorical strings); and a re-delivery that repeats and overlaps earlier rows."""
    folder = tmp_path_factory.mktemp("deliveries")
    csv = sorted((raw / "location_events").rglob("*.csv"))
    parquet = []
    con = duckdb.connect()
    for path in csv:
        out = folder / f"{path.parent.name}-{path.stem}.parquet"
        con.execute(
            f"COPY (SELECT carrier, subscriber_id, try_strptime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, "
            f"cell_id FROM read_csv('{path}', all_varchar = true, quote = '')) TO '{out}'"
        )
        parquet.append(out)
    table = pq.read_table(parquet[0])
    again = folder / "redelivery.parquet"  # half of a day again, with its rows twice
    half = table.slice(0, table.num_rows // 2)
    pq.write_table(pa.concat_tables([half, half]), again)
    return {"csv": csv, "parquet": parquet, "again": [again]}


def _run(
    raw: Path, files: list[list[Path]], root: Path, fast: bool, chunk_bytes: int | None = None
) -> dict:
    with Store(root) as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        records = [
            ingest("location", f, store, RING, chunk_bytes, fast_path=fast).totals() for f in files
        ]
        return {
            "events": store.read("location"),
            "quarantine": store.read("location", quarantine=True),
            "records": [
                (
                    r.rows_in,
                    r.rows_kept,
                    r.rows_quarantined,
                    r.duplicates_removed,
                    dict(r.quarantined_by_reason),
                )
                for r in records
            ],
            "parts": {p.name: pq.read_table(p) for p in store.parts("location")},
        }


def _recorded(monkeypatch, owner: object, name: str, record) -> list:
    """``owner.name`` patched to call through, and the list it appends ``record(*args)`` to
    on each call."""
    calls: list = []
    original = getattr(owner, name)

    def spy(*args):
        calls.append(record(*args))
        return original(*args)

    monkeypatch.setattr(owner, name, spy)
    return calls


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_fast_path_equals_the_sql_path(raw, deliveries, tmp_path, kind, monkeypatch):
    taken = _recorded(
        monkeypatch, fast_module.LocationFastPath, "process", lambda _, p, *r: p.chunk.num_rows
    )
    batches = [deliveries[kind], deliveries["again"]]
    by_sql = _run(raw, batches, tmp_path / "sql", fast=False)
    assert not taken
    by_fast = _run(raw, batches, tmp_path / "fast", fast=True)
    assert sum(taken) > 0
    assert by_fast["records"] == by_sql["records"]
    first, again = by_sql["records"]
    assert first[2] > 0 and first[3] > 0  # messy: quarantined rows and duplicates
    assert again[1] == 0 and again[2] + again[3] == again[0]  # the re-delivery adds nothing
    assert by_fast["parts"].keys() == by_sql["parts"].keys()
    for name, part in by_sql["parts"].items():
        assert by_fast["parts"][name].equals(part), name
    assert by_fast["quarantine"].equals(by_sql["quarantine"])


def test_rows_only_the_sql_path_keeps_join_the_clean_ones(raw, deliveries, tmp_path, monkeypatch):
    """Rows the fast path leaves to SQL that SQL keeps (a time in another accepted layout, an
    identifier in white space) join the chunk's clean rows: ordered with them, and a twin of a
    clean row is a duplicate, as on the SQL path alone."""
    appended = _recorded(monkeypatch, fast_module, "_appended", lambda coded, more: len(more))
    table = pq.read_table(deliveries["parquet"][0])
    rng = np.random.default_rng(3)
    rows = table.num_rows
    text = table.set_column(
        2, "ts", pc.strftime(table["ts"], "%Y-%m-%dT%H:%M:%SZ").cast(pa.string())
    )
    ts, subscriber = text["ts"].to_pylist(), text["subscriber_id"].to_pylist()
    for i in rng.choice(rows, rows // 30, replace=False).tolist():
        if ts[i] is not None:
            ts[i] = ts[i].replace("T", " ").rstrip("Z")  # the SQL path's other layout
    for i in rng.choice(rows, rows // 50, replace=False).tolist():
        if subscriber[i]:
            subscriber[i] = f"  {subscriber[i]} "
    mixed = text.set_column(2, "ts", pa.array(ts)).set_column(
        1, "subscriber_id", pa.array(subscriber)
    )
    twins = text.take(pa.array(rng.choice(rows, rows // 40, replace=False)))  # as clean rows
    path = tmp_path / "mixed.parquet"
    pq.write_table(pa.concat_tables([mixed, twins]), path)
    by_sql = _run(raw, [[path]], tmp_path / "sql", fast=False)
    by_fast = _run(raw, [[path]], tmp_path / "fast", fast=True)
    assert sum(appended) > 0  # the SQL path kept rows the fast path had left to it
    assert by_fast["records"] == by_sql["records"]
    assert by_sql["records"][0][3] >= rows // 40  # the twins, and the delivery's own repeats
    for name, part in by_sql["parts"].items():
        assert by_fast["parts"][name].equals(part), name
    assert by_fast["quarantine"].equals(by_sql["quarantine"])


def test_rotating_keys_take_the_sql_path(raw, deliveries, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("rotating keys must not take the fast path")

    monkeypatch.setattr(fast_module.LocationFastPath, "process", refuse)
    with Store(tmp_path / "store") as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        ring = KeyRing(RING.key, rotation="month")
        assert ingest("location", deliveries["csv"][:1], store, ring).totals().rows_kept > 0
    shutil.rmtree(tmp_path / "store")


def test_typed_times_the_sql_path_refuses_are_left_to_it(raw, tmp_path):
    """Typed times outside the years 1000-2999 go to the SQL path, which renders them as text
    and reads them back (a BC time does not come back: quarantined); the result is the same."""
    with Store(tmp_path / "cells") as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        placed = store.read("cells")
    carrier, cell = placed["carrier"][0].as_py(), placed["cell_id"][0].as_py()
    day = dt.datetime(2020, 2, 1, tzinfo=dt.UTC)
    micros = [
        int(day.timestamp() * 1e6),
        int(dt.datetime(1500, 6, 1, tzinfo=dt.UTC).timestamp() * 1e6),
        int(dt.datetime(2020, 2, 1, tzinfo=dt.UTC).timestamp() * 1e6) * 6,  # about year 2270
        int(dt.datetime(2020, 2, 1, tzinfo=dt.UTC).timestamp() * 1e6) * 200,  # year 12000+
        -int(dt.datetime(2020, 2, 1, tzinfo=dt.UTC).timestamp() * 1e6) * 30,  # BC
    ]
    table = pa.table(
        {
            "carrier": [carrier] * len(micros),
            "subscriber_id": [f"s{i}" for i in range(len(micros))],
            "ts": pa.array(micros, pa.int64()).cast(pa.timestamp("us")),
            "cell_id": [cell] * len(micros),
        }
    )
    path = tmp_path / "years.parquet"
    pq.write_table(table, path)
    by_sql = _run(raw, [[path]], tmp_path / "sql", fast=False)
    by_fast = _run(raw, [[path]], tmp_path / "fast", fast=True)
    assert by_fast["records"] == by_sql["records"]
    assert by_sql["records"][0][:3] == (5, 1, 4)  # only 2020 is a plausible time
    assert by_sql["records"][0][4] == {IMPLAUSIBLE_REASON: 3, TS_REASON: 1}  # BC: unreadable
    assert by_fast["events"].equals(by_sql["events"])


def test_text_times_outside_the_plausible_window_are_quarantined(raw, tmp_path):
    """A location dated 2120, 1920 or 9999 is kept by neither path (flows would not know
    what to do with it), with a reason that says what was expected."""
    with Store(tmp_path / "cells") as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        placed = store.read("cells")
    carrier, cell = placed["carrier"][0].as_py(), placed["cell_id"][0].as_py()
    times = ["2020-02-01T08:00:00Z", "2120-02-01T08:00:00Z", "1920-02-01T08:00:00Z",
             "9999-12-31T23:59:59Z", "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z"]  # fmt: skip
    path = tmp_path / "times.csv"
    rows = [f"{carrier},s{i},{t},{cell}" for i, t in enumerate(times)]
    path.write_text("carrier,subscriber_id,ts,cell_id\n" + "\n".join(rows) + "\n")
    by_sql = _run(raw, [[path]], tmp_path / "sql", fast=False)
    by_fast = _run(raw, [[path]], tmp_path / "fast", fast=True)
    assert by_fast["records"] == by_sql["records"]
    assert by_sql["records"][0][:3] == (6, 2, 4)
    assert by_sql["records"][0][4] == {IMPLAUSIBLE_REASON: 4}
    kept = sorted(t.isoformat() for t in by_sql["events"]["ts"].to_pylist())
    assert kept == ["2000-01-01T00:00:00+00:00", "2020-02-01T08:00:00+00:00"]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_kept_parts_hold_no_value_of_quarantined_rows(raw, tmp_path, kind):
    """A malformed cell ID or carrier (withheld from the quarantine as a possible misplaced
    ID) leaves no trace in the kept parts, not even in their dictionaries."""
    with Store(tmp_path / "cells") as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        placed = store.read("cells")
    carrier, cell = placed["carrier"][0].as_py(), placed["cell_id"][0].as_py()
    secret_cell, secret_carrier = "SECRET01099998888", "SECRET01077776666"
    rows = [
        (carrier, "a", "2020-02-01T01:00:00Z", cell),
        (carrier, "b", "2020-02-01T02:00:00Z", secret_cell),
        (secret_carrier, "c", "2020-02-01T03:00:00Z", cell),
        (carrier, "d", "2020-02-01T04:00:00Z", cell),
    ]
    path = tmp_path / f"delivery.{kind}"
    if kind == "csv":
        lines = ["carrier,subscriber_id,ts,cell_id", *(",".join(r) for r in rows)]
        path.write_text("\n".join(lines) + "\n")
    else:
        names = ["carrier", "subscriber_id", "ts", "cell_id"]
        table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
        ts = pa.compute.strptime(table["ts"], "%Y-%m-%dT%H:%M:%SZ", "us")
        pq.write_table(table.set_column(2, "ts", ts), path)
    result = _run(raw, [[path]], tmp_path / "store", fast=True)
    assert result["records"][0][:3] == (4, 2, 2)
    for part in result["parts"]:
        kept = pq.read_table(
            tmp_path / "store" / "location" / part, read_dictionary=["carrier", "cell_id"]
        )
        for name in ("carrier", "cell_id"):
            values = set(kept[name].combine_chunks().dictionary.to_pylist())
            assert not values & {secret_cell, secret_carrier}


def _subscriber_blocks(placed: pa.Table, unordered: int) -> tuple[pa.Table, int]:
    """A carrier's day as large deliveries come: blocks of subscribers, each ordered by time.
    The first chunk's last 10 rows come again at the start of the second (as repeats, and with
    another cell as new rows at the same time); ``unordered`` early rows come again at the end.
    Returns the table and how many of its rows repeat others."""
    rng = np.random.default_rng(12)
    carrier = placed["carrier"][0].as_py()
    cells = placed.filter(pa.compute.equal(placed["carrier"], carrier))["cell_id"].to_pylist()
    start = dt.datetime(2020, 2, 1, tzinfo=dt.UTC)
    blocks = []
    for block in range(3):
        who = np.repeat(np.arange(block * 250, (block + 1) * 250), 40)
        seconds = rng.choice(86_400, who.size, replace=False)  # one row per time
        order = np.argsort(seconds, kind="stable")
        blocks.append((who[order], seconds[order]))
    who = np.concatenate([b[0] for b in blocks])
    seconds = np.concatenate([b[1] for b in blocks])
    cell = rng.integers(0, len(cells), who.size)
    edge = np.arange(9_990, 10_000)
    moved = (cell[edge] + 1) % len(cells)
    early = rng.choice(9_000, unordered, replace=False)
    at = np.concatenate([np.arange(10_000), edge, edge, np.arange(10_000, who.size), early])
    cell = np.concatenate([cell[:10_000], cell[edge], moved, cell[10_000:], cell[early]])
    table = pa.table(
        {
            "carrier": [carrier] * at.size,
            "subscriber_id": [f"sub{w}" for w in who[at]],
            "ts": [start + dt.timedelta(seconds=int(s)) for s in seconds[at]],
            "cell_id": [cells[c] for c in cell],
        }
    )
    return table, edge.size + unordered


@pytest.mark.parametrize("unordered", [0, 25])
def test_repeats_across_chunks_of_subscriber_blocks(raw, tmp_path, monkeypatch, unordered):
    """Chunks of such a day span all of it: the run's own parts are read back only for rows
    out of their subscriber's order, and every repeat is found either way."""
    with Store(tmp_path / "cells") as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        placed = store.read("cells")
    table, repeats = _subscriber_blocks(placed, unordered)
    path = tmp_path / "day.parquet"
    pq.write_table(table, path)
    reads = _recorded(monkeypatch, fast_module, "_stored_in", lambda rows, parts: len(parts))
    by_fast = _run(raw, [[path]], tmp_path / "fast", True, chunk_bytes=1)  # 10,000 rows
    assert len(by_fast["parts"]) == -(-table.num_rows // 10_000)  # a part per chunk
    assert (len(reads) > 0) == (unordered > 0)
    by_sql = _run(raw, [[path]], tmp_path / "sql", False, chunk_bytes=1)
    assert by_fast["records"] == by_sql["records"]
    assert by_fast["records"][0][:4] == (table.num_rows, table.num_rows - repeats, 0, repeats)
    for name, part in by_sql["parts"].items():
        assert by_fast["parts"][name].equals(part), name
