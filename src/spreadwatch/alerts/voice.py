"""Voice intents of the smart speaker, answered in Korean or English.

A request (MQTT 5, on ``sw/home/{household}/voice/request``, with a response topic and
correlation data) carries the speaker's transcript::

    {"utterance": "how many cases in Suwon?", "lang": "en"}

Intents, recognised by keywords of either language:

- ``risk_level``: "what is the risk level here?" / "여기 위험도 어때?" -> the household's region
- ``cases``: "how many cases in Suwon?" / "수원 확진자 몇 명이야?" -> the latest day and last 7
- ``appliance``: "what does my air purifier read?" / "공기청정기 수치 알려줘" (also the
  thermometer) -> the household's latest reading
- ``air``: "how is the air today?" / "미세먼지 어때?" -> the region's fine dust now (PM2.5 and
  its Korean grade) and the next 24 hours' peak, with advice when it is bad

The answer (on the household's own ``voice/response`` topic, whatever the request asked for)::

    {"intent": "cases", "lang": "en", "text": "...", "data": {...}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from spreadwatch.air.grades import GRADES_EN, GRADES_KO, grade
from spreadwatch.alerts import topics
from spreadwatch.alerts.air import ALERT_GRADE, AirStatus
from spreadwatch.alerts.notify import LEVEL_NAMES, RegionStatus

LANGS = ("ko", "en")
_RISK = re.compile(r"risk|danger|safe|위험|안전|단계", re.IGNORECASE)
_CASES = re.compile(r"cases?|infect|confirmed|확진|환자|감염", re.IGNORECASE)
_PURIFIER = re.compile(r"air ?purifier|청정기", re.I)
_AIR = re.compile(r"\bair\b|dust|pm ?2\.?5|pm ?10|공기|미세먼지|황사", re.I)
_THERMOMETER = re.compile(r"thermometer|temperature|fever|체온|온도계|열", re.IGNORECASE)
_SUFFIX_EN = re.compile(r"-(si|gun|gu)$")
_SUFFIX_KO = re.compile(r"(시|군|구)$")


@dataclass
class VoiceContext:
    """What answers draw on: regions, households, latest levels, cases and readings."""

    regions: pd.DataFrame  # code, name_en, name_ko, sido_name_en, sido_name_ko
    household_region: dict[str, str] = field(default_factory=dict)
    levels: dict[str, RegionStatus] = field(default_factory=dict)
    cases: pd.DataFrame | None = None  # region_code, date, confirmed
    #: ``(household, kind) -> (time, value)`` of the latest readings
    latest: dict[tuple[str, str], tuple[datetime, float]] = field(default_factory=dict)
    #: each region's fine dust (``spreadwatch air assess``)
    air: dict[str, AirStatus] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    intent: str
    lang: str
    text: str
    data: dict

    def payload(self) -> bytes:
        body = {"intent": self.intent, "lang": self.lang, "text": self.text, "data": self.data}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def parse_request(payload: bytes) -> tuple[str, str]:
    """``(utterance, lang)`` of a request, or ValueError naming the field."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("(request): expected UTF-8 JSON") from None
    except RecursionError:  # nested deeper than any real request
        raise ValueError("(request): expected JSON nested a few levels, not thousands") from None
    if not isinstance(data, dict):
        raise ValueError("(request): expected a JSON object")
    utterance = data.get("utterance")
    if not isinstance(utterance, str) or not utterance.strip():
        raise ValueError("utterance: expected a non-blank string")
    lang = data.get("lang", "ko")
    if lang not in LANGS:
        raise ValueError("lang: expected ko or en")
    return utterance.strip(), lang


