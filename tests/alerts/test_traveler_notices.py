"""Traveler notices to households: who gets which notice, once, against a brute-force walk."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter

import pandas as pd
import pyarrow.parquet as pq
import pytest

from spreadwatch.alerts import topics
from spreadwatch.alerts.notify import Alerter, RegionStatus
from spreadwatch.alerts.service import read_notices
from spreadwatch.risk import traveler_notices

NOW = dt.datetime(2020, 2, 14, 1, 0, tzinfo=dt.UTC)
# Country names as CLDR gives them, written out here independently of the code under test.
NAMES = {"JPN": ("Japan", "일본"), "CHN": ("China", "중국"), "ITA": ("Italy", "이탈리아")}
REGIONS = ("11010", "21090", "22020")


class Outbox:
    """A fake connection: every published message, decoded."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict, int, bool]] = []

    def __call__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.messages.append((topic, json.loads(payload), qos, retain))

    def take(self) -> list[tuple[str, dict, int, bool]]:
        taken, self.messages = self.messages, []
        return taken


def _world(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Households (some not in the registry) and members (some in two households)."""
    rng = random.Random(seed)
    homes = [(rng.choice(["thinq", "gigagenie"]), f"h{i:03d}") for i in range(40)]
    registry = pd.DataFrame(
        [(p, h, rng.choice(REGIONS)) for p, h in homes[:32]],  # h032..h039: not registered
        columns=["platform", "household_pseudo", "region_code"],
    )
    subscribers = [(rng.choice(["SKT", "KT"]), f"s{i:03d}") for i in range(50)]
    links = set()
    for platform, home in homes:
        for carrier, sub in rng.sample(subscribers, rng.randint(0, 3)):
            links.add((platform, home, carrier, sub))
    members = pd.DataFrame(
        sorted(links), columns=["platform", "household_pseudo", "carrier", "subscriber_pseudo"]
    )
    return registry, members


def _notices(rng: random.Random, members: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """A random notices table: some members and some strangers, each with one country."""
    subs = sorted(set(zip(members["carrier"], members["subscriber_pseudo"], strict=True)))
    chosen = [*rng.sample(subs, rng.randint(0, 12)), ("SKT", "stranger"), ("KT", "visitor")]
    rows = [
        {
            "carrier": carrier,
            "subscriber_pseudo": sub,
            "direction": "outbound",
            "country": rng.choice(sorted(NAMES)),
            "last_there": pd.Timestamp(as_of, tz="UTC") - pd.Timedelta(days=rng.randint(0, 9)),
            "days_since": 0,
            "as_of": as_of,
        }
        for carrier, sub in chosen
    ]
    return pd.DataFrame(rows)


def _expected(
    notices: pd.DataFrame,
    members: pd.DataFrame,
    registry: pd.DataFrame,
    announced: set[tuple[str, str, str, str, str]],
) -> tuple[set, set, set]:
    """Brute force: the (household, member, country) triples listed now, those to send (new
    and registered) and the households that are listed but not registered."""
    registered = set(zip(registry["platform"], registry["household_pseudo"], strict=True))
    listed = set()
    for n in notices.itertuples():
        for m in members.itertuples():
            if (m.carrier, m.subscriber_pseudo) == (n.carrier, n.subscriber_pseudo):
                listed.add(
                    (m.platform, m.household_pseudo, m.carrier, m.subscriber_pseudo, n.country)
                )
    new = {t for t in listed if t not in announced}
    send = {t for t in new if t[:2] in registered}
    unreachable = {t[:2] for t in new if t[:2] not in registered}
    return listed, send, unreachable


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_listed_member_is_announced_once_to_its_registered_households(tmp_path, seed):
    registry, members = _world(seed)
    rng = random.Random(100 + seed)
    state, log = tmp_path / "alert_state.json", tmp_path / "alert_log.jsonl"
    outbox = Outbox()
    alerter = Alerter(outbox, registry, state, log, members)
    platform_of = dict(zip(registry["household_pseudo"], registry["platform"], strict=True))
    region_of = dict(zip(registry["household_pseudo"], registry["region_code"], strict=True))
    announced: set = set()
    rounds = []
    totals: Counter = Counter()
    for day in range(8):
        as_of = dt.date(2020, 2, 10) + dt.timedelta(days=day)
        notices = _notices(rng, members, as_of)
        if day == 3:  # the same notices again: nothing new
            notices = rounds[-1].assign(as_of=as_of)
        if day == 5:  # no notices at all: every announced one is forgotten
            notices = notices.iloc[:0]
        rounds.append(notices)
        if day == 4:  # the bridge restarts: the state file carries what was announced
            alerter = Alerter(outbox, registry, state, log, members)
            assert alerter.update_notices(rounds[-2], 14, NOW).sent == 0
            assert outbox.take() == []
        listed, send, unreachable = _expected(notices, members, registry, announced)
        report = alerter.update_notices(notices, 14, NOW)
        totals.update(sent=report.sent, unreachable=report.unreachable, forgot=report.forgotten)
        sent = outbox.take()
        assert all(qos == 1 and not retain for _, _, qos, retain in sent)
        got = Counter((topic, _country(payload)) for topic, payload, _, _ in sent)
        assert got == Counter((topics.home(t[1], topics.ALERTS), t[4]) for t in send)
        assert (report.sent, report.households) == (len(send), len({t[1] for t in send}))
        assert report.unreachable == len(unreachable)
        assert report.forgotten == len({t for t in announced if t not in listed})
        for topic, payload, _, _ in sent:  # each household in its platform's form
            home = topics.household_of(topic, topics.ALERTS)
            assert ("msg_id" in payload) == (platform_of[home] == "gigagenie")
        announced = {t for t in announced if t in listed} | send
        records = (
            [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        )
        today = [r for r in records if r["date"] == as_of.isoformat()]
        by_region = Counter(region_of[t[1]] for t in send)
        assert {r["region_code"]: r["notices"] for r in today} == dict(by_region)
        assert all(r["kind"] == "traveler_notice" and r["level"] is None for r in today)
        for r in today:
            homes = {t[1] for t in send if region_of[t[1]] == r["region_code"]}
            assert r["households"] == len(homes)
    assert totals["sent"] > 10 and totals["unreachable"] > 0 and totals["forgot"] > 0
    # neither the log nor the state holds a member's pseudonym
    for path in (state, log):
        text = path.read_text()
        assert not any(s in text for s in members["subscriber_pseudo"]), path


def _country(payload: dict) -> str:
    return payload["travel"]["country"]


def test_a_member_back_from_a_new_trip_is_announced_again(tmp_path):
    registry = pd.DataFrame(
        [("thinq", "h1", "11010")], columns=["platform", "household_pseudo", "region_code"]
    )
    members = pd.DataFrame(
        [("thinq", "h1", "SKT", "s1")],
        columns=["platform", "household_pseudo", "carrier", "subscriber_pseudo"],
    )
    outbox = Outbox()
    alerter = Alerter(outbox, registry, tmp_path / "s.json", tmp_path / "log.jsonl", members)
    trip = pd.DataFrame(
        [{"carrier": "SKT", "subscriber_pseudo": "s1", "country": "JPN",
          "last_there": pd.Timestamp("2020-02-09T20:00Z"), "as_of": dt.date(2020, 2, 10)}]
    )  # fmt: skip
    assert alerter.update_notices(trip, 14, NOW).sent == 1
    assert alerter.update_notices(trip.assign(as_of=dt.date(2020, 2, 11)), 14, NOW).sent == 0
    assert alerter.update_notices(trip.assign(country="CHN"), 14, NOW).sent == 1  # elsewhere now
    assert alerter.update_notices(trip.iloc[:0], 14, NOW).forgotten == 1
    assert alerter.update_notices(trip, 14, NOW).sent == 1  # a later trip to Japan
    assert [_country(p) for _, p, _, _ in outbox.take()] == ["JPN", "CHN", "JPN"]


def test_notices_speak_korean_and_english_in_each_platform_s_form(tmp_path):
    registry = pd.DataFrame(
        [("thinq", "h1", "11010"), ("gigagenie", "h2", "11010")],
        columns=["platform", "household_pseudo", "region_code"],
    )
    members = pd.DataFrame(
        [("thinq", "h1", "SKT", "s1"), ("gigagenie", "h2", "KT", "s2")],
        columns=["platform", "household_pseudo", "carrier", "subscriber_pseudo"],
    )
    outbox = Outbox()
    alerter = Alerter(outbox, registry, tmp_path / "s.json", tmp_path / "log.jsonl", members)
    notices = pd.DataFrame(
        [{"carrier": "SKT", "subscriber_pseudo": "s1", "country": "ITA",
          "last_there": pd.Timestamp("2020-02-09T20:00Z"), "as_of": dt.date(2020, 2, 12)},
         {"carrier": "KT", "subscriber_pseudo": "s2", "country": "JPN",
          "last_there": pd.Timestamp("2020-02-08T03:00Z"), "as_of": dt.date(2020, 2, 12)}]
    )  # fmt: skip
    alerter.update_notices(notices, 21, NOW)
    sent = {topics.household_of(t, topics.ALERTS): p for t, p, _, _ in outbox.take()}
    appliance, speaker = sent["h1"], sent["h2"]
    assert set(appliance) == {"messageId", "timestamp", "notification", "travel"}
    note = appliance["notification"]
    assert (note["category"], note["severity"]) == ("PUBLIC_HEALTH", "WARNING")
    assert appliance["timestamp"] == int(NOW.timestamp() * 1000)
    assert appliance["travel"] == {
        "country": "ITA",
        "country_name": {"ko": "이탈리아", "en": "Italy"},
        "last_there": "2020-02-10",  # 20:00 UTC on the 9th is the 10th in Korea
        "days": 21,
        "as_of": "2020-02-12",
    }
    assert "Italy" in note["title"]["en"] and "이탈리아" in note["title"]["ko"]
    for text in (note["body"]["en"], speaker["speech"]["en"]):
        assert "within the last 21 days" in text and "1339" in text
    assert "Italy" in note["body"]["en"] and "2020-02-10" in note["body"]["en"]
    assert "이탈리아" in note["body"]["ko"] and "21일" in note["body"]["ko"]
    assert "2020년 2월 10일" in note["body"]["ko"] and "1339" in note["body"]["ko"]
    assert set(speaker) == {"msg_id", "event_time", "type", "speech", "display_text", "travel"}
    assert speaker["type"] == "announce" and speaker["event_time"] == "2020-02-14 10:00:00"
    assert "Japan" in speaker["speech"]["en"] and "일본" in speaker["speech"]["ko"]
    assert "일본" in speaker["display_text"]["ko"] and "2월 8일" in speaker["speech"]["ko"]
    assert not any("s1" in json.dumps(p) or "s2" in json.dumps(p) for p in sent.values())


def test_a_version_1_state_file_is_read_and_kept(tmp_path):
    state = tmp_path / "alert_state.json"
    state.write_text(json.dumps({"11010": {"date": "2020-02-10", "level": 3}}))
    registry = pd.DataFrame(
        [("thinq", "h1", "11010")], columns=["platform", "household_pseudo", "region_code"]
    )
    outbox = Outbox()
    alerter = Alerter(outbox, registry, state, tmp_path / "log.jsonl")  # no members table
    status = RegionStatus("11010", "Jongno-gu", "종로구", "2020-02-10", 3, "")
    assert alerter.update({"11010": status}, NOW) == 0 and outbox.take() == []
    notices = pd.DataFrame(columns=["carrier", "subscriber_pseudo", "country", "last_there",
                                    "as_of"])  # fmt: skip
    assert alerter.update_notices(notices, 14, NOW).sent == 0
    saved = json.loads(state.read_text())
    assert saved["regions"] == {"11010": {"date": "2020-02-10", "level": 3}}
    assert saved["version"] == 3 and saved["traveler_notices"] == [] and saved["air"] == {}
    again = Alerter(outbox, registry, state, tmp_path / "log.jsonl")
    assert again.update({"11010": status}, NOW) == 0 and outbox.take() == []


def test_notices_files_are_checked_and_state_their_window(tmp_path):
    roaming = pd.DataFrame(
        [{"carrier": "SKT", "subscriber_pseudo": "s1", "ts": pd.Timestamp("2020-02-05T01:00Z"),
          "country": "JPN", "event": "attach", "direction": "outbound"}]
    )  # fmt: skip
    table = traveler_notices(roaming, ["JPN"], dt.date(2020, 2, 10), 21)
    path = tmp_path / "notices.parquet"
    pq.write_table(table, path)
    frame, days = read_notices(path, None)
    assert days == 21 and frame["subscriber_pseudo"].tolist() == ["s1"]
    assert read_notices(path, 14)[1] == 21  # what the file says wins
    pq.write_table(table.replace_schema_metadata(None), path)
    assert read_notices(path, None)[1] == 14 and read_notices(path, 7)[1] == 7
    pq.write_table(table.drop(["country"]), path)
    with pytest.raises(ValueError, match=r"notices\.parquet .*missing column 'country'"):
        read_notices(path)
    path.write_bytes(b"PAR1 half written")
    with pytest.raises((OSError, ValueError)):
        read_notices(path)


def test_households_and_members_tables_are_checked(tmp_path):
    registry = pd.DataFrame(columns=["platform", "household_pseudo", "region_code"])
    with pytest.raises(ValueError, match="household_members: missing column 'carrier'"):
        Alerter(Outbox(), registry, tmp_path / "s", tmp_path / "l", pd.DataFrame(
            columns=["platform", "household_pseudo", "subscriber_pseudo"]))  # fmt: skip
    alerter = Alerter(Outbox(), registry, tmp_path / "s", tmp_path / "l")
    with pytest.raises(ValueError, match="notices: missing column 'country'"):
        alerter.update_notices(pd.DataFrame(columns=["carrier", "subscriber_pseudo"]), 14)


def test_unreadable_notices_are_logged_once_and_retried(tmp_path, caplog):
    from spreadwatch.alerts.service import WatchedFile

    path = tmp_path / "notices.parquet"
    watched = WatchedFile(path, read_notices, every_s=0.0)
    assert watched.poll() is None  # not there yet
    path.write_bytes(b"PAR1 half written")
    assert watched.poll() is None and watched.poll() is None
    assert sum("not read" in r.message for r in caplog.records) == 1
    assert str(path) in caplog.records[0].message
    roaming = pd.DataFrame(
        [{"carrier": "SKT", "subscriber_pseudo": "s1", "ts": pd.Timestamp("2020-02-05T01:00Z"),
          "country": "JPN", "event": "attach", "direction": "outbound"}]
    )  # fmt: skip
    pq.write_table(traveler_notices(roaming, ["JPN"], dt.date(2020, 2, 10), 14), path)
    frame, days = watched.poll()
    assert len(frame) == 1 and days == 14
    assert watched.poll() is None  # unchanged
