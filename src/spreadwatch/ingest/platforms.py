"""The two home platforms' telemetry messages, decoded into ``device_telemetry`` readings.

An appliance cloud (``thinq``) and a smart-speaker platform (``gigagenie``) publish JSON of
their own shapes; docs/home-bridge.md shows both in full. In short:

``thinq``: ``messageId``, ``timestamp`` (epoch milliseconds, UTC), ``homeId``, ``deviceId``,
``deviceType``, ``modelName``, ``state`` (``pm25`` and ``pm10`` ug/m3, ``operation``
``"ON"|"OFF"`` (an air purifier's: ``purifier_on``, else ``appliance_on``), an air purifier's
``fanMode`` ``"AUTO"|"SLEEP"|"LOW"|"MID"|"HIGH"`` and ``filterRemaining`` (percent),
``bodyTemperature`` ``{"value", "unit": "C"|"F"}``), ``consent`` ``{"dataSharing": bool}``.

``gigagenie``: ``msg_id``, ``event_time`` (``"YYYY-MM-DD HH:MM:SS"``, Korea local time),
``household`` ``{"key", "agree_yn": "Y"|"N"}``, ``device`` ``{"id", "type", "model"}``,
``payload`` (``occupancy`` ``"occupied"|"vacant"``, ``temp_c``, ``power`` ``"on"|"off"``).

:func:`decode` checks every field it uses and raises :class:`PayloadError` naming the field
and what was expected; fields it does not use are ignored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from spreadwatch.ingest.sources import PLAUSIBLE_VALUES
from spreadwatch.kst import KST

THINQ = "thinq"
AIR_PURIFIER = "AIR_PURIFIER"
#: An air purifier's fan modes and their ``fan_mode`` reading.
FAN_MODES = {"AUTO": 0.0, "SLEEP": 1.0, "LOW": 2.0, "MID": 3.0, "HIGH": 4.0}
GIGAGENIE = "gigagenie"
#: Readings outside these bounds are not measurements (a broken sensor, a wrong unit).
PLAUSIBLE = PLAUSIBLE_VALUES
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_MAX_ID = 128
T = TypeVar("T")
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class PayloadError(ValueError):
    """A message that is not a valid platform message: ``field`` is its path, like
    ``state.pm25``."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(f"{field}: {expected}")
        self.field = field
        self.expected = expected


@dataclass(frozen=True)
class Reading:
    """One reading in the raw ``device_telemetry`` contract (raw IDs: stays in ingest)."""

    device_id: str
    ts: datetime
    kind: str
    value: float


@dataclass(frozen=True)
class Message:
    """A decoded message: its platform, id, household, consent and readings."""

    platform: str
    message_id: str
    household_id: str
    consent: bool
    readings: tuple[Reading, ...]


