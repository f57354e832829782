"""Ingest on Spark gives the store the local ingest gives: the same rows, the same quarantine
with the same reasons, the same row accounting per file; on messy deliveries with repeats
within and across files, re-deliveries and a roaming file, on local Spark (and, slow, a
million events on local Spark and on a Spark Connect server)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.ingest import Store
from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.ingest.on_spark import STAGING, ingest_on_spark
from spreadwatch.ingest.sources import LOCATION
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate

KEY = bytes(range(32))
ENV = {"SPREADWATCH_QUIET": "1", "SPREADWATCH_PSEUDONYM_KEY": KEY.hex()}


def _delivery(root: Path, config: SynthConfig) -> dict[str, list[Path]]:
    """A messy synthetic delivery: the generator's files (planted defects of every kind), a
    re-delivered half day whose rows repeat twice, and the same file under another name."""
    generate(config, root / "synth")
    raw = root / "synth" / "raw"
    events = sorted((raw / "location_events").rglob("*.csv"))
    lines = events[0].read_text().splitlines(keepends=True)
    half = lines[: len(lines) // 2]
    again = root / "redelivered.csv"
    again.write_text("".join(half + half[1:]))  # one header, the rows twice
    copy = root / "copy-of-first.csv"
    shutil.copyfile(events[0], copy)
    cell = (raw / "cells.csv").read_text().splitlines()[1].split(",")[:2]  # carrier, cell_id
    defects = root / "defects.csv"  # one row of each defect the generator does not plant
    defects.write_text(
        "carrier,subscriber_id,ts,cell_id\n"
        f",450081111111111,2020-02-02T10:00:00Z,{cell[1]}\n"  # blank carrier
        f"S K T,450081111111112,2020-02-02T10:00:00Z,{cell[1]}\n"  # not a carrier name
        f"{cell[0]},450081111111113,1970-01-01T00:00:00Z,{cell[1]}\n"  # implausible time
        f"{cell[0]},450081111111114,2020-02-02T10:00:00Z\n"  # a field missing
        f'{cell[0]},"450081111111115",2020-02-02T10:00:00Z,{cell[1]}\n'  # quoted: fine
        f"{cell[0]},450081111111116,2020-02-02T10:00:00Z,{cell[1]}\n"
        f"{cell[0]},450081111111116,2020-02-02T10:00:00Z,{cell[1]}\n"  # an exact repeat
    )
    return {
        "cells": [raw / "cells.csv"],
        "location": [*events, again, copy, defects],
        "roaming": [raw / "roaming_events.csv"],
    }


def _store(root: Path) -> dict:
    """Everything a store holds, in an order that does not depend on parts: rows and
    quarantine of each source, and the accounting per file."""
    with Store(root) as store:
        held = {}
        for source in ("location", "roaming"):
            for quarantine in (False, True):
                table = store.read(source, quarantine=quarantine)
                if table is not None:
                    columns = [(c, "ascending") for c in table.column_names]
                    table = table.sort_by(columns)
                held[source, quarantine] = table
        records = sorted(
            (r.source, r.sha256, r.rows_in, r.rows_kept, r.rows_quarantined,
             r.duplicates_removed, dict(r.quarantined_by_reason))
            for r in store.records()
        )  # fmt: skip
        return {"tables": held, "records": records, "quality": store.quality()}


def assert_same_store(first: Path, second: Path) -> dict:
    a, b = _store(first), _store(second)
    assert a["records"] == b["records"]
    assert a["quality"] == b["quality"]
    for name, table in a["tables"].items():
        other = b["tables"][name]
        assert (table is None) == (other is None), name
        if table is None:
            continue
        assert table.num_rows == other.num_rows, name
        assert table.cast(other.schema).equals(other), name
    return a


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("spark-delivery")
    return _delivery(root, SynthConfig(seed=8, subscribers=800, days=3, messy_fraction=0.05))


def test_ingest_on_spark_makes_the_store_duckdb_makes(spark, delivery, tmp_path):
    ring = KeyRing(KEY)
    ingest_sources(tmp_path / "duckdb", delivery, ring)
    session = spark._session
    ingest_sources(tmp_path / "spark", delivery, ring, spark=session)
    held = assert_same_store(tmp_path / "duckdb", tmp_path / "spark")
    quality = held["quality"]["location"]
    assert quality["files"] == len(delivery["location"]) - 1  # the copy is skipped
    assert quality["duplicates_removed"] > 1000  # the re-delivery's rows
    assert len(quality["quarantined_by_reason"]) >= 7, quality  # defects of every kind
    assert held["tables"]["location", True].num_rows > 100
    assert held["tables"]["roaming", False].num_rows > 5
    assert not (tmp_path / "spark" / STAGING).exists()
    for part in (tmp_path / "spark" / "location").glob("*.parquet"):  # the contract, no more
        assert pq.read_schema(part).names == LOCATION.schema.names
    # a re-run of the delivery is a no-op
    with Store(tmp_path / "spark") as store:
        report = ingest_on_spark("location", delivery["location"], store, ring, session)
    assert not report.ingested and len(report.skipped) == len(delivery["location"])
    assert_same_store(tmp_path / "duckdb", tmp_path / "spark")


def test_a_job_killed_before_its_commits_resumes_without_loss(spark, delivery, tmp_path):
    ring = KeyRing(KEY)
    ingest_sources(tmp_path / "duckdb", {"cells": delivery["cells"], **_location(delivery)}, ring)
    ingest_sources(tmp_path / "spark", {"cells": delivery["cells"]}, ring)
    calls = []

    def dies_on_the_third(self, record, message_keys=()):
        calls.append(record.path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the job is killed: parts written, two files committed
        return commit(self, record, message_keys)

    commit = Store.commit
    with Store(tmp_path / "spark") as store:
        Store.commit = dies_on_the_third  # type: ignore[method-assign]
        try:
            with pytest.raises(KeyboardInterrupt):
                ingest_on_spark("location", _location(delivery)["location"], store, ring,
                                spark._session)  # fmt: skip
        finally:
            Store.commit = commit  # type: ignore[method-assign]
    with Store(tmp_path / "spark") as store:  # alone with it: the uncommitted parts go
        assert store.removed_leftovers > 0
        report = ingest_on_spark(
            "location", _location(delivery)["location"], store, ring, spark._session
        )
    assert len(report.skipped) == 3  # the two committed, and the copy of the first
    assert_same_store(tmp_path / "duckdb", tmp_path / "spark")


def _location(delivery: dict[str, list[Path]]) -> dict[str, list[Path]]:
    return {"location": delivery["location"]}


def test_the_command_line_ingests_on_spark(spark, delivery, tmp_path):
    store = tmp_path / "store"
    args = ["ingest", "location", *map(str, delivery["location"][:3]), "--out", str(store)]
    cells = ["--cells", str(delivery["cells"][0])]
    result = CliRunner().invoke(app, [*args, *cells, "--engine", "spark"], env=ENV)
    assert result.exit_code == 0, result.output
    assert "location: 3 files ingested now" in " ".join(result.output.split())
    assert pq.read_metadata(next((store / "location").glob("*.parquet"))).num_rows > 100
    result = CliRunner().invoke(app, [*args, "--engine", "flink"], env=ENV)
    assert result.exit_code == 2 and "--engine flink" in result.output


def test_sources_whose_rows_may_conflict_stay_local(spark, delivery, tmp_path):
    with Store(tmp_path / "s") as store, pytest.raises(ValueError, match="conflict"):
        ingest_on_spark("cells", delivery["cells"], store, KeyRing(KEY), spark._session)


@pytest.mark.slow
def test_a_million_messy_events_on_duckdb_local_spark_and_spark_connect(
    spark, connect_server, tmp_path, monkeypatch
):
    config = SynthConfig.for_events(1_000_000, days=7, seed=5, messy_fraction=0.02)
    delivery = _delivery(tmp_path / "delivery", config)
    ring = KeyRing(KEY)
    ingest_sources(tmp_path / "duckdb", delivery, ring)
    ingest_sources(tmp_path / "local", delivery, ring, spark=spark._session)
    held = assert_same_store(tmp_path / "duckdb", tmp_path / "local")
    assert held["quality"]["location"]["rows_in"] >= 1_000_000
    # pyspark marks the whole process as Spark Connect when a remote session starts; undo that
    # afterwards so that local Spark keeps working in this test process.
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "")
    monkeypatch.delenv("SPARK_CONNECT_MODE_ENABLED")
    from spreadwatch.spark_sessions import running

    with running(connect_server) as remote:
        ingest_sources(tmp_path / "connect", delivery, ring, spark=remote)
    assert_same_store(tmp_path / "duckdb", tmp_path / "connect")


def test_fingerprints_are_the_md5_of_the_encoded_key():
    """Independent truth: Python's MD5 of the same unambiguous encoding, as two halves."""
    import hashlib
    from datetime import UTC, datetime

    import numpy as np

    from spreadwatch.ingest.on_spark import _fingerprints

    ts = [datetime(2020, 2, 1, 8, 15, 42, 123456, tzinfo=UTC), datetime(1999, 12, 31, tzinfo=UTC)]
    rows = pa.table(
        {
            "carrier": ["SKT", "KT"],
            "subscriber_pseudo": ["a1b2", "a1b2|x"],
            "ts": pa.array(ts, LOCATION.schema.field("ts").type),
            "region_code": ["11010", "11020"],
            "cell_id": ["c|1", ""],
        }
    )
    got = _fingerprints(rows.cast(LOCATION.schema), LOCATION)
    for i, row in enumerate(rows.to_pylist()):
        micros = int(row["ts"].timestamp() * 1_000_000)
        values = [row["carrier"], row["subscriber_pseudo"], str(micros), row["cell_id"]]
        digest = hashlib.md5("|".join(f"{len(v)}:{v}" for v in values).encode()).digest()
        # DuckDB's md5_number_upper and _lower read the digest's halves little-endian
        upper, lower = (int.from_bytes(digest[k : k + 8], "little") for k in (0, 8))
        assert got["a"][i].as_py() == np.uint64(upper).view(np.int64)
        assert got["b"][i].as_py() == np.uint64(lower).view(np.int64)