def answer(context: VoiceContext, household: str, utterance: str, lang: str) -> Answer:
    """The answer to one utterance of a household's speaker."""
    if _PURIFIER.search(utterance):
        return _reading(context, household, "pm25", lang)
    if _AIR.search(utterance):
        return _air(context, household, lang)
    if _THERMOMETER.search(utterance) and not _CASES.search(utterance):
        return _reading(context, household, "body_temp", lang)
    if _CASES.search(utterance):
        return _cases(context, utterance, lang)
    if _RISK.search(utterance):
        return _risk(context, household, lang)
    text = {
        "en": "I can tell you the risk level here, the cases in a city, the fine dust, "
        "or what your air purifier or thermometer reads.",
        "ko": "이 지역 위험도, 도시별 확진자 수, 미세먼지, 공기청정기나 체온계 수치를 알려드릴 수 "
        "있어요.",
    }
    return Answer("unknown", lang, text[lang], {})


def _not_yet(intent: str, lang: str, code: str | None, what_en: str, what_ko: str) -> Answer:
    """The answer when the household's area has no figures of the kind asked for yet."""
    text = {
        "en": f"I have no {what_en} for your area yet.",
        "ko": f"아직 이 지역의 {what_ko} 정보가 없어요.",
    }
    return Answer(intent, lang, text[lang], {"region_code": code})


def _risk(context: VoiceContext, household: str, lang: str) -> Answer:
    code = context.household_region.get(household)
    status = context.levels.get(code) if code else None
    if status is None:
        return _not_yet("risk_level", lang, code, "risk level", "위험도")
    en, ko = LEVEL_NAMES[status.level]
    text = {
        "en": f"The risk level in {status.name_en} is {status.level} ({en}) as of {status.date}.",
        "ko": f"{status.date} 기준 {status.name_ko}의 위험도는 {status.level}단계({ko})예요.",
    }
    data = {"region_code": code, "level": status.level, "date": status.date}
    return Answer("risk_level", lang, text[lang], data)


def _air(context: VoiceContext, household: str, lang: str) -> Answer:
    code = context.household_region.get(household)
    status = context.air.get(code) if code else None
    if status is None:
        return _not_yet("air", lang, code, "fine-dust figures", "미세먼지")
    en, ko = GRADES_EN[status.grade], GRADES_KO[status.grade]
    text = {
        "en": f"Fine dust in {status.name_en} is {en}: PM2.5 {status.pm25:.0f} micrograms "
        "per cubic metre.",
        "ko": f"지금 {status.name_ko}의 초미세먼지는 {status.pm25:.0f}㎍/㎥로 '{ko}'이에요.",
    }
    data = {"region_code": code, "ts": status.ts, "pm25": status.pm25, "grade": status.grade}
    if status.peak_pm25 is not None and status.peak_grade is not None:
        peak_en, peak_ko = GRADES_EN[status.peak_grade], GRADES_KO[status.peak_grade]
        text["en"] += (
            f" Over the next day it should peak around {status.peak_pm25:.0f} ({peak_en})."
        )
        text["ko"] += f" 내일까지 가장 높을 때는 {status.peak_pm25:.0f}㎍/㎥('{peak_ko}') 정도예요."
        data["peak_pm25"], data["peak_grade"] = status.peak_pm25, status.peak_grade
    if max(status.grade, status.peak_grade or 0) >= ALERT_GRADE:
        text["en"] += " Keep the windows closed, run your air purifier and wear a mask outside."
        text["ko"] += " 창문을 닫고 공기청정기를 켜 두시고, 외출할 때는 마스크를 쓰세요."
    return Answer("air", lang, text[lang], data)


def find_regions(regions: pd.DataFrame, utterance: str) -> pd.DataFrame:
    """Regions named in ``utterance`` (English or Korean, with or without -si/-gun/-gu);
    a province named too narrows the choice."""
    lowered = utterance.lower()

    def named(row: pd.Series) -> bool:
        en = str(row["name_en"]).lower()
        ko = str(row["name_ko"])
        stems = {en, _SUFFIX_EN.sub("", en), ko, _SUFFIX_KO.sub("", ko) if len(ko) > 2 else ko}
        return any(len(s) >= 2 and s in lowered for s in stems)

    found = regions[regions.apply(named, axis=1)]
    if len(found) > 1:
        sido = found[
            found.apply(
                lambda r: (
                    str(r["sido_name_en"]).lower().split("-")[0] in lowered
                    or str(r["sido_name_ko"])[:2] in utterance
                ),
                axis=1,
            )
        ]
        found = sido if len(sido) else found
    return found