def decode(payload: bytes) -> Message:
    """The platform message in ``payload`` (UTF-8 JSON), or :class:`PayloadError`."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError("(message)", f"expected UTF-8 JSON ({exc})") from None
    except RecursionError:  # '{"a":' * 2000 ...: nested deeper than any real message
        raise PayloadError(
            "(message)", "expected JSON nested a few levels, not thousands"
        ) from None
    if not isinstance(data, dict):
        raise PayloadError("(message)", "expected a JSON object")
    if "messageId" in data:
        return _thinq(data)
    if "msg_id" in data:
        return _gigagenie(data)
    raise PayloadError(
        "(message)", "expected a thinq message (messageId, ...) or a gigagenie one (msg_id, ...)"
    )


# --- thinq ------------------------------------------------------------------------------------


def _thinq(data: dict) -> Message:
    message_id = _identifier(data, "messageId")
    household = _identifier(data, "homeId")
    device = _identifier(data, "deviceId")
    purifier = _text(data, "deviceType") == AIR_PURIFIER
    millis = data.get("timestamp")
    if not _is_number(millis) or (isinstance(millis, float) and not millis.is_integer()):
        raise PayloadError("timestamp", "expected epoch milliseconds (an integer)")
    if not _EARLIEST.timestamp() * 1000 <= millis < _LATEST.timestamp() * 1000:
        raise PayloadError("timestamp", "expected a time between 2000 and 2100")
    ts = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=int(millis))
    consent = _object(data, "consent").get("dataSharing")
    if not isinstance(consent, bool):
        raise PayloadError("consent.dataSharing", "expected true or false")
    state = _object(data, "state")
    readings = []
    for kind in ("pm25", "pm10"):
        if kind in state:
            readings.append(Reading(device, ts, kind, _measure(state[kind], f"state.{kind}", kind)))
    if "operation" in state:
        on = _choice(state["operation"], "state.operation", {"ON": 1.0, "OFF": 0.0})
        readings.append(Reading(device, ts, "purifier_on" if purifier else "appliance_on", on))
    if "fanMode" in state:
        mode = _choice(state["fanMode"], "state.fanMode", FAN_MODES)
        readings.append(Reading(device, ts, "fan_mode", mode))
    if "filterRemaining" in state:
        left = _measure(state["filterRemaining"], "state.filterRemaining", "filter_life")
        readings.append(Reading(device, ts, "filter_life", left))
    if "bodyTemperature" in state:
        temp = _object(state, "bodyTemperature", "state.")
        unit = _choice(temp.get("unit"), "state.bodyTemperature.unit", {"C": "C", "F": "F"})
        value = temp.get("value")
        if not _is_number(value):
            raise PayloadError("state.bodyTemperature.value", "expected a number")
        celsius = (value - 32.0) * 5.0 / 9.0 if unit == "F" else float(value)
        readings.append(
            Reading(
                device,
                ts,
                "body_temp",
                _measure(round(celsius, 2), "state.bodyTemperature.value", "body_temp"),
            )
        )
    return _message(THINQ, message_id, household, consent, readings, "state")


# --- gigagenie --------------------------------------------------------------------------------


def _gigagenie(data: dict) -> Message:
    message_id = _identifier(data, "msg_id")
    household_obj = _object(data, "household")
    household = _identifier(household_obj, "key", "household.")
    consent = _choice(household_obj.get("agree_yn"), "household.agree_yn", {"Y": True, "N": False})
    device_obj = _object(data, "device")
    device = _identifier(device_obj, "id", "device.")
    _text(device_obj, "type", "device.")
    local = _local_time(data.get("event_time"))
    if local is None:
        raise PayloadError("event_time", "expected Korea local time as YYYY-MM-DD HH:MM:SS")
    ts = _bounded_time("event_time", local.replace(tzinfo=KST).astimezone(UTC))
    payload = _object(data, "payload")
    readings = []
    if "occupancy" in payload:
        occupied = _choice(
            payload["occupancy"], "payload.occupancy", {"occupied": 1.0, "vacant": 0.0}
        )
        readings.append(Reading(device, ts, "presence", occupied))
    if "temp_c" in payload:
        readings.append(
            Reading(
                device, ts, "body_temp", _measure(payload["temp_c"], "payload.temp_c", "body_temp")
            )
        )
    if "power" in payload:
        on = _choice(payload["power"], "payload.power", {"on": 1.0, "off": 0.0})
        readings.append(Reading(device, ts, "appliance_on", on))
    return _message(GIGAGENIE, message_id, household, consent, readings, "payload")


# --- field checks -----------------------------------------------------------------------------


def _message(
    platform: str, message_id: str, household: str, consent: bool, readings: list, where: str
) -> Message:
    if not readings and consent:
        raise PayloadError(where, "expected at least one reading spreadwatch uses")
    return Message(platform, message_id, household, consent, tuple(readings))


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _object(data: dict, name: str, prefix: str = "") -> dict:
    value = data.get(name)
    if not isinstance(value, dict):
        raise PayloadError(prefix + name, "expected an object")
    return value


def _text(data: dict, name: str, prefix: str = "") -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(prefix + name, "expected a non-blank string")
    return value.strip()


def _identifier(data: dict, name: str, prefix: str = "") -> str:
    value = _text(data, name, prefix)
    if len(value) > _MAX_ID or not value.isprintable():
        raise PayloadError(prefix + name, f"expected at most {_MAX_ID} printable characters")
    return value


def _choice(value: object, field: str, options: dict[str, T]) -> T:
    if not isinstance(value, str) or value not in options:
        raise PayloadError(field, "expected one of " + ", ".join(f'"{o}"' for o in options))
    return options[value]


def _measure(value: object, field: str, kind: str) -> float:
    if not _is_number(value):
        raise PayloadError(field, "expected a number")
    low, high = PLAUSIBLE[kind]
    if not low <= float(value) <= high:
        raise PayloadError(field, f"expected {low:g} to {high:g}, found {value}")
    return float(value)


def _local_time(text: object) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` exactly, as a naive datetime (``None`` otherwise)."""
    if not isinstance(text, str) or not _LOCAL_TIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # a day or hour out of range
        return None


def _bounded_time(field: str, ts: datetime) -> datetime:
    if not _EARLIEST <= ts < _LATEST:
        raise PayloadError(field, "expected a time between 2000 and 2100")
    return ts
