"""Ingest and fusion equal a brute-force pure-Python computation on small messy data."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path

import ibis
import pyarrow as pa
import pytest

from spreadwatch import fusion
from spreadwatch.ingest import FileRecord, Store, ingest
from spreadwatch.ingest.chunks import WITHHELD
from spreadwatch.privacy.pseudonym import KeyRing, pseudonym
from tests.ingest import reference

KEY = bytes(range(32))
# Cells at well-known places in five si-gun-gu.
PLACES = {
    "11020": (37.5663, 126.9779),  # Seoul Jung-gu, city hall
    "11230": (37.5125, 127.0590),  # Gangnam-gu
    "21090": (35.1587, 129.1604),  # Busan Haeundae-gu
    "39010": (33.5104, 126.4914),  # Jeju-si
    "31010": (37.2871, 127.0119),  # Suwon-si
}


def _write_raw(folder: Path, seed: int = 7) -> tuple[Path, list[Path]]:
    rng = random.Random(seed)
    cells = folder / "cells.csv"
    rows = ["carrier,cell_id,lat,lon"]
    for carrier in ("SKT", "KT"):
        for code, (lat, lon) in PLACES.items():
            for n in range(2):
                rows.append(f"{carrier},{carrier}-{code}-{n},{lat + n * 1e-4},{lon}")
    rows += ["KT,KT-sea,35.0,131.5", "KT,KT-bad,north,127", "SKT,SKT-11020-0,37.0,127.0"]
    cells.write_text("\n".join(rows) + "\n")
    files = []
    start = dt.datetime(2020, 2, 1)
    for carrier in ("SKT", "KT"):
        path = folder / f"{carrier}.csv"
        lines = ["carrier,subscriber_id,ts,cell_id"]
        for sub in range(40):
            for _ in range(rng.randint(3, 30)):
                ts = start + dt.timedelta(seconds=rng.randrange(3 * 86400))
                code = rng.choice(list(PLACES))
                lines.append(
                    f"{carrier},{carrier.lower()}-{sub},{ts:%Y-%m-%dT%H:%M:%SZ},"
                    f"{carrier}-{code}-{rng.randrange(2)}"
                )
        lines += [
            lines[5],
            lines[9],  # exact duplicates
            f"{carrier},,2020-02-01T10:00:00Z,{carrier}-11020-0",
            f"{carrier},{carrier}-x,2020-02-30T25:61:00Z,{carrier}-11020-0",
            f"{carrier},{carrier}-x,yesterday,{carrier}-11020-0",
            f"{carrier},{carrier}-x,2020-02-01T10:00:00Z,{carrier}-nowhere",
            f"{carrier},{carrier}-x,2020-02-01T10:00:00Z,KT-sea",
            f"{carrier},too,many,fields,here",
        ]
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    return cells, files


def _cell_regions(cells) -> dict[tuple[str, str], str]:
    """(carrier, cell_id) -> region_code of placed cells."""
    columns = (cells[n].to_pylist() for n in ("carrier", "cell_id", "region_code"))
    return {(c, i): r for c, i, r in zip(*columns, strict=True)}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, list[Path]]:
    return _write_raw(tmp_path_factory.mktemp("raw"))


@dataclass
class Ingested:
    cells: pa.Table
    cell_quarantine: pa.Table
    events: pa.Table
    quarantine: pa.Table
    record: FileRecord


def _ingest(raw: tuple[Path, list[Path]], root: Path, key: bytes) -> Ingested:
    cells_csv, files = raw
    with Store(root) as store:
        ingest("cells", [cells_csv], store, KeyRing(key))
        report = ingest("location", files, store, KeyRing(key))
        return Ingested(
            cells=store.read("cells"),
            cell_quarantine=store.read("cells", quarantine=True),
            events=store.read("location"),
            quarantine=store.read("location", quarantine=True),
            record=report.totals(),
        )


@pytest.fixture(scope="module")
def ingested(raw, tmp_path_factory) -> Ingested:
    return _ingest(raw, tmp_path_factory.mktemp("store"), KEY)


def test_cells_are_placed_by_point_in_polygon_and_bad_ones_quarantined(ingested):
    placed = _cell_regions(ingested.cells)
    assert len(placed) == 20
    assert all(cell_id.split("-")[1] == region for (_, cell_id), region in placed.items())
    quarantine = ingested.cell_quarantine
    reasons = sorted(quarantine["reason"].to_pylist())
    assert reasons == sorted(
        [
            "cell lies outside every region",
            "expected a latitude in [-90, 90]",
            "conflicts with an earlier row with the same carrier, cell_id",
        ]
    )
    assert sorted(quarantine["row_number"].to_pylist()) == [22, 23, 24]


def test_ingest_matches_brute_force_and_accounts_for_every_row(raw, ingested):
    _, files = raw
    cell_region = _cell_regions(ingested.cells)
    expected, reasons, duplicates = reference.reference_events(files, cell_region, KEY)
    events = ingested.events
    got = {
        (c, p, ts.replace(tzinfo=None), r, cell)
        for c, p, ts, r, cell in zip(
            *(
                events[n].to_pylist()
                for n in ("carrier", "subscriber_pseudo", "ts", "region_code", "cell_id")
            ),
            strict=True,
        )
    }
    assert got == expected
    assert events.num_rows == len(expected)
    record = ingested.record
    assert record.duplicates_removed == duplicates == 4
    assert record.rows_kept == events.num_rows
    assert record.balanced()
    by_reason = record.quarantined_by_reason
    assert by_reason["blank subscriber_id"] == 2
    assert by_reason["expected a UTC timestamp like 2020-02-01T08:15:42Z"] == 4
    assert by_reason["unknown cell (not in the valid cells of this carrier)"] == 4
    assert by_reason["expected 4 fields, found 5"] == 2
    assert sum(reasons.values()) == record.rows_quarantined == ingested.quarantine.num_rows


def test_pseudonyms_are_keyed_hmac_and_hide_raw_ids(raw, ingested, tmp_path):
    pseudos = set(ingested.events["subscriber_pseudo"].to_pylist())
    assert pseudonym(KEY, "SKT", "skt-0") in pseudos
    assert not any(p.startswith(("skt-", "kt-")) for p in pseudos)
    other = _ingest(raw, tmp_path, bytes(32))
    assert pseudos.isdisjoint(set(other.events["subscriber_pseudo"].to_pylist()))


def test_quarantine_shows_pseudonyms_never_raw_ids(raw, ingested):
    _, files = raw
    rows = ingested.quarantine.to_pylist()
    raw_ids = {line.split(",")[1] for f in files for line in f.read_text().splitlines()[1:]}
    raw_ids -= {"", "too", "subscriber_id"}
    text = "\n".join(str(r["raw_row"]) for r in rows)
    assert not any(i in text for i in raw_ids)
    bad_times = [
        json.loads(r["raw_row"])
        for r in rows
        if r["reason"].startswith("expected a UTC timestamp")
        and json.loads(r["raw_row"])["subscriber_id"] != ""
    ]
    # the malformed value is withheld (it might be a misplaced ID); the ID is pseudonymised
    assert {(b["carrier"], b["subscriber_id"], b["ts"]) for b in bad_times} == {
        (c, pseudonym(KEY, c, f"{c}-x"), WITHHELD) for c in ("SKT", "KT")
    }
    malformed = [r for r in rows if r["reason"].startswith("expected 4 fields")]
    assert len(malformed) == 2 and all(r["raw_row"] is None for r in malformed)
    assert all(r["row_number"] > 1 and r["source_file"] for r in rows)


@pytest.fixture(scope="module")
def fused(raw, ingested):
    _, files = raw
    fusion.connect()
    events = ibis.memtable(ingested.events)
    expected, _, _ = reference.reference_events(files, _cell_regions(ingested.cells), KEY)
    return events, expected


def test_od_flows_equal_brute_force(fused):
    events, expected = fused
    rows = fusion.od_flows(events, k=1).to_pyarrow().to_pylist()
    got = {(r["date"], r["origin"], r["dest"]): r["trips"] for r in rows}
    assert got == reference.reference_od(expected)
    assert not any(r["suppressed"] for r in rows)


@pytest.mark.parametrize("gap", [1, 12])
def test_presence_equals_brute_force(fused, gap):
    events, expected = fused
    rows = fusion.presence(events, k=1, max_gap_hours=gap).to_pyarrow().to_pylist()
    got = {(r["date"], r["hour"], r["region_code"]): r["people"] for r in rows}
    assert got == reference.reference_presence(expected, gap)


def test_small_cells_are_suppressed(fused):
    events, _ = fused
    plain = fusion.od_flows(events, k=1).to_pandas()
    k = int(plain["trips"].median()) + 1
    frame = fusion.od_flows(events, k=k).to_pandas()
    small = plain["trips"] < k
    assert small.any() and (~small).any()
    assert (frame["suppressed"] == small).all()
    assert (frame.loc[frame["suppressed"], "trips"] == 0).all()
    assert (frame.loc[~small, "trips"] == plain.loc[~small, "trips"]).all()


def test_commuting_equals_brute_force(fused):
    events, expected = fused
    rows = fusion.commuting(events, k=1).to_pyarrow().to_pylist()
    got = {(r["date"], r["home_region"], r["day_region"]): r["people"] for r in rows}
    assert got == reference.reference_commuting(expected)
    assert sum(got.values()) > 50