def _cases(context: VoiceContext, utterance: str, lang: str) -> Answer:
    found = find_regions(context.regions, utterance)
    if found.empty:
        text = {"en": "Which city do you mean?", "ko": "어느 도시를 말씀하시는지 알려주세요."}
        return Answer("cases", lang, text[lang], {})
    if len(found) > 1:
        names = ", ".join(found["name_en" if lang == "en" else "name_ko"].head(5))
        text = {
            "en": f"Several places have that name: {names}. Please name the province too.",
            "ko": f"같은 이름의 지역이 여럿이에요: {names}. 시도도 함께 말씀해 주세요.",
        }
        return Answer("cases", lang, text[lang], {"candidates": found["code"].tolist()})
    region = found.iloc[0]
    cases = context.cases
    rows = cases[cases["region_code"] == region["code"]] if cases is not None else None
    if rows is None or rows.empty:
        text = {
            "en": f"I have no case reports for {region['name_en']}.",
            "ko": f"{region['name_ko']}의 확진자 보고가 없어요.",
        }
        return Answer("cases", lang, text[lang], {"region_code": region["code"]})
    dates = pd.to_datetime(rows["date"])
    last = dates.max()
    day = int(rows.loc[dates == last, "confirmed"].sum())
    week = int(rows.loc[dates > last - pd.Timedelta(days=7), "confirmed"].sum())
    when = str(last.date())
    text = {
        "en": f"{region['name_en']} reported {day} confirmed cases on {when}, "
        f"{week} in the last 7 days.",
        "ko": f"{region['name_ko']}에서 {when}에 {day}명, 최근 7일간 {week}명이 확진됐어요.",
    }
    data = {"region_code": region["code"], "date": when, "confirmed": day, "last_7_days": week}
    return Answer("cases", lang, text[lang], data)


_READING_NAMES = {
    "pm25": ("air purifier", "공기청정기"),
    "body_temp": ("thermometer", "체온계"),
}


def _reading(context: VoiceContext, household: str, kind: str, lang: str) -> Answer:
    en, ko = _READING_NAMES[kind]
    latest = context.latest.get((household, kind))
    if latest is None:
        text = {"en": f"I have no reading from your {en} yet.", "ko": f"아직 {ko} 기록이 없어요."}
        return Answer("appliance", lang, text[lang], {"kind": kind})
    ts, value = latest
    if kind == "pm25":
        index = int(grade(value))
        grade_en, grade_ko = GRADES_EN[index], GRADES_KO[index]
        text = {
            "en": f"Your {en} reads PM2.5 {value:g} micrograms per cubic metre ({grade_en}).",
            "ko": f"{ko} 초미세먼지 수치는 {value:g}㎍/㎥로 '{grade_ko}'이에요.",
        }
    else:
        text = {
            "en": f"Your {en} last read {value:.1f} degrees Celsius.",
            "ko": f"{ko}의 마지막 측정값은 {value:.1f}도예요.",
        }
    data = {"kind": kind, "value": value, "ts": ts.isoformat()}
    return Answer("appliance", lang, text[lang], data)


def handler(context: VoiceContext) -> Callable[[str, bytes, object], tuple[str, bytes]]:
    """A bridge voice handler: always answers on the household's own response topic."""

    def handle(household: str, payload: bytes, _properties: object) -> tuple[str, bytes]:
        topic = topics.home(household, topics.VOICE_RESPONSE)
        try:
            utterance, lang = parse_request(payload)
        except ValueError as exc:
            body = {"intent": "error", "lang": "en", "text": str(exc), "data": {}}
            return topic, json.dumps(body).encode()
        return topic, answer(context, household, utterance, lang).payload()

    return handle
