"""Alerts on level rises and traveler notices in each platform's form, retained status, voice
answers over MQTT 5."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from paho.mqtt.packettypes import PacketTypes

from spreadwatch import regions
from spreadwatch.alerts import topics
from spreadwatch.alerts.fleet import encode
from spreadwatch.alerts.service import BridgeService
from spreadwatch.ingest import Store
from spreadwatch.risk import traveler_notices
from tests.alerts.clients import Collector, wait_for
from tests.alerts.conftest import KEYRING
from tests.alerts.test_bridge import BridgeProcess


@pytest.fixture
def service(world, broker, tmp_path):
    shutil.copytree(world.store, tmp_path / "store")
    running = BridgeService(
        world.folder, tmp_path / "store", KEYRING, tmp_path / "levels.parquet", 50, 0.05
    )
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop.is_set,))
    thread.start()
    wait_for(lambda: running.bridge.ready, what="the bridge's subscriptions")
    yield running
    stop.set()
    thread.join(10)
    for name in ("alert_state.json", "alert_log.jsonl"):
        (world.folder / name).unlink(missing_ok=True)


def _homes(world) -> pd.DataFrame:
    with Store(world.store) as store:
        return store.read("households").to_pandas()


def _login(world, pseudo: str):
    return next(login for login in world.logins.values() if login.username == pseudo)


def _write_levels(path, rows) -> None:
    frame = pd.DataFrame(rows, columns=["date", "region_code", "level"])
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["explanation"] = "incidence high"
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    tmp.rename(path)


def test_level_rises_reach_the_region_s_homes_in_their_platform_s_form(world, service, tmp_path):
    homes = _homes(world)
    region = Counter(homes["region_code"]).most_common(1)[0][0]
    local = homes[homes["region_code"] == region]
    thinq = local[local["platform"] == "thinq"]["household_pseudo"].iloc[0]
    genie = local[local["platform"] == "gigagenie"]["household_pseudo"].iloc[0]
    elsewhere = homes[homes["region_code"] != region]["household_pseudo"].iloc[0]
    listeners = {}
    for pseudo in (thinq, genie, elsewhere):
        login = _login(world, pseudo)
        listeners[pseudo] = Collector(world.config.host, world.config.port, login.username,
                                      login.password)  # fmt: skip
        listeners[pseudo].subscribe(topics.home(pseudo, topics.ALERTS))
    try:
        levels = tmp_path / "levels.parquet"
        _write_levels(levels, [("2020-02-02", region, 2), ("2020-02-03", region, 3)])
        wait_for(lambda: listeners[genie].messages and listeners[thinq].messages, what="alerts")
        names = regions.load("sigungu").regions.set_index("code")
        appliance = json.loads(listeners[thinq].messages[0].payload)
        speaker = json.loads(listeners[genie].messages[0].payload)
        assert appliance["notification"]["severity"] == "WARNING"
        assert names.loc[region, "name_ko"] in appliance["notification"]["title"]["ko"]
        assert appliance["region"] == {"code": region, "level": 3}
        assert names.loc[region, "name_en"] in speaker["speech"]["en"]
        assert "높음" in speaker["speech"]["ko"] and speaker["level"] == 3
        time.sleep(2.5)  # the same level on a later day is no news; a rise is
        _write_levels(levels, [("2020-02-04", region, 3)])
        time.sleep(2.5)
        assert len(listeners[genie].messages) == 1
        _write_levels(levels, [("2020-02-05", region, 4)])
        wait_for(lambda: len(listeners[genie].messages) == 2, what="the second rise")
        assert json.loads(listeners[genie].messages[1].payload)["level"] == 4
        assert listeners[elsewhere].messages == []
        log_file = world.folder / "alert_log.jsonl"
        wait_for(lambda: len(log_file.read_text().splitlines()) == 2, what="two logged alerts")
        log = [json.loads(line) for line in log_file.open()]
        assert [r["level"] for r in log] == [3, 4]
        assert log[0]["households"] == len(local)
        # a late subscriber gets the region's current status, retained
        late = Collector(world.config.host, world.config.port, _login(world, elsewhere).username,
                         _login(world, elsewhere).password)  # fmt: skip
        late.subscribe(topics.status(region))
        wait_for(lambda: late.messages, what="the retained status")
        status = json.loads(late.messages[0].payload)
        assert (status["level"], status["date"], late.messages[0].retain) == (4, "2020-02-05", True)
        late.close()
    finally:
        for listener in listeners.values():
            listener.close()


def _ask(world, pseudo: str, utterance: str, lang: str) -> dict:
    login = _login(world, pseudo)
    speaker = Collector(world.config.host, world.config.port, login.username, login.password)
    try:
        speaker.subscribe(topics.home(pseudo, topics.VOICE_RESPONSE))
        props = mqtt.Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.home(pseudo, topics.VOICE_RESPONSE)
        props.CorrelationData = b"question-1"
        body = json.dumps({"utterance": utterance, "lang": lang}).encode()
        speaker.publish(topics.home(pseudo, topics.VOICE_REQUEST), body, properties=props)
        wait_for(lambda: speaker.messages, what=f"an answer to {utterance!r}")
        reply = speaker.messages[0]
        assert reply.properties.CorrelationData == b"question-1"
        return json.loads(reply.payload)
    finally:
        speaker.close()


def test_voice_answers_cases_risk_and_appliance_readings(world, service, tmp_path):
    with (world.raw / "cases.csv").open() as fh:
        cases = pd.DataFrame(list(csv.DictReader(fh)))
    cases["confirmed"] = cases["confirmed"].astype(int)
    names = regions.load("sigungu").regions
    unique = names[~names["name_en"].duplicated(keep=False)]
    totals = cases[cases["region_code"].isin(unique["code"])].groupby("region_code")["confirmed"]
    code = totals.sum().idxmax()
    region = unique.set_index("code").loc[code]
    rows = cases[cases["region_code"] == code]
    last = rows["date"].max()
    week = rows[pd.to_datetime(rows["date"]) > pd.Timestamp(last) - pd.Timedelta(days=7)]
    homes = _homes(world)
    thinq = homes[homes["platform"] == "thinq"].iloc[0]
    answer = _ask(world, thinq["household_pseudo"], f"How many cases in {region['name_en']}?", "en")
    assert answer["intent"] == "cases"
    assert answer["data"] == {
        "region_code": code,
        "date": last,
        "confirmed": int(rows.loc[rows["date"] == last, "confirmed"].sum()),
        "last_7_days": int(week["confirmed"].sum()),
    }
    korean = _ask(world, thinq["household_pseudo"], f"{region['name_ko']} 확진자 몇 명이야?", "ko")
    assert korean["data"] == answer["data"] and "명" in korean["text"]

    _write_levels(tmp_path / "levels.parquet", [("2020-02-03", thinq["region_code"], 2)])
    wait_for(lambda: service.context.levels, what="the levels")
    risk = _ask(world, thinq["household_pseudo"], "여기 위험도 어때?", "ko")
    assert risk["intent"] == "risk_level" and risk["data"]["level"] == 2
    assert "보통" in risk["text"]

    login = _login(world, thinq["household_pseudo"])
    home = Collector(world.config.host, world.config.port, login.username, login.password)
    household_id = next(k[1] for k, v in world.logins.items() if v is login)
    reading = {"platform": "thinq", "device_id": "THD-test", "household_id": household_id,
               "ts": "2020-02-03T01:00:00Z", "kind": "pm25", "value": "41.5",
               "consent": "true"}  # fmt: skip
    home.publish(topics.home(login.username, topics.TELEMETRY), encode(reading))
    home.close()
    wait_for(lambda: service.bridge.stream.totals.get("kept"), what="the reading committed")
    purifier = _ask(world, thinq["household_pseudo"], "What does my air purifier read?", "en")
    assert purifier["data"]["value"] == 41.5 and "bad" in purifier["text"]


def _replace(table: pa.Table, path) -> None:
    """Write ``table`` next to ``path`` and rename it into place, as a release would."""
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.rename(path)


def test_bridge_run_sends_a_member_s_traveler_notice_to_its_household_only(world, broker, tmp_path):
    with Store(world.store) as store:
        members = store.read("household_members").to_pandas()
    linked = members.merge(_homes(world), on=["platform", "household_pseudo"])
    traveler = linked[linked["platform"] == "gigagenie"].iloc[0]
    other = linked[linked["platform"] == "thinq"].iloc[0]  # a member who stayed home
    listeners = {}
    for home in (traveler, other):
        login = _login(world, home["household_pseudo"])
        listener = Collector(world.config.host, world.config.port, login.username, login.password)
        listener.subscribe(topics.home(home["household_pseudo"], topics.ALERTS), qos=1)
        listeners[home["household_pseudo"]] = listener
    for name in ("alert_state.json", "alert_log.jsonl"):
        (world.folder / name).unlink(missing_ok=True)
    shutil.copytree(world.store, tmp_path / "store")
    path = tmp_path / "notices.parquet"
    roaming = pd.DataFrame(
        [{"carrier": traveler["carrier"], "subscriber_pseudo": traveler["subscriber_pseudo"],
          "ts": pd.Timestamp("2020-02-02T03:00Z"), "country": "JPN", "event": "attach",
          "direction": "outbound"}]
    )  # fmt: skip
    notices = traveler_notices(roaming, ["JPN", "CHN"], dt.date(2020, 2, 3), 14)
    bridge = BridgeProcess(world, tmp_path / "store", "--notices", str(path))
    try:
        _replace(notices.drop(["country"]), path)  # not a notices table: said, then retried
        bridge.wait_for_line("missing column 'country'")
        assert bridge.process.poll() is None
        _replace(notices, path)
        mine = listeners[traveler["household_pseudo"]]
        wait_for(lambda: mine.messages, what="the traveler notice")
        (message,) = mine.messages
        assert message.qos == 1 and not message.retain
        speaker = json.loads(message.payload)
        assert speaker["type"] == "announce" and speaker["travel"]["country"] == "JPN"
        assert "Japan" in speaker["speech"]["en"] and "일본" in speaker["speech"]["ko"]
        assert "within the last 14 days" in speaker["speech"]["en"]
        time.sleep(0.5)  # sent together with it, if at all: nothing for the other household
        assert len(mine.messages) == 1
        assert listeners[other["household_pseudo"]].messages == []
    finally:
        output = bridge.stop()
        for listener in listeners.values():
            listener.close()
    assert "traveler notices sent 1;" in output, output
    log = (world.folder / "alert_log.jsonl").read_text()
    (record,) = [json.loads(line) for line in log.splitlines()]
    assert record["kind"] == "traveler_notice" and record["date"] == "2020-02-03"
    assert (record["households"], record["notices"]) == (1, 1)
    assert record["region_code"] == traveler["region_code"]
    assert traveler["subscriber_pseudo"] not in log
    for name in ("alert_state.json", "alert_log.jsonl"):
        (world.folder / name).unlink(missing_ok=True)


def test_a_request_nested_thousands_deep_gets_an_error_answer_not_a_crash():
    from spreadwatch.alerts.voice import handler

    deep = ('{"a":' * 2000 + "1" + "}" * 2000).encode()  # json raises RecursionError on it
    topic, body = handler(None)("home-1", deep, None)
    reply = json.loads(body)
    assert topic == topics.home("home-1", topics.VOICE_RESPONSE)
    assert reply["intent"] == "error" and "nested" in reply["text"]


def test_a_fine_dust_rise_reaches_the_region_s_homes_over_the_broker(world, broker, tmp_path):
    shutil.copytree(world.store, tmp_path / "store")
    homes = _homes(world)
    region = Counter(homes["region_code"]).most_common(1)[0][0]
    local = homes[homes["region_code"] == region]
    thinq = local[local["platform"] == "thinq"]["household_pseudo"].iloc[0]
    elsewhere = homes[homes["region_code"] != region]["household_pseudo"].iloc[0]
    air = tmp_path / "air"
    air.mkdir()

    def write_field(hour: int, pm25: float) -> None:
        codes = sorted(set(homes["region_code"]))
        ts = pd.Timestamp("2020-03-02", tz="UTC") + pd.Timedelta(hours=hour)
        table = pa.table(
            {
                "ts": pa.array([ts] * len(codes), pa.timestamp("us", tz="UTC")),
                "region_code": codes,
                "pm25": [pm25 if c == region else 12.0 for c in codes],
            }
        )
        pq.write_table(table, air / "field.tmp")
        (air / "field.tmp").rename(air / "field.parquet")
        (air / "air.json").write_text(json.dumps({"last_hour": str(ts)}))  # written last

    write_field(5, 20.0)
    running = BridgeService(
        world.folder, tmp_path / "store", KEYRING, batch_messages=50, flush_seconds=0.05,
        air_dir=air,
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop.is_set,))
    thread.start()
    listeners = {}
    try:
        wait_for(lambda: running.bridge.ready, what="the bridge's subscriptions")
        for pseudo in (thinq, elsewhere):
            login = _login(world, pseudo)
            listeners[pseudo] = Collector(world.config.host, world.config.port, login.username,
                                          login.password)  # fmt: skip
            listeners[pseudo].subscribe(topics.home(pseudo, topics.ALERTS))
        wait_for(lambda: region in running.context.air, what="the first air statuses")
        assert listeners[thinq].messages == []  # moderate: no alert
        time.sleep(2.5)  # a new modification time for the watcher
        write_field(6, 82.0)
        wait_for(lambda: listeners[thinq].messages, what="the fine-dust alert")
        alert = json.loads(listeners[thinq].messages[0].payload)
        assert alert["notification"]["severity"] == "CRITICAL"
        assert alert["air"] == {"region_code": region, "pm25": 82.0, "grade": 3}
        assert "매우나쁨" in alert["notification"]["title"]["ko"]
        assert listeners[elsewhere].messages == []
        assert _ask(world, thinq, "미세먼지 어때?", "ko")["data"]["grade"] == 3
        late = Collector(world.config.host, world.config.port, _login(world, elsewhere).username,
                         _login(world, elsewhere).password)  # fmt: skip
        late.subscribe(topics.air_status(region))
        wait_for(lambda: late.messages, what="the retained air status")
        assert json.loads(late.messages[0].payload)["grade_name"] == {
            "en": "very bad",
            "ko": "매우나쁨",
        }
        late.close()
    finally:
        stop.set()
        thread.join(10)
        for listener in listeners.values():
            listener.close()
        for name in ("alert_state.json", "alert_log.jsonl"):
            (world.folder / name).unlink(missing_ok=True)
    assert running.air_alerts_sent == len(local)
