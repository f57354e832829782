"""Alerts to households: risk-level rises of their region, and traveler notices of their
members; retained status per region.

Each household receives an alert in its platform's form:

``thinq`` (appliance display)::

    {"messageId", "timestamp": epoch ms, "notification": {"category": "PUBLIC_HEALTH",
     "severity": "INFO|WARNING|CRITICAL", "title": {"ko", "en"}, "body": {"ko", "en"}},
     "region": {"code", "level"}}

``gigagenie`` (smart speaker)::

    {"msg_id", "event_time": "YYYY-MM-DD HH:MM:SS" (Korea time), "type": "announce",
     "speech": {"ko", "en"}, "display_text": {"ko", "en"}, "region_code", "level"}

A traveler notice has the same envelope with ``"travel": {"country", "country_name": {"ko",
"en"}, "last_there", "days", "as_of"}`` in place of the region fields: a member of the household
(a mobile subscription registered with its platform account, the ``household_members`` table)
was in a listed country within the last ``days`` days (``spreadwatch notices``). It names
neither the member nor any pseudonym.

The status of each region (``sw/status/{region_code}``, retained, readable by every household)
is the latest level with its explanation. What was announced (the last level per region, and a
digest of each (household, member, country) notice still listed) is kept in a state file, so a
restarted bridge does not announce the same rise or notice twice; every published alert is
appended to the alert log (JSON lines, counts only).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import iso3166
import pandas as pd
from babel import Locale

from spreadwatch import durable
from spreadwatch.alerts import topics
from spreadwatch.kst import KST

LEVEL_NAMES = {
    1: ("low", "낮음"),
    2: ("moderate", "보통"),
    3: ("high", "높음"),
    4: ("very high", "매우 높음"),
}
SEVERITY = {1: "INFO", 2: "INFO", 3: "WARNING", 4: "CRITICAL"}
#: The national epidemic hotline announced in every alert.
HOTLINE = "1339"

Publish = Callable[[str, bytes, int, bool], object]
"""``(topic, payload, qos, retain)``: how alerts leave (the bridge's connection)."""


@dataclass(frozen=True)
class RegionStatus:
    region_code: str
    name_en: str
    name_ko: str
    date: str
    level: int
    explanation: str


def alert_texts(status: RegionStatus) -> dict[str, dict[str, str]]:
    """Title, body and speech of a risk-level rise, in Korean and English."""
    en, ko = LEVEL_NAMES[status.level]
    advice_en = f"Limit outings and gatherings; with fever or cough, call {HOTLINE}."
    advice_ko = f"외출과 모임을 자제하고, 발열이나 기침이 있으면 {HOTLINE}에 문의하세요."
    return {
        "title": {
            "en": f"Risk level {status.level} ({en}) in {status.name_en}",
            "ko": f"{status.name_ko} 위험도 {status.level}단계({ko})",
        },
        "body": {
            "en": f"The epidemic risk level in {status.name_en} rose to {en}. {advice_en}",
            "ko": f"{status.name_ko}의 감염병 위험도가 '{ko}'(으)로 올라갔습니다. {advice_ko}",
        },
    }


@dataclass(frozen=True)
class Announcement:
    """What an alert says, before its platform's form: texts, severity and the fields each
    platform's message carries about its subject."""

    title: dict[str, str]
    body: dict[str, str]
    severity: str
    thinq: dict
    gigagenie: dict


def thinq_form(message: Announcement, now: datetime) -> dict:
    """The appliance display's alert JSON."""
    return {
        "messageId": str(uuid.uuid4()),
        "timestamp": int(now.timestamp() * 1000),
        "notification": {
            "category": "PUBLIC_HEALTH",
            "severity": message.severity,
            "title": message.title,
            "body": message.body,
        },
        **message.thinq,
    }


def gigagenie_form(message: Announcement, now: datetime) -> dict:
    """The smart speaker's announcement JSON."""
    return {
        "msg_id": "GG" + uuid.uuid4().hex[:30],
        "event_time": now.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S"),
        "type": "announce",
        "speech": message.body,
        "display_text": message.title,
        **message.gigagenie,
    }


PLATFORM_FORMS: dict[str, Callable[[Announcement, datetime], dict]] = {
    "thinq": thinq_form,
    "gigagenie": gigagenie_form,
}


def render(message: Announcement, platform: str, now: datetime) -> bytes:
    """``message`` in the form of ``platform`` (an unknown platform gets the display form)."""
    return to_json(PLATFORM_FORMS.get(platform, thinq_form)(message, now))


def rise_announcement(status: RegionStatus) -> Announcement:
    """The alert of a risk-level rise."""
    texts = alert_texts(status)
    return Announcement(
        title=texts["title"],
        body=texts["body"],
        severity=SEVERITY[status.level],
        thinq={"region": {"code": status.region_code, "level": status.level}},
        gigagenie={"region_code": status.region_code, "level": status.level},
    )


@lru_cache(maxsize=512)
def country_names(alpha3: str) -> tuple[str, str]:
    """``(English, Korean)`` name of an ISO 3166 alpha-3 country (CLDR, via Babel); the code
    itself for a code CLDR does not name."""
    country = iso3166.countries_by_alpha3.get(alpha3.upper())
    if country is None:
        return alpha3, alpha3
    en = Locale("en").territories.get(country.alpha2, country.name)
    ko = Locale("ko").territories.get(country.alpha2, en)
    return en, ko


@dataclass(frozen=True)
class TravelerNotice:
    """One notice as a household hears it: where a member was and when last (KST date)."""

    country: str
    last_there: date
    days: int
    as_of: date


def notice_texts(notice: TravelerNotice) -> dict[str, dict[str, str]]:
    """Title and body of a traveler notice, in Korean and English."""
    en, ko = country_names(notice.country)
    day = notice.last_there
    return {
        "title": {"en": f"Traveler notice: {en}", "ko": f"해외 방문 알림: {ko}"},
        "body": {
            "en": f"A member of your household was in {en} within the last {notice.days} days "
            f"(last there on {day.isoformat()}). Watch for fever or cough, and call {HOTLINE} "
            "before visiting a clinic.",
            "ko": f"가족 중 한 분이 최근 {notice.days}일 이내에 {ko}에 머물렀습니다(마지막 체류일 "
            f"{day.year}년 {day.month}월 {day.day}일). 발열이나 기침이 있는지 살피고, 병원에 가기 "
            f"전에 {HOTLINE}에 먼저 전화하세요.",
        },
    }


def notice_announcement(notice: TravelerNotice) -> Announcement:
    """The alert of a traveler notice (no region, no member: only the country and dates)."""
    texts = notice_texts(notice)
    en, ko = country_names(notice.country)
    travel = {
        "country": notice.country,
        "country_name": {"ko": ko, "en": en},
        "last_there": notice.last_there.isoformat(),
        "days": notice.days,
        "as_of": notice.as_of.isoformat(),
    }
    return Announcement(
        title=texts["title"],
        body=texts["body"],
        severity="WARNING",
        thinq={"travel": travel},
        gigagenie={"travel": travel},
    )


def latest_levels(levels: pd.DataFrame, names: pd.DataFrame) -> dict[str, RegionStatus]:
    """The latest level of each region in a ``spreadwatch risk`` table."""
    missing = {"date", "region_code", "level"} - set(levels.columns)
    if missing:
        raise ValueError(f"risk levels: missing columns {', '.join(sorted(missing))}")
    latest = levels.sort_values("date").groupby("region_code", as_index=False).tail(1)
    by_code = names.set_index("code")
    out = {}
    for row in latest.itertuples(index=False):
        code = str(row.region_code)
        name_en = by_code["name_en"].get(code, code)
        name_ko = by_code["name_ko"].get(code, code)
        out[code] = RegionStatus(
            code,
            str(name_en),
            str(name_ko),
            str(pd.Timestamp(row.date).date()),
            int(row.level),
            str(getattr(row, "explanation", "")),
        )
    return out


#: Columns a households table needs for alerts, and a members table for notices.
HOUSEHOLD_COLUMNS = ("platform", "household_pseudo", "region_code")
MEMBER_COLUMNS = ("platform", "household_pseudo", "carrier", "subscriber_pseudo")
#: Columns of a notices table (``spreadwatch notices``) the alerter reads.
NOTICE_COLUMNS = ("carrier", "subscriber_pseudo", "country", "last_there", "as_of")
#: Format of the state file: 1 was the region levels alone, at the top level; 2 added the
#: traveler notices, 3 the regions' fine-dust grades.
STATE_VERSION = 3


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """ValueError naming ``what`` and the first of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column {missing[0]!r}")


@dataclass
class NoticeReport:
    """What one :meth:`Alerter.update_notices` did."""

    sent: int = 0
    """Notices published (one per household, member and country not announced yet)."""
    households: int = 0
    """Households they reached."""
    unreachable: int = 0
    """Households with a member in the notices that are not in the households table (no
    platform or region known): they get nothing."""
    forgotten: int = 0
    """Announced notices no longer listed: a later trip is announced again."""


class Alerter:
    """Announces risk-level rises and traveler notices to households and keeps each region's
    retained status."""

    def __init__(
        self,
        publish: Publish,
        households: pd.DataFrame,
        state_file: Path,
        alert_log: Path,
        members: pd.DataFrame | None = None,
    ) -> None:
        require_columns(households, HOUSEHOLD_COLUMNS, "households")
        if members is None:
            members = pd.DataFrame(columns=list(MEMBER_COLUMNS))
        require_columns(members, MEMBER_COLUMNS, "household_members")
        self.publish = publish
        self.homes = {
            code: list(group.itertuples(index=False))
            for code, group in households.groupby("region_code")
        }
        self.registry = {
            (home.platform, home.household_pseudo): home
            for home in households.itertuples(index=False)
        }
        self.members = members[list(MEMBER_COLUMNS)].drop_duplicates()
        self.state_file = state_file
        self.alert_log = alert_log
        self.announced, self.noticed, self.air_announced = read_state(state_file)

    def update(self, statuses: dict[str, RegionStatus], now: datetime | None = None) -> int:
        """Publish changed statuses (retained) and alerts for rises; returns alerts sent."""
        now = now or datetime.now(UTC)
        sent = 0
        for code, status in sorted(statuses.items()):
            before = self.announced.get(code)
            if before == {"date": status.date, "level": status.level}:
                continue
            self._publish_status(status)
            if status.level > (before["level"] if before else 1):  # a rise (or news above low)
                sent += self._alert(status, now)
            self.announced[code] = {"date": status.date, "level": status.level}
        self.save_state()
        return sent

    def update_notices(
        self, notices: pd.DataFrame, days: int, now: datetime | None = None
    ) -> NoticeReport:
        """Send each (household, member, country) of ``notices`` (a ``spreadwatch notices``
        table of the last ``days`` days) not announced yet to the member's households; forget
        those no longer listed. The log gets one record per region with its counts."""
        require_columns(notices, NOTICE_COLUMNS, "notices")
        now = now or datetime.now(UTC)
        listed = notices[list(NOTICE_COLUMNS)].merge(
            self.members, on=["carrier", "subscriber_pseudo"]
        )
        keys = [
            notice_key(*row) for row in listed[[*MEMBER_COLUMNS, "country"]].itertuples(index=False)
        ]
        listed = listed.assign(notice_key=keys).drop_duplicates("notice_key")
        report = NoticeReport(forgotten=len(self.noticed - set(keys)))
        self.noticed &= set(keys)
        fresh = listed[~listed["notice_key"].isin(self.noticed)]
        unreachable: set[tuple[str, str]] = set()
        reached: dict[tuple[str, str], set[str]] = {}
        sent: dict[tuple[str, str], int] = {}
        for row in fresh.itertuples(index=False):
            home = self.registry.get((row.platform, row.household_pseudo))
            if home is None:
                unreachable.add((row.platform, row.household_pseudo))
                continue
            notice = TravelerNotice(
                country=str(row.country),
                last_there=_kst_date(row.last_there),
                days=days,
                as_of=pd.Timestamp(row.as_of).date(),
            )
            self.publish(
                topics.home(home.household_pseudo, topics.ALERTS),
                render(notice_announcement(notice), home.platform, now),
                1,
                False,
            )
            self.noticed.add(row.notice_key)
            group = (str(home.region_code), notice.as_of.isoformat())
            reached.setdefault(group, set()).add(home.household_pseudo)
            sent[group] = sent.get(group, 0) + 1
        for (region, as_of), homes in sorted(reached.items()):
            self.log(
                "traveler_notice", region, as_of, None, len(homes), now, notices=sent[region, as_of]
            )
        report.sent = sum(sent.values())
        report.households = len(set().union(*reached.values()))
        report.unreachable = len(unreachable)
        self.save_state()
        return report

    def _publish_status(self, status: RegionStatus) -> None:
        en, ko = LEVEL_NAMES[status.level]
        payload = {
            "region_code": status.region_code,
            "name": {"en": status.name_en, "ko": status.name_ko},
            "date": status.date,
            "level": status.level,
            "level_name": {"en": en, "ko": ko},
            "explanation": status.explanation,
        }
        self.publish(topics.status(status.region_code), to_json(payload), 1, True)

    def _alert(self, status: RegionStatus, now: datetime) -> int:
        reached = self.alert_region(status.region_code, rise_announcement(status), now)
        self.log("risk_level_rise", status.region_code, status.date, status.level, reached, now)
        return reached

    def alert_region(self, region_code: str, message: Announcement, now: datetime) -> int:
        """Publish ``message`` to every household of a region; returns how many."""
        homes = self.homes.get(region_code, [])
        for home in homes:
            self.publish(
                topics.home(home.household_pseudo, topics.ALERTS),
                render(message, home.platform, now),
                1,
                False,
            )
        return len(homes)

    def log(
        self,
        kind: str,
        region_code: str,
        day: str,
        level: int | None,
        households: int,
        now: datetime,
        **counts: int,
    ) -> None:
        """Append one record to the alert log (counts only: no household or member)."""
        record = {
            "sent_at": now.isoformat(timespec="seconds"),
            "kind": kind,
            "region_code": region_code,
            "date": day,
            "level": level,
            "households": households,
            **counts,
        }
        self.alert_log.parent.mkdir(parents=True, exist_ok=True)
        with self.alert_log.open("a") as fh:
            fh.write(json.dumps(record, ensure_ascii=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def save_state(self) -> None:
        """Write what was announced (durably: a restarted bridge repeats nothing)."""
        state = {
            "version": STATE_VERSION,
            "regions": self.announced,
            "traveler_notices": sorted(self.noticed),
            "air": self.air_announced,
        }
        durable.write_text(self.state_file, json.dumps(state, indent=1, sort_keys=True))


def notice_key(platform: str, household: str, carrier: str, subscriber: str, country: str) -> str:
    """What the state keeps of an announced notice: a digest of its household, member and
    country (the state file holds no subscriber pseudonym)."""
    text = "\x1f".join((platform, household, carrier, subscriber, country))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_state(path: Path) -> tuple[dict[str, dict], set[str], dict[str, dict]]:
    """The last level announced per region, the notice digests and the last air status per
    region of a state file (none when it does not exist); a version 1 file holds the region
    levels alone, a version 2 no air."""
    if not path.exists():
        return {}, set(), {}
    data = json.loads(path.read_text())
    if "version" not in data:  # version 1: {region_code: {"date", "level"}}
        return data, set(), {}
    return dict(data["regions"]), set(data["traveler_notices"]), dict(data.get("air", {}))


def _kst_date(ts: object) -> date:
    """The Korea date of a time (naive times are UTC)."""
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(KST).date()


def to_json(payload: dict) -> bytes:
    """A message body as compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
