"""Alerts to households when their region's risk level rises; retained status per region.

Each household receives the alert in its platform's form:

``thinq`` (appliance display)::

    {"messageId", "timestamp": epoch ms, "notification": {"category": "PUBLIC_HEALTH",
     "severity": "INFO|WARNING|CRITICAL", "title": {"ko", "en"}, "body": {"ko", "en"}},
     "region": {"code", "level"}}

``gigagenie`` (smart speaker)::

    {"msg_id", "event_time": "YYYY-MM-DD HH:MM:SS" (Korea time), "type": "announce",
     "speech": {"ko", "en"}, "display_text": {"ko", "en"}, "region_code", "level"}

The status of each region (``sw/status/{region_code}``, retained, readable by every household)
is the latest level with its explanation. What was last announced per region is kept in a state
file, so a restarted bridge does not announce the same rise twice; every published alert is
appended to the alert log (JSON lines).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from spreadwatch.alerts import topics

KST = timezone(timedelta(hours=9))
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


def thinq_alert(status: RegionStatus, now: datetime) -> dict:
    texts = alert_texts(status)
    return {
        "messageId": str(uuid.uuid4()),
        "timestamp": int(now.timestamp() * 1000),
        "notification": {
            "category": "PUBLIC_HEALTH",
            "severity": SEVERITY[status.level],
            "title": texts["title"],
            "body": texts["body"],
        },
        "region": {"code": status.region_code, "level": status.level},
    }


def gigagenie_alert(status: RegionStatus, now: datetime) -> dict:
    texts = alert_texts(status)
    return {
        "msg_id": "GG" + uuid.uuid4().hex[:30],
        "event_time": now.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S"),
        "type": "announce",
        "speech": texts["body"],
        "display_text": texts["title"],
        "region_code": status.region_code,
        "level": status.level,
    }


ALERT_FORMS: dict[str, Callable[[RegionStatus, datetime], dict]] = {
    "thinq": thinq_alert,
    "gigagenie": gigagenie_alert,
}


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


class Alerter:
    """Announces risk-level rises to households and keeps each region's retained status."""

    def __init__(
        self,
        publish: Publish,
        households: pd.DataFrame,
        state_file: Path,
        alert_log: Path,
    ) -> None:
        missing = {"platform", "household_pseudo", "region_code"} - set(households.columns)
        if missing:
            raise ValueError(f"households: missing columns {', '.join(sorted(missing))}")
        self.publish = publish
        self.homes = {
            code: list(group.itertuples(index=False))
            for code, group in households.groupby("region_code")
        }
        self.state_file = state_file
        self.alert_log = alert_log
        self.announced: dict[str, dict] = (
            json.loads(state_file.read_text()) if state_file.exists() else {}
        )

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
        self._save_state()
        return sent

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
        self.publish(topics.status(status.region_code), _json(payload), 1, True)

    def _alert(self, status: RegionStatus, now: datetime) -> int:
        homes = self.homes.get(status.region_code, [])
        for home in homes:
            form = ALERT_FORMS.get(home.platform, thinq_alert)
            self.publish(
                topics.home(home.household_pseudo, topics.ALERTS),
                _json(form(status, now)),
                1,
                False,
            )
        self._log(status, len(homes), now)
        return len(homes)

    def _log(self, status: RegionStatus, households: int, now: datetime) -> None:
        record = {
            "sent_at": now.isoformat(timespec="seconds"),
            "kind": "risk_level_rise",
            "region_code": status.region_code,
            "date": status.date,
            "level": status.level,
            "households": households,
        }
        self.alert_log.parent.mkdir(parents=True, exist_ok=True)
        with self.alert_log.open("a") as fh:
            fh.write(json.dumps(record, ensure_ascii=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _save_state(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.announced, indent=1, sort_keys=True))
        os.replace(tmp, self.state_file)


def _json(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
