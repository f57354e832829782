"""Platform messages: the fleet's encoding decodes back to the raw rows; bad fields named."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from spreadwatch.alerts.fleet import encode, gigagenie_message, thinq_message
from spreadwatch.ingest.platforms import KST, PayloadError, decode

ROWS = [
    {"platform": "thinq", "device_id": "THD-1", "household_id": "THH-1",
     "ts": "2020-03-01T00:00:05Z", "kind": "pm25", "value": "23.4", "consent": "true"},
    {"platform": "thinq", "device_id": "THD-2", "household_id": "THH-1",
     "ts": "2020-03-01T13:00:00Z", "kind": "appliance_on", "value": "1", "consent": "true"},
    {"platform": "gigagenie", "device_id": "GID-7", "household_id": "GIH-3",
     "ts": "2020-02-29T15:00:00Z", "kind": "presence", "value": "0", "consent": "false"},
    {"platform": "gigagenie", "device_id": "GID-8", "household_id": "GIH-3",
     "ts": "2020-03-01T23:59:59Z", "kind": "body_temp", "value": "38.3", "consent": "true"},
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['platform']}-{r['kind']}")
def test_encoded_rows_decode_back(row):
    message = decode(encode(row))
    assert message.platform == row["platform"]
    assert message.household_id == row["household_id"]
    assert message.consent is (row["consent"] == "true")
    (reading,) = message.readings
    assert reading.device_id == row["device_id"]
    assert reading.kind == row["kind"]
    assert reading.value == pytest.approx(float(row["value"]))
    assert reading.ts == datetime.fromisoformat(row["ts"].replace("Z", "+00:00"))


def test_fahrenheit_thermometers_are_converted():
    for device in (f"THD-{i}" for i in range(40)):  # a quarter report in Fahrenheit
        row = {**ROWS[0], "device_id": device, "kind": "body_temp", "value": "37.8"}
        sent = thinq_message(row)["state"]["bodyTemperature"]
        if sent["unit"] == "F":
            assert sent["value"] == pytest.approx(100.04)
            break
    else:
        pytest.fail("no Fahrenheit thermometer among 40 devices")
    assert decode(json.dumps(thinq_message(row)).encode()).readings[0].value == 37.8


def test_gigagenie_time_is_korea_local_time():
    sent = gigagenie_message(ROWS[2])
    assert sent["event_time"] == "2020-03-01 00:00:00"  # 15:00 UTC is midnight in Seoul
    assert decode(json.dumps(sent).encode()).readings[0].ts.astimezone(KST).hour == 0
    assert decode(json.dumps(sent).encode()).readings[0].ts.tzinfo is UTC


def _thinq(**changes) -> dict:
    message = thinq_message(ROWS[0])
    for path, value in changes.items():
        target = message
        *parents, leaf = path.split("__")
        for p in parents:
            target = target[p]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return message


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (b"not json", "(message)"),
        (b"[1, 2]", "(message)"),
        (b'{"hello": 1}', "(message)"),
        (json.dumps(_thinq(homeId=None)).encode(), "homeId"),
        (json.dumps(_thinq(homeId="  ")).encode(), "homeId"),
        (json.dumps(_thinq(timestamp="2020-03-01")).encode(), "timestamp"),
        (json.dumps(_thinq(timestamp=10**16)).encode(), "timestamp"),
        (json.dumps(_thinq(state__pm25="high")).encode(), "state.pm25"),
        (json.dumps(_thinq(state__pm25=-3)).encode(), "state.pm25"),
        (json.dumps(_thinq(state={"filter": "ok"})).encode(), "state"),
        (json.dumps(_thinq(consent__dataSharing="yes")).encode(), "consent.dataSharing"),
        (json.dumps({**gigagenie_message(ROWS[3]), "event_time": "2020-03-01T09:00:00"}).encode(),
         "event_time"),
        (json.dumps({**gigagenie_message(ROWS[3]), "event_time": "2020-02-30 09:00:00"}).encode(),
         "event_time"),
        (json.dumps({**gigagenie_message(ROWS[3]), "payload": {"temp_c": 52}}).encode(),
         "payload.temp_c"),
        (json.dumps({**gigagenie_message(ROWS[3]), "household": {"key": "G", "agree_yn": "y"}})
         .encode(), "household.agree_yn"),
    ],
)  # fmt: skip
def test_malformed_messages_name_the_field(message, field):
    with pytest.raises(PayloadError) as caught:
        decode(message)
    assert caught.value.field == field
    assert caught.value.expected


def test_a_state_with_several_readings_gives_each():
    message = _thinq(state={"pm25": 12.0, "operation": "OFF"}, deviceType="WASHER")
    readings = decode(json.dumps(message).encode()).readings
    assert {(r.kind, r.value) for r in readings} == {("pm25", 12.0), ("appliance_on", 0.0)}


def test_a_purifiers_state_gives_its_air_fan_and_filter():
    state = {"pm25": 8.5, "pm10": 14, "operation": "ON", "fanMode": "HIGH", "filterRemaining": 63}
    message = _thinq(state=state, deviceType="AIR_PURIFIER")
    readings = decode(json.dumps(message).encode()).readings
    assert {(r.kind, r.value) for r in readings} == {
        ("pm25", 8.5),
        ("pm10", 14.0),
        ("purifier_on", 1.0),
        ("fan_mode", 4.0),
        ("filter_life", 63.0),
    }
    for field, value in (("fanMode", "TURBO"), ("filterRemaining", 140), ("pm10", -1)):
        bad = _thinq(state={**state, field: value}, deviceType="AIR_PURIFIER")
        with pytest.raises(PayloadError) as caught:
            decode(json.dumps(bad).encode())
        assert caught.value.field == f"state.{field}"