def test_tasks_run_again_give_the_same_store(delivery, tmp_path):
    """A retried or speculative task (Spark runs some twice) changes nothing: each job's task
    run twice on the same file."""
    from spreadwatch.ingest import on_spark

    ring = KeyRing(KEY)
    ingest_sources(tmp_path / "store", {"cells": delivery["cells"]}, ring)
    files = delivery["location"][:2]
    with Store(tmp_path / "store") as store:
        staging = tmp_path / "staging"
        on_spark._stage_inputs(staging, files, store.read("cells"), set())
        task = on_spark._FileTask("location", str(staging), ring, 1 << 26)
        first = [task.run(i) for i in range(2)]
        assert [task.run(i) for i in range(2)] == first
        shas = {str(i): r["sha256"] for i, r in enumerate(first)}
        (staging / "shas.json").write_text(__import__("json").dumps(shas))
        writer = on_spark._PartWriter("location", str(store.root), str(staging))
        rows = [writer.run(i)["rows"] for i in range(2)]
        assert [writer.run(i)["rows"] for i in range(2)] == rows == [r["rows_kept"] for r in first]


def test_the_tasks_carry_the_key_but_nothing_large(delivery, tmp_path):
    """Spark writes a serialised function over 1 MB to its local disk to broadcast it: the
    tasks hold the key, so they must stay small whatever the cells and the delivery."""
    import cloudpickle

    from spreadwatch.ingest import on_spark

    task = on_spark._FileTask("location", str(tmp_path), KeyRing(KEY), 1 << 26)
    assert len(cloudpickle.dumps(task)) < 10_000
    writer = on_spark._PartWriter("location", str(tmp_path), str(tmp_path))
    assert len(cloudpickle.dumps(writer)) < 10_000


