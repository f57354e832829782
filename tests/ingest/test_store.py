"""The ingest store: every source, never twice, never lost (also when killed), rotating keys."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from spreadwatch.ingest import RawFileError, Store, expand_paths, ingest
from spreadwatch.privacy.pseudonym import KeyRing, pseudonym
from spreadwatch.synth import SynthConfig, generate
from tests.limits import TIMEOUT

KEY = bytes(range(32))
RING = KeyRing(KEY)
CELLS = "carrier,cell_id,lat,lon\nSKT,S1,37.5663,126.9779\nSKT,S2,35.1587,129.1604\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _sorted(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: json.dumps(r, default=str, sort_keys=True))


@pytest.fixture(scope="module")
def synth_raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(SynthConfig(seed=5, subscribers=1500, days=4, messy_fraction=0.01), out)
    return out / "raw"


def _ingest_all(raw: Path, root: Path, ring: KeyRing = RING) -> Store:
    store = Store(root)
    ingest("cells", [raw / "cells.csv"], store, ring)
    ingest("location", [raw / "location_events"], store, ring)
    return store


def test_reingesting_changes_nothing_and_copies_are_recognised(synth_raw, tmp_path):
    with _ingest_all(synth_raw, tmp_path / "s") as store:
        before = {p.name: p.read_bytes() for p in store.root.rglob("*.parquet")}
        again = ingest("location", [synth_raw / "location_events"], store, RING)
        assert again.ingested == [] and len(again.skipped) == 12
        copy = _write(
            tmp_path / "renamed.csv", (synth_raw / "location_events/KT/2020-02-02.csv").read_text()
        )
        assert ingest("location", [copy], store, RING).skipped == [copy]
        assert {p.name: p.read_bytes() for p in store.root.rglob("*.parquet")} == before


def test_overlapping_delivery_adds_only_new_rows(synth_raw, tmp_path):
    day = (synth_raw / "location_events/SKT/2020-02-03.csv").read_text().splitlines()
    with _ingest_all(synth_raw, tmp_path / "s") as store:
        rows_before = store.read("location").num_rows
        # a re-delivery: the first 100 rows again (already ingested) and one new row
        new = "SKT,skt:new-subscriber,2020-02-03T10:00:00Z," + day[1].split(",")[3]
        redelivery = _write(
            tmp_path / "redelivery.csv", "\n".join([day[0], *day[1:101], new]) + "\n"
        )
        record = ingest("location", [redelivery], store, RING).ingested[0]
        assert record.rows_in == 101
        assert record.rows_kept == 1
        assert record.duplicates_removed + record.rows_quarantined == 100
        assert store.read("location").num_rows == rows_before + 1


def test_parquet_delivery_equals_csv_delivery(synth_raw, tmp_path):
    csv_file = synth_raw / "location_events/LGU/2020-02-01.csv"
    table = pacsv.read_csv(
        csv_file, convert_options=pacsv.ConvertOptions(strings_can_be_null=False)
    )
    typed = table.set_column(
        2, "ts", pa.compute.strptime(table["ts"], "%Y-%m-%dT%H:%M:%SZ", "s", error_is_null=True)
    )
    parquet_file = tmp_path / "day.parquet"
    pq.write_table(typed.select(["cell_id", "ts", "carrier", "subscriber_id"]), parquet_file)
    results = []
    for name, path in (("csv", csv_file), ("parquet", parquet_file)):
        with Store(tmp_path / name) as store:
            ingest("cells", [synth_raw / "cells.csv"], store, RING)
            record = ingest("location", [path], store, RING).ingested[0]
            results.append((record, store.read("location")))
    (csv_record, csv_rows), (pq_record, pq_rows) = results
    assert _sorted(csv_rows) == _sorted(pq_rows)
    assert pq_record.rows_in == csv_record.rows_in
    assert pq_record.balanced()


def _typed_parquet(csv_file: Path, out: Path, types: dict[str, pa.DataType]) -> Path:
    """The rows of a CSV delivery as typed Parquet, unparsable values as nulls."""
    frame = pd.read_csv(csv_file, dtype=str, keep_default_na=False)
    typed: dict[str, pa.Array] = {}
    for name, kind in types.items():
        text = frame[name].str.strip()
        if pa.types.is_timestamp(kind):
            values = pd.to_datetime(text, format="%Y-%m-%dT%H:%M:%SZ", errors="coerce", utc=True)
        elif pa.types.is_date(kind):
            values = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").dt.date
        elif pa.types.is_boolean(kind):
            values = text.str.lower().map({"true": True, "false": False}).astype("boolean")
        else:
            values = pd.to_numeric(text, errors="coerce")
        typed[name] = pa.array(values, kind, from_pandas=True)
    table = pa.table({c: typed.get(c, pa.array(frame[c], pa.string())) for c in frame.columns})
    pq.write_table(table, out)
    return out


@pytest.mark.parametrize(
    ("source", "relative", "types", "bad_lines"),
    [
        (
            "telemetry",
            "device_telemetry/thinq.csv",
            {"ts": pa.timestamp("us", tz="UTC"), "value": pa.float64(), "consent": pa.bool_()},
            [
                "thinq,THD-x1,THH-x1,yesterday,pm25,3,true",
                "thinq,THD-x2,THH-x2,2020-02-01T00:00:00Z,pm25,high,true",
                "thinq,THD-x3,THH-x3,2020-02-01T00:00:00Z,pm25,3,maybe",
                "thinq,THD-x4,THH-x4,2020-02-01T00:00:00Z,pm25,3, TRUE ",
            ],
        ),
        (
            "cases",
            "cases.csv",
            {"date": pa.date32(), "confirmed": pa.int64()},
            ["11010,2020-13-01,3", "11010,2020-03-01,many"],
        ),
    ],
)
def test_typed_parquet_equals_csv(synth_raw, tmp_path, source, relative, types, bad_lines):
    """Zoned timestamps, floats, booleans, dates and integers from Parquet are read as the text
    a CSV delivery carries: the same rows kept, the same reasons quarantined (a malformed CSV
    value is a null in typed Parquet, and fails the same check)."""
    csv_file = tmp_path / "delivery.csv"
    csv_file.write_text((synth_raw / relative).read_text() + "\n".join(bad_lines) + "\n")
    parquet_file = _typed_parquet(csv_file, tmp_path / "typed.parquet", types)
    results = []
    for name, path in (("csv", csv_file), ("parquet", parquet_file)):
        with Store(tmp_path / name) as store:
            record = ingest(source, [path], store, RING).ingested[0]
            results.append((record, store.read(source)))
    (csv_record, csv_rows), (pq_record, pq_rows) = results
    assert pq_rows.num_rows > 0 and pq_record.balanced()
    assert _sorted(csv_rows) == _sorted(pq_rows)
    assert pq_record.quarantined_by_reason == csv_record.quarantined_by_reason
    assert sum(pq_record.quarantined_by_reason.values()) >= len(bad_lines) - 1  # " TRUE " is kept
    assert pq_record.duplicates_removed == csv_record.duplicates_removed


def test_paths_folders_and_globs(synth_raw, tmp_path):
    by_glob = expand_paths([str(synth_raw / "location_events" / "*" / "2020-02-0[12].csv")])
    assert len(by_glob) == 6
    by_folder = expand_paths([synth_raw / "location_events"])
    assert len(by_folder) == 12 and set(by_glob) < set(by_folder)
    assert expand_paths([by_glob[0], by_glob[0]]) == [by_glob[0]]
    for bad, message in (
        (tmp_path / "missing.csv", "no such file"),
        (str(tmp_path / "*.csv"), "no .csv or .parquet file matches"),
        (_write(tmp_path / "x.txt", "a"), "expected a .csv or .parquet file"),
    ):
        with pytest.raises(RawFileError, match=message):
            expand_paths([bad])


def test_header_and_cells_errors_name_the_file(tmp_path):
    bad = _write(tmp_path / "bad.csv", "carrier,subscriber,ts,cell\nSKT,a,b,c\n")
    with Store(tmp_path / "s") as store:
        with pytest.raises(RawFileError, match="cells file first"):
            ingest("location", [bad], store, RING)
        ingest("cells", [_write(tmp_path / "cells.csv", CELLS)], store, RING)
        with pytest.raises(
            RawFileError, match=r"bad\.csv: header is .*expected 'carrier,subscriber_id,ts,cell_id'"
        ):
            ingest("location", [bad], store, RING)


def test_roaming_rows_are_checked_and_share_the_location_pseudonym(tmp_path):
    text = (
        "carrier,subscriber_id,ts,country,event,direction\n"
        "SKT,s1,2020-02-01T01:00:00Z,JPN,attach,outbound\n"
        "SKT,s1,2020-02-01T01:00:00Z,JPN,attach,outbound\n"
        "SKT,s2,2020-02-01T01:00:00Z,XYZ,attach,outbound\n"
        "SKT,s3,2020-02-01T01:00:00Z,CHN,arrive,inbound\n"
        "SKT,s4,2020-02-01T01:00:00Z,CHN,attach,sideways\n"
    )
    with Store(tmp_path / "s") as store:
        record = ingest("roaming", [_write(tmp_path / "r.csv", text)], store, RING).ingested[0]
        rows = store.read("roaming").to_pylist()
    assert record.duplicates_removed == 1 and record.rows_kept == 1 and record.balanced()
    assert rows[0]["subscriber_pseudo"] == pseudonym(KEY, "SKT", "s1")
    assert dict(record.quarantined_by_reason) == {
        "expected an ISO 3166 alpha-3 country code like JPN": 1,
        "expected one of attach, detach": 1,
        "expected one of outbound, inbound": 1,
    }


def test_telemetry_consent_conflicts_and_values(tmp_path):
    text = (
        "platform,device_id,household_id,ts,kind,value,consent\n"
        "thinq,d1,h1,2020-02-01T01:00:00Z,body_temp,36.6,true\n"
        "thinq,d1,h1,2020-02-01T01:00:00Z,body_temp,38.2,true\n"
        "thinq,d2,h2,2020-02-01T01:00:00Z,body_temp,37.0,false\n"
        "thinq,d3,h3,2020-02-01T01:00:00Z,Body Temp,37.0,true\n"
        "thinq,d4,h4,2020-02-01T01:00:00Z,pm25,high,true\n"
        "thinq,d5,h5,2020-02-01T01:00:00Z,pm25,12,maybe\n"
        "thinq,d6,h6,2020-02-01T01:00:00Z,body_temp,-500,true\n"  # as the bridge refuses it
        "thinq,d7,h7,2020-02-01T01:00:00Z,presence,-500,true\n"  # a kind without a range
    )
    with Store(tmp_path / "s") as store:
        record = ingest("telemetry", [_write(tmp_path / "t.csv", text)], store, RING).ingested[0]
        kept = store.read("telemetry").to_pylist()
        quarantine = {r["reason"]: r for r in store.read("telemetry", quarantine=True).to_pylist()}
    assert sorted(r["value"] for r in kept) == [-500.0, 36.6]
    assert pseudonym(KEY, "thinq", "h1") in {r["household_pseudo"] for r in kept}
    assert record.balanced() and record.rows_quarantined == 6
    assert "expected a plausible body_temp reading (30 to 45)" in quarantine
    withheld = quarantine["household has not consented: row not kept"]
    assert withheld["raw_row"] is None and withheld["row_number"] == 4
    conflict = quarantine[
        "conflicts with an earlier row with the same platform, device_pseudo, ts, kind"
    ]
    assert json.loads(conflict["raw_row"])["value"] == 38.2 and conflict["row_number"] == 3
    assert "expected a reading kind in lower case, like body_temp" in quarantine
    assert "expected a finite number" in quarantine
    assert "expected one of true, false" in quarantine


def test_cases_corrections_are_conflicts_and_repeats_duplicates(tmp_path):
    first = (
        "region_code,date,confirmed\n11010,2020-02-01,3\n11020,2020-02-01,0\n99999,2020-02-01,1\n"
    )
    second = (
        "region_code,date,confirmed\n11010,2020-02-01,3\n11020,2020-02-01,2\n"
        "11030,2020-02-31,1\n11040,2020-02-01,-1\n11050,2020-2-1,1\n11060,2020-02-01,1.5\n"
        "11070,2020-02-01,1e3\n"
    )
    with Store(tmp_path / "s") as store:
        one = ingest("cases", [_write(tmp_path / "a.csv", first)], store, RING).ingested[0]
        two = ingest("cases", [_write(tmp_path / "b.csv", second)], store, RING).ingested[0]
        cases = store.read("cases").to_pylist()
    assert one.quarantined_by_reason == {"unknown region code": 1}
    assert two.duplicates_removed == 1
    assert two.quarantined_by_reason == {
        "conflicts with an earlier row with the same region_code, date": 1,
        "expected a date like 2020-02-01": 2,
        "expected a non-negative integer count": 3,
    }
    assert sorted((c["region_code"], c["confirmed"]) for c in cases) == [("11010", 3), ("11020", 0)]


def test_monthly_rotation_changes_pseudonyms_at_month_boundaries(tmp_path):
    text = (
        "carrier,subscriber_id,ts,cell_id\n"
        "SKT,s1,2020-01-31T23:00:00Z,S1\nSKT,s1,2020-02-01T01:00:00Z,S2\n"
        "SKT,s1,2020-02-20T01:00:00Z,S1\n"
    )
    ring = KeyRing(KEY, "month")
    with Store(tmp_path / "s") as store:
        ingest("cells", [_write(tmp_path / "cells.csv", CELLS)], store, ring)
        ingest("location", [_write(tmp_path / "e.csv", text)], store, ring)
        pseudos = store.read("location")["subscriber_pseudo"].to_pylist()
    january, february = (
        pseudonym(KEY, "SKT", "s1", "2020-01"),
        pseudonym(KEY, "SKT", "s1", "2020-02"),
    )
    assert pseudos == [january, february, february]
    assert january != february != pseudonym(KEY, "SKT", "s1")


def _committed(store_dir: Path) -> int:
    try:
        with sqlite3.connect(store_dir / "manifest.sqlite") as db:
            return db.execute("SELECT count(*) FROM files WHERE source = 'location'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("kill_after_files", [0, 3])
def test_killed_ingest_resumes_without_duplicates_or_loss(synth_raw, tmp_path, kill_after_files):
    reference = _ingest_all(synth_raw, tmp_path / "reference")
    expected = _sorted(reference.read("location"))
    reference.close()
    store_dir = tmp_path / "killed"
    with Store(store_dir) as store:
        ingest("cells", [synth_raw / "cells.csv"], store, RING)
    env = {**os.environ, "SPREADWATCH_PSEUDONYM_KEY": KEY.hex(), "SPREADWATCH_QUIET": "1"}
    # small chunks: each file is written in several parts, so a kill can land inside a file
    env["SPREADWATCH_INGEST_CHUNK_BYTES"] = "50000"
    command = [
        sys.executable,
        "-m",
        "spreadwatch",
        "ingest",
        "location",
        str(synth_raw / "location_events"),
        "--out",
        str(store_dir),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _committed(store_dir) < kill_after_files and time.monotonic() < deadline:
        time.sleep(0.01)
    if kill_after_files == 0:  # kill once the first parts of the first file are on disk
        while not list((store_dir / "location").glob("*.parquet*")) and time.monotonic() < deadline:
            time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = _committed(store_dir)
    assert interrupted < 12, "the run finished before it could be killed"
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    with Store(store_dir) as store:
        assert _sorted(store.read("location")) == expected
        records = store.records("location")
    assert len(records) == 12 and len({r.sha256 for r in records}) == 12
    assert all(r.balanced() for r in records)


def test_household_registry_checks_regions_and_consent(tmp_path):
    text = (
        "platform,household_id,region_code,consent\n"
        "thinq,h1,11010,true\nthinq,h2,11010,false\nthinq,h3,00000,true\n"
        "thinq,h1,21090,true\n"
    )
    with Store(tmp_path / "s") as store:
        record = ingest("households", [_write(tmp_path / "h.csv", text)], store, RING).ingested[0]
        rows = store.read("households").to_pylist()
    assert rows == [
        {
            "platform": "thinq",
            "household_pseudo": pseudonym(KEY, "thinq", "h1"),
            "region_code": "11010",
        }
    ]
    assert record.quarantined_by_reason == {
        "household has not consented: row not kept": 1,
        "unknown region code": 1,
        "conflicts with an earlier row with the same platform, household_pseudo": 1,
    }


def test_hostile_lines_are_quarantined_on_their_own_line_without_raw_ids(tmp_path):
    lines = [
        "carrier,subscriber_id,ts,cell_id",
        'SKT,"s-quote,2020-02-01T01:00:00Z,S1',  # 2: a quote that never closes
        *[f"SKT,s{i},2020-02-01T01:00:{i:02d}Z,S1" for i in range(3, 8)],  # 3-7 good
        "",  # 8: an empty line is a bad row, not skipped
        "SKT,2020-02-01T01:00:00Z,skt:SECRET1,S1",  # 9: columns swapped
        "SKT,S1,2020-02-01T01:00:00Z,skt:SECRET2",  # 10: columns swapped
        "450081234567890,s9,2020-02-01T01:00:00Z,S1",  # 11: an ID in the carrier column
        'SKT,s10,2020-02-01T01:00:10Z,S1"',  # 12: a quote inside an unquoted field
    ]
    data = ("\n".join(lines) + "\n").encode() + b"SKT,s\xff\xfe,2020-02-01T01:00:00Z,S1\n"  # 13
    path = tmp_path / "e.csv"
    path.write_bytes(data)
    with Store(tmp_path / "s") as store:
        ingest("cells", [_write(tmp_path / "cells.csv", CELLS)], store, RING)
        record = ingest("location", [path], store, RING).ingested[0]
        kept = store.read("location")
        quarantine = store.read("location", quarantine=True).to_pylist()
    assert record.rows_in == 12 and record.balanced()
    assert kept.num_rows == 5  # lines 3-7
    by_line = {r["row_number"]: r for r in quarantine}
    for line in (2, 12):  # on their own lines: the quote swallows nothing after it
        assert by_line[line]["reason"].startswith("a quote out of place (RFC 4180")
        assert by_line[line]["raw_row"] is None  # location rows carry identifiers
    assert by_line[8]["reason"] == "blank carrier"  # an empty line: every field blank
    assert by_line[9]["reason"].startswith("expected a UTC timestamp")
    assert by_line[10]["reason"].startswith("unknown cell")
    assert by_line[11]["reason"].startswith("expected a carrier name")
    assert by_line[13] | {"source_file": None} == {
        "source_file": None,
        "row_number": 13,
        "column": None,
        "reason": "not valid UTF-8 text",
        "raw_row": None,
    }
    text = json.dumps(quarantine)
    assert "SECRET" not in text and "450081234567890" not in text


def test_quoted_fields_read_as_their_text_whatever_the_quoting(tmp_path):
    """RFC 4180: the same rows written plain and fully quoted are the same rows; a quoted
    comma or doubled quote is part of the field."""
    import csv

    rows = [["SKT", f"skt:{i}", f"2020-02-01T01:00:{i:02d}Z", "S1"] for i in range(6)]
    header = ["carrier", "subscriber_id", "ts", "cell_id"]
    plain = _write(tmp_path / "plain.csv", "\n".join(",".join(r) for r in [header, *rows]) + "\n")
    quoted = tmp_path / "quoted.csv"
    with quoted.open("w", newline="") as fh:
        fh.write(",".join(header) + "\n")
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerows(rows)
        writer.writerow(["SKT", 'skt:a,"b"', "2020-02-01T02:00:00Z", "S2"])  # comma and quotes
        fh.write('SKT,"skt:mixed",2020-02-01T03:00:00Z,S1\n')  # quoted and plain fields mixed
    kept = {}
    for name, path in (("plain", plain), ("quoted", quoted)):
        with Store(tmp_path / name) as store:
            ingest("cells", [_write(tmp_path / "cells.csv", CELLS)], store, RING)
            record = ingest("location", [path], store, RING).ingested[0]
            assert record.rows_quarantined == 0 and record.balanced()
            kept[name] = store.read("location").to_pandas()
    plain_rows, quoted_rows = kept["plain"], kept["quoted"]
    assert len(quoted_rows) == len(plain_rows) + 2
    columns = ["subscriber_pseudo", "ts", "region_code"]
    pd.testing.assert_frame_equal(
        quoted_rows[columns].head(len(plain_rows)).reset_index(drop=True),
        plain_rows[columns].reset_index(drop=True),
    )
    pseudonyms = set(quoted_rows["subscriber_pseudo"])
    for raw in ('skt:a,"b"', "skt:mixed"):
        assert RING.pseudonym_of("SKT", raw) in pseudonyms


def test_a_file_without_header_is_refused_without_echoing_its_data(tmp_path):
    path = _write(tmp_path / "e.csv", "SKT,skt:SECRET,2020-02-01T01:00:00Z,S1\n")
    with Store(tmp_path / "s") as store:
        ingest("cells", [_write(tmp_path / "cells.csv", CELLS)], store, RING)
        with pytest.raises(RawFileError) as error:
            ingest("location", [path], store, RING)
    assert "first line is not a header (4 fields)" in str(error.value)
    assert "SECRET" not in str(error.value)


def test_typed_parquet_keeps_fractions_and_whole_floats(tmp_path):
    """Sub-second timestamps stay distinct rows; counts stored as floats read as integers."""
    roaming = pa.table(
        {
            "carrier": ["SKT", "SKT"],
            "subscriber_id": ["s1", "s1"],
            "ts": pa.array(
                [dt_utc("2020-02-01T10:00:39"), dt_utc("2020-02-01T10:00:39.5")],
                pa.timestamp("ms", tz="UTC"),
            ),
            "country": ["JPN", "JPN"],
            "event": ["attach", "detach"],
            "direction": ["outbound", "outbound"],
        }
    )
    pq.write_table(roaming, tmp_path / "roaming.parquet")
    cases = pa.table(
        {
            "region_code": ["11010", "11020"],
            "date": ["2020-02-01", "2020-02-01"],
            "confirmed": pa.array([12.0, 0.0], pa.float64()),
        }
    )
    pq.write_table(cases, tmp_path / "cases.parquet")
    with Store(tmp_path / "s") as store:
        record = ingest("roaming", [tmp_path / "roaming.parquet"], store, RING).ingested[0]
        assert record.rows_kept == 2 and record.duplicates_removed == 0
        record = ingest("cases", [tmp_path / "cases.parquet"], store, RING).ingested[0]
        assert record.rows_kept == 2, record.quarantined_by_reason
        assert sorted(store.read("cases")["confirmed"].to_pylist()) == [0, 12]


def dt_utc(text: str):
    import datetime as dt

    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_a_failed_part_write_commits_nothing_and_the_file_is_taken_again(tmp_path, monkeypatch):
    """A part that cannot be written (a full disk, say) fails the run, leaves its file
    uningested, and the next run takes the file again."""
    cells = _write(tmp_path / "cells.csv", CELLS)
    events = _write(
        tmp_path / "events.csv",
        "carrier,subscriber_id,ts,cell_id\nSKT,010-1,2020-02-01T01:00:00Z,S1\n"
        "SKT,010-1,2020-02-01T05:00:00Z,S2\n",
    )
    with Store(tmp_path / "s") as store:
        ingest("cells", [cells], store, RING)

        def full_disk(*args, **kwargs) -> None:
            raise OSError("no space left on device")

        monkeypatch.setattr(store, "write_part", full_disk)
        with pytest.raises(OSError, match="no space"):
            ingest("location", [events], store, RING)
        monkeypatch.undo()
        assert store.parts("location") == []
        again = ingest("location", [events], store, RING)
        assert [r.rows_kept for r in again.ingested] == [2]
        assert store.read("location").num_rows == 2


def test_a_second_ingest_of_a_source_is_refused_while_one_runs(tmp_path):
    """Two runs of the same files would race to record them: the second is told at once."""
    from spreadwatch.ingest import ingest
    from spreadwatch.ingest.store import StoreBusy
    from spreadwatch.privacy.pseudonym import KeyRing

    cases = tmp_path / "cases.csv"
    cases.write_text("region_code,date,confirmed\n11010,2020-02-01,3\n")
    with Store(tmp_path / "s") as first, Store(tmp_path / "s") as second:
        with first.writing("cases"):
            with pytest.raises(StoreBusy, match=r"process \d+ is ingesting cases"):
                ingest("cases", [cases], second, KeyRing(b"k" * 32))
            ingest("household_members", [], second, KeyRing(b"k" * 32))  # other sources may
        assert ingest("cases", [cases], second, KeyRing(b"k" * 32)).totals().rows_kept == 1


def test_an_unreadable_file_does_not_block_the_rest_of_a_folder(tmp_path):
    """Every good file is ingested, each unreadable one is named, the exit code is 1, and
    quality.json counts what the manifest holds."""
    from typer.testing import CliRunner

    from spreadwatch.cli import app

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.csv").write_text("region_code,date,confirmed\n11010,2020-02-01,3\n")
    (folder / "b.csv").write_bytes(bytes(range(256)) * 20)  # binary
    (folder / "c.csv").write_text("region_code,date,confirmed\n11010,2020-02-02,4\n")
    key = tmp_path / "key"
    args = ["ingest", "cases", str(folder), "--out", str(tmp_path / "s"), "--key-file", str(key)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "b.csv" in result.output and "1 file(s) not ingested" in result.output
    quality = json.loads((tmp_path / "s" / "quality.json").read_text())
    assert quality["cases"]["rows_in"] == quality["cases"]["rows_kept"] == 2
    with Store(tmp_path / "s") as store:
        assert sorted(Path(r.path).name for r in store.records("cases")) == ["a.csv", "c.csv"]
