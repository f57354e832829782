"""Fine-dust alerts and the voice intent: who hears what, once per rise, in both languages,
from an ``air assess`` folder."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadwatch import regions
from spreadwatch.alerts import topics
from spreadwatch.alerts.air import read_air_statuses, update_air
from spreadwatch.alerts.notify import Alerter
from spreadwatch.alerts.voice import VoiceContext, answer
from tests.alerts.test_traveler_notices import Outbox

NOW = dt.datetime(2020, 3, 2, 1, 0, tzinfo=dt.UTC)
SEOUL, BUSAN, DAEGU = "11010", "21130", "22020"
HOMES = pd.DataFrame(
    [
        ("thinq", "h1", SEOUL),
        ("gigagenie", "h2", SEOUL),
        ("thinq", "h3", BUSAN),
        ("thinq", "h4", DAEGU),
    ],
    columns=["platform", "household_pseudo", "region_code"],
)


def _names() -> pd.DataFrame:
    return regions.load("sigungu").regions[
        ["code", "name_en", "name_ko", "sido_name_en", "sido_name_ko"]
    ]


def _folder(
    tmp_path,
    hour: int,
    pm25: dict[str, float],
    peak: dict[str, float] | None = None,
    origin: pd.Timestamp | None = None,
):
    """An ``air assess`` folder whose latest hour has ``pm25`` by region (an earlier hour too)."""
    folder = tmp_path / "air"
    folder.mkdir(exist_ok=True)
    codes = sorted(pm25)
    ts = [pd.Timestamp("2020-03-02", tz="UTC") + pd.Timedelta(hours=h) for h in (hour - 1, hour)]
    field = pa.table(
        {
            "ts": pa.array(np.repeat(ts, len(codes)), pa.timestamp("us", tz="UTC")),
            "region_code": codes * 2,
            "pm25": [10.0] * len(codes) + [pm25[c] for c in codes],
        }
    )
    pq.write_table(field, folder / "field.parquet")
    if peak is not None:
        rows = [(c, h, peak[c] * (1 - abs(h - 6) / 40)) for c in codes for h in range(1, 25)]
        frame = pd.DataFrame(rows, columns=["region_code", "horizon", "median"])
        frame.insert(0, "origin", ts[1] if origin is None else origin)
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False), folder / "forecast.parquet"
        )
    return folder


def test_a_rise_to_bad_alerts_the_region_s_homes_once_in_their_platform_s_form(tmp_path):
    outbox = Outbox()
    alerter = Alerter(outbox, HOMES, tmp_path / "state.json", tmp_path / "log.jsonl")
    names = _names()
    folder = _folder(
        tmp_path,
        5,
        {SEOUL: 48.0, BUSAN: 20.0, DAEGU: 12.0},
        {SEOUL: 80.0, BUSAN: 25.0, DAEGU: 14.0},
    )
    statuses = read_air_statuses(folder, names)
    assert statuses[SEOUL].grade == 2 and statuses[BUSAN].grade == 1 and statuses[DAEGU].grade == 0
    assert (statuses[SEOUL].peak_pm25, statuses[SEOUL].peak_grade) == (80.0, 3)
    assert statuses[SEOUL].peak_hours_ahead == 6
    assert update_air(alerter, statuses, NOW) == 2  # Seoul's two homes; Busan is moderate
    messages = outbox.take()
    retained = {t: m for t, m, _, r in messages if r}
    assert set(retained) == {topics.air_status(c) for c in (SEOUL, BUSAN, DAEGU)}
    assert retained[topics.air_status(SEOUL)]["grade_name"] == {"en": "bad", "ko": "나쁨"}
    alerts = {t: m for t, m, q, r in messages if not r}
    display = alerts[topics.home("h1", topics.ALERTS)]
    assert display["notification"]["severity"] == "WARNING"
    assert display["notification"]["title"] == {
        "ko": "종로구 초미세먼지 '나쁨'",
        "en": "Fine dust bad in Jongno-gu",
    }
    body = display["notification"]["body"]
    assert "48㎍/㎥" in body["ko"] and "공기청정기를 켜고 창문을 닫아" in body["ko"]
    assert "80㎍/㎥('매우나쁨')" in body["ko"]
    assert "peak at 80 (very bad)" in body["en"]
    assert display["recommend"] == {"purifier": "ON", "fanMode": "AUTO", "windows": "CLOSED"}
    speaker = alerts[topics.home("h2", topics.ALERTS)]
    assert speaker["type"] == "announce" and speaker["speech"] == body
    assert "recommend" not in speaker  # a speaker has no purifier to switch on
    # the same folder again: nothing new
    assert update_air(alerter, read_air_statuses(folder, names), NOW) == 0
    assert outbox.take() == []


def test_worse_is_news_again_and_a_fall_is_remembered_across_restarts(tmp_path):
    outbox = Outbox()
    state, log = tmp_path / "state.json", tmp_path / "log.jsonl"
    names = _names()
    alerter = Alerter(outbox, HOMES, state, log)
    update_air(alerter, read_air_statuses(_folder(tmp_path, 5, {SEOUL: 48.0}), names), NOW)
    outbox.take()
    sent = update_air(alerter, read_air_statuses(_folder(tmp_path, 6, {SEOUL: 90.0}), names), NOW)
    assert sent == 2  # bad -> very bad
    assert {
        m["notification"]["severity"]
        for _, m, _, r in outbox.take()
        if not r and "notification" in m
    } == {"CRITICAL"}
    restarted = Alerter(outbox, HOMES, state, log)  # a restart repeats nothing
    assert (
        update_air(restarted, read_air_statuses(_folder(tmp_path, 6, {SEOUL: 90.0}), names), NOW)
        == 0
    )
    assert (
        update_air(restarted, read_air_statuses(_folder(tmp_path, 7, {SEOUL: 20.0}), names), NOW)
        == 0
    )
    assert (
        update_air(restarted, read_air_statuses(_folder(tmp_path, 8, {SEOUL: 50.0}), names), NOW)
        == 2
    )
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["kind"], r["level"], r["households"]) for r in records] == [
        ("air_grade_rise", 2, 2),
        ("air_grade_rise", 3, 2),
        ("air_grade_rise", 2, 2),
    ]
    assert "h1" not in log.read_text()  # counts only
    saved = json.loads(state.read_text())
    assert saved["version"] == 3 and saved["air"][SEOUL]["grade"] == 2


def test_an_air_folder_that_is_not_one_is_refused_by_name(tmp_path):
    (tmp_path / "air").mkdir()
    pq.write_table(pa.table({"ts": [1], "region": ["x"]}), tmp_path / "air" / "field.parquet")
    with pytest.raises(ValueError, match=r"field\.parquet: missing column 'pm25'"):
        read_air_statuses(tmp_path / "air", _names())


@pytest.mark.parametrize(
    ("utterance", "lang", "expected"),
    [
        ("미세먼지 어때?", "ko", "지금 종로구의 초미세먼지는 48㎍/㎥로 '나쁨'이에요."),
        ("오늘 공기 어때?", "ko", "창문을 닫고 공기청정기를 켜 두시고"),
        ("How is the air today?", "en", "Fine dust in Jongno-gu is bad: PM2.5 48 micrograms"),
        ("how's the dust", "en", "peak around 80 (very bad)"),
    ],
)
def test_the_voice_answers_how_the_air_is_here(tmp_path, utterance, lang, expected):
    names = _names()
    folder = _folder(tmp_path, 5, {SEOUL: 48.0, BUSAN: 20.0}, {SEOUL: 80.0, BUSAN: 22.0})
    context = VoiceContext(
        regions=names,
        household_region={"h1": SEOUL, "h3": BUSAN},
        air=read_air_statuses(folder, names),
    )
    reply = answer(context, "h1", utterance, lang)
    assert reply.intent == "air" and expected in reply.text
    calm = answer(context, "h3", utterance, lang)
    assert calm.data["grade"] == 1 and "창문" not in calm.text and "windows" not in calm.text
    nothing = answer(
        VoiceContext(regions=names, household_region={"h1": SEOUL}), "h1", utterance, lang
    )
    assert nothing.intent == "air" and nothing.data == {"region_code": SEOUL}


def test_the_purifier_question_still_reads_the_purifier():
    context = VoiceContext(
        regions=_names(),
        household_region={"h1": SEOUL},
        latest={("h1", "pm25"): (NOW, 12.0)},
    )
    reply = answer(context, "h1", "공기청정기 수치 알려줘", "ko")
    assert reply.intent == "appliance" and "'좋음'" in reply.text


def test_another_runs_forecast_is_not_read_as_this_hours(tmp_path):
    names = _names()
    stale = pd.Timestamp("2020-03-01T05:00", tz="UTC")
    folder = _folder(tmp_path, 5, {SEOUL: 48.0}, {SEOUL: 80.0}, origin=stale)
    status = read_air_statuses(folder, names)[SEOUL]
    assert status.pm25 == 48.0 and status.peak_pm25 is None
    assert "next_24h" not in status.payload()


def test_a_value_hovering_at_a_boundary_alerts_once(tmp_path):
    outbox = Outbox()
    alerter = Alerter(outbox, HOMES, tmp_path / "state.json", tmp_path / "log.jsonl")
    names = _names()
    sent = [
        update_air(alerter, read_air_statuses(_folder(tmp_path, hour, {SEOUL: value}), names), NOW)
        for hour, value in ((5, 35.3), (6, 34.8), (7, 35.4), (8, 34.9), (9, 29.0), (10, 36.0))
    ]
    assert sent == [2, 0, 0, 0, 0, 2]  # news again only after a clear fall (below 30)