def test_what_a_killed_spark_ingest_staged_goes_at_the_next_open(tmp_path):
    from spreadwatch.ingest.store import STAGING

    Store(tmp_path / "s").close()
    left = tmp_path / "s" / STAGING / "0123" / "0" / "kept"
    left.mkdir(parents=True)
    (left / "x-00000.parquet").write_bytes(b"rows")
    with Store(tmp_path / "s") as store:
        assert store.removed_leftovers == 1
    assert not (tmp_path / "s" / STAGING).exists()


def test_refusals_come_before_any_spark_job(tmp_path):
    with Store(tmp_path / "s") as store, pytest.raises(ValueError, match="need an event time"):
        ingest_on_spark("household_members", [tmp_path], store, KeyRing(KEY, "month"), None)


def test_an_unreadable_file_stops_after_the_files_before_it_as_locally(spark, delivery, tmp_path):
    from spreadwatch.ingest.raw import RawFileError
    from spreadwatch.ingest.run import ingest

    binary = tmp_path / "broken.csv"
    binary.write_bytes(b"\x00\x01\x02 not text")
    files = [*delivery["location"][:2], binary, delivery["location"][2]]
    ring = KeyRing(KEY)
    for name in ("duckdb", "spark"):
        ingest_sources(tmp_path / name, {"cells": delivery["cells"]}, ring)
        with Store(tmp_path / name) as store, pytest.raises(RawFileError, match=r"broken\.csv"):
            if name == "spark":
                ingest_on_spark("location", files, store, ring, spark._session)
            else:
                ingest("location", files, store, ring)
    assert_same_store(tmp_path / "duckdb", tmp_path / "spark")
    with Store(tmp_path / "spark") as store:
        assert len(store.records("location")) == 2
