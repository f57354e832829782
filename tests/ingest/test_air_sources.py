"""The air-quality sources: stations placed in their districts, hourly readings checked row by
row, values that are not measurements kept as nulls with the reason, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spreadwatch.ingest import SOURCES, Store, ingest
from spreadwatch.ingest.raw import RawFileError
from spreadwatch.privacy.pseudonym import KeyRing

RING = KeyRing(bytes(range(32)))
STATIONS = [
    "station_id,name,lat,lon",
    "ST001,Jongno-1,37.5720,126.9794",  # 2: Seoul Jongno-gu
    "ST002,Busan-1,35.1796,129.0756",  # 3: Busan City Hall, Yeonje-gu
    ",nameless,37.5,127.0",  # 4
    "ST003,at sea,35.0,124.0",  # 5: outside every region
    "ST004,bad lat,x,127.0",  # 6
    "ST001,Jongno-1,37.5720,126.9794",  # 7: a duplicate of line 2
]
READINGS = [
    "station_id,ts,pm25,pm10,flag",
    "ST001,2020-02-01T00:00:00Z,23,41,",  # 2: ok
    "ST001,2020-02-01T01:00:00Z,,38,",  # 3: PM2.5 missing
    "ST001,2020-02-01T02:00:00Z,-3,40,",  # 4: negative
    "ST001,2020-02-01T03:00:00Z,999,999,",  # 5: saturated
    "ST001,2020-02-01T04:00:00Z,30,50,maintenance",  # 6: flagged: values not used
    "ST002,2020-02-01T00:00:00Z,-,-,",  # 7: - is missing, as networks write it
    "ST009,2020-02-01T00:00:00Z,20,30,",  # 8: unknown station
    "ST002,2020-02-01T00:30:00Z,20,30,",  # 9: not on the hour
    "ST002,2020-02-01T02:00:00Z,twenty,30,",  # 10: not a number
    "ST002,2020-02-01T03:00:00Z,20,30,broken",  # 11: unknown flag
    "ST002,1970-01-01T00:00:00Z,20,30,",  # 12: a clock reset
    "ST001,2020-02-01T00:00:00Z,23,41,",  # 13: a duplicate of line 2
    "ST001,2020-02-01T00:00:00Z,25,41,",  # 14: the same hour, another value: a conflict
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def store_with_stations(tmp_path):
    with Store(tmp_path / "store") as store:
        record = ingest("air_stations", [_write(tmp_path / "s.csv", STATIONS)], store, RING)
        yield tmp_path, store, record.ingested[0]


def test_stations_are_placed_in_their_district_and_checked(store_with_stations):
    _, store, record = store_with_stations
    assert (record.rows_kept, record.rows_quarantined, record.duplicates_removed) == (2, 3, 1)
    kept = store.read("air_stations").to_pylist()
    assert {r["station_id"]: r["region_code"] for r in kept} == {"ST001": "11010", "ST002": "21130"}
    reasons = {r["row_number"]: r["reason"] for r in store.read("air_stations", True).to_pylist()}
    assert reasons == {
        4: "blank station_id",
        5: "station lies outside every region",
        6: "expected a latitude in [-90, 90]",
    }


def test_readings_keep_every_row_accounted_for_with_the_reason(store_with_stations):
    tmp_path, store, _ = store_with_stations
    path = _write(tmp_path / "r.csv", READINGS)
    record = ingest("air_readings", [path], store, RING).ingested[0]
    assert record.rows_in == len(READINGS) - 1
    assert (record.rows_kept, record.rows_quarantined, record.duplicates_removed) == (6, 6, 1)
    kept = store.read("air_readings")
    assert kept.schema.equals(SOURCES["air_readings"].schema)
    rows = {(r["station_id"], r["ts"].hour): r for r in kept.to_pylist()}
    assert (rows["ST001", 0]["pm25"], rows["ST001", 0]["pm10"]) == (23.0, 41.0)
    status = {
        k: (r["pm25"], r["pm25_status"], r["pm10"], r["pm10_status"]) for k, r in rows.items()
    }
    assert status["ST001", 1] == (None, "missing", 38.0, "ok")
    assert status["ST001", 2] == (None, "negative", 40.0, "ok")
    assert status["ST001", 3] == (None, "saturated", None, "saturated")
    assert status["ST001", 4] == (None, "flagged", None, "flagged")
    assert rows["ST001", 4]["flag"] == "maintenance"
    assert status["ST002", 0] == (None, "missing", None, "missing")
    reasons = {r["row_number"]: r["reason"] for r in store.read("air_readings", True).to_pylist()}
    assert reasons == {
        8: "unknown station (not in the store's air_stations: ingest them first)",
        9: "expected an hourly reading's time, on the hour (minutes and seconds 0)",
        10: "expected a number of ug/m3 (empty or - when not measured)",
        11: "expected empty or one of maintenance, communication, calibration, power",
        12: "expected a time from 2000-01-01 up to 2100-01-01 (UTC)",
        14: "conflicts with an earlier row with the same station_id, ts",
    }
    again = ingest("air_readings", [path], store, RING)
    assert again.skipped == [path] and not again.ingested  # the same delivery: a no-op
    assert pq.read_table(store.parts("air_readings")[0]).num_rows == 6


def test_readings_need_the_stations_first(tmp_path):
    path = _write(tmp_path / "r.csv", READINGS[:2])
    with Store(tmp_path / "store") as store, pytest.raises(RawFileError, match="air_stations"):
        ingest("air_readings", [path], store, RING)
