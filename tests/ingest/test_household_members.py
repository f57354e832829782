"""The household_members source: checks, row accounting and pseudonyms that link households to
the carriers' subscribers (the same values as the households and roaming sources give)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.commands.ingest import SourceName
from spreadwatch.ingest import SOURCES, Store, ingest
from spreadwatch.privacy.pseudonym import KeyRing, pseudonym

KEY = bytes(range(32))
RING = KeyRing(KEY)
MEMBERS = [
    "platform,household_id,carrier,subscriber_id",
    "thinq,THH-1,SKT,skt:aa01",  # 2
    "thinq,THH-1,KT,450081234567890",  # 3: a second member of the same household
    "gigagenie,GIH-2,SKT,skt:aa02",  # 4
    "thinq,THH-1,SKT,skt:aa01",  # 5: a duplicate of line 2
    "thinq,,SKT,skt:aa03",  # 6
    "thinq,THH-3,SKT,",  # 7
    "9thinq,THH-4,SKT,skt:aa04",  # 8: not a platform name
    "thinq,THH-5,,skt:aa05",  # 9
    "thinq,THH-6,S K T,skt:aa06",  # 10: not a carrier name
    ",THH-7,SKT,skt:aa07",  # 11
    "thinq,THH-8,SKT",  # 12: a field short
]
HOUSEHOLDS = "platform,household_id,region_code,consent\nthinq,THH-1,11010,true\n"
ROAMING = (
    "carrier,subscriber_id,ts,country,event,direction\n"
    "SKT,skt:aa01,2020-02-01T01:00:00Z,JPN,attach,outbound\n"
    "KT,450081234567890,2020-02-02T01:00:00Z,CHN,attach,outbound\n"
)
RAW_IDS = ("THH-", "GIH-", "skt:aa", "450081234567890")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_members_are_checked_accounted_for_and_deduplicated(tmp_path):
    path = _write(tmp_path / "members.csv", "\n".join(MEMBERS) + "\n")
    with Store(tmp_path / "store") as store:
        record = ingest("household_members", [path], store, RING).ingested[0]
        kept = store.read("household_members")
        quarantine = store.read("household_members", quarantine=True).to_pylist()
    assert kept.schema.equals(SOURCES["household_members"].schema)
    assert record.rows_in == len(MEMBERS) - 1 == 11
    assert (record.rows_kept, record.rows_quarantined, record.duplicates_removed) == (3, 7, 1)
    assert record.rows_in == record.rows_kept + record.rows_quarantined + record.duplicates_removed
    assert {r["row_number"]: r["reason"] for r in quarantine} == {
        6: "blank household_id",
        7: "blank subscriber_id",
        8: "expected a platform name like thinq (a letter, then letters, digits or _)",
        9: "blank carrier",
        10: "expected a carrier name like SKT (a letter, then letters, digits or _)",
        11: "blank platform",
        12: "expected 4 fields, found 3",
    }
    assert {r["row_number"]: r["column"] for r in quarantine if r["row_number"] < 12} == {
        6: "household_id",
        7: "subscriber_id",
        8: "platform",
        9: "carrier",
        10: "carrier",
        11: "platform",
    }
    # identifiers in the quarantine are pseudonymised, malformed names withheld
    by_line = {r["row_number"]: json.loads(r["raw_row"] or "null") for r in quarantine}
    assert by_line[8]["household_id"] == pseudonym(KEY, "9thinq", "THH-4")
    assert by_line[8]["platform"] == "(withheld: malformed)"
    assert by_line[6]["subscriber_id"] == pseudonym(KEY, "SKT", "skt:aa03")
    assert by_line[12] is None
    assert sorted(kept.to_pylist(), key=lambda r: (r["platform"], r["carrier"])) == [
        {
            "platform": "gigagenie",
            "household_pseudo": pseudonym(KEY, "gigagenie", "GIH-2"),
            "carrier": "SKT",
            "subscriber_pseudo": pseudonym(KEY, "SKT", "skt:aa02"),
        },
        {
            "platform": "thinq",
            "household_pseudo": pseudonym(KEY, "thinq", "THH-1"),
            "carrier": "KT",
            "subscriber_pseudo": pseudonym(KEY, "KT", "450081234567890"),
        },
        {
            "platform": "thinq",
            "household_pseudo": pseudonym(KEY, "thinq", "THH-1"),
            "carrier": "SKT",
            "subscriber_pseudo": pseudonym(KEY, "SKT", "skt:aa01"),
        },
    ]


def test_member_pseudonyms_equal_the_households_and_roaming_pseudonyms(tmp_path):
    members = _write(tmp_path / "members.csv", "\n".join(MEMBERS[:4]) + "\n")
    with Store(tmp_path / "store") as store:
        ingest("household_members", [members], store, RING)
        ingest("households", [_write(tmp_path / "h.csv", HOUSEHOLDS)], store, RING)
        ingest("roaming", [_write(tmp_path / "r.csv", ROAMING)], store, RING)
        kept = store.read("household_members").to_pylist()
        homes = store.read("households").to_pylist()
        roaming = store.read("roaming").to_pylist()
        again = ingest("household_members", [members], store, RING)
    travellers = {(r["carrier"], r["subscriber_pseudo"]) for r in roaming}
    linked = {(m["carrier"], m["subscriber_pseudo"]) for m in kept}
    assert travellers == {
        ("SKT", pseudonym(KEY, "SKT", "skt:aa01")),
        ("KT", pseudonym(KEY, "KT", "450081234567890")),
    }
    assert travellers <= linked
    assert homes[0]["household_pseudo"] in {m["household_pseudo"] for m in kept}
    assert again.ingested == [] and len(again.skipped) == 1  # the same file is never ingested twice
    for part in (tmp_path / "store").rglob("*.parquet"):
        data = part.read_bytes()
        assert not any(raw.encode() in data for raw in RAW_IDS), part


def test_ingest_command_lists_and_ingests_household_members(tmp_path, monkeypatch):
    assert {s.value for s in SourceName} == set(SOURCES)
    runner = CliRunner()
    monkeypatch.setenv("SPREADWATCH_PSEUDONYM_KEY", KEY.hex())
    monkeypatch.setenv("COLUMNS", "200")
    assert "household_members" in runner.invoke(app, ["ingest", "--help"]).output
    path = _write(tmp_path / "members.csv", "\n".join(MEMBERS) + "\n")
    store = tmp_path / "store"
    result = runner.invoke(app, ["ingest", "household_members", str(path), "--out", str(store)])
    assert result.exit_code == 0, result.output
    assert "rows in 11 = kept 3 + quarantined 7 + duplicates 1" in result.output
    quality = json.loads((store / "quality.json").read_text())["household_members"]
    assert quality["rows_kept"] == pq.read_table(store / "household_members").num_rows == 3


@pytest.mark.parametrize("source", ["household_members", "households"])
def test_untimed_sources_refuse_rotating_pseudonyms(tmp_path, source):
    text = "\n".join(MEMBERS[:2]) + "\n" if source == "household_members" else HOUSEHOLDS
    path = _write(tmp_path / "raw.csv", text)
    with Store(tmp_path / "store") as store, pytest.raises(ValueError, match="without --rotate"):
        ingest(source, [path], store, KeyRing(KEY, "month"))
