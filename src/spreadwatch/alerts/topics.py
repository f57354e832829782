"""MQTT topics of the home bridge.

::

    sw/home/{household}/telemetry        device -> bridge, QoS 1 (platform JSON)
    sw/home/{household}/alerts           bridge -> household, QoS 1 (platform JSON)
    sw/home/{household}/voice/request    speaker -> bridge, MQTT 5 request (response topic,
                                         correlation data)
    sw/home/{household}/voice/response   bridge -> speaker, the answer
    sw/status/{region_code}              retained current risk level of a region (public)
    sw/status/{region_code}/air          retained current fine dust of a region (public)

``{household}`` is the household's topic id: the pseudonym of ``platform:household_id``, the
same value as ``household_pseudo`` in the store, and the household's MQTT user name.
"""

from __future__ import annotations

ROOT = "sw"
HOME = f"{ROOT}/home"
STATUS = f"{ROOT}/status"
TELEMETRY = "telemetry"
ALERTS = "alerts"
VOICE_REQUEST = "voice/request"
VOICE_RESPONSE = "voice/response"
#: The ACL pattern of a household's own topics (Mosquitto substitutes %u, the user name).
HOME_PATTERN = f"{HOME}/%u"


def home(household: str, leaf: str) -> str:
    """The topic ``leaf`` of one household."""
    return f"{HOME}/{household}/{leaf}"


def status(region_code: str) -> str:
    return f"{STATUS}/{region_code}"


def air_status(region_code: str) -> str:
    return f"{STATUS}/{region_code}/air"


def household_of(topic: str, leaf: str) -> str | None:
    """The household topic id of ``sw/home/{household}/{leaf}``, or ``None`` for other topics."""
    prefix = f"{HOME}/"
    suffix = f"/{leaf}"
    if not (topic.startswith(prefix) and topic.endswith(suffix)):
        return None
    household = topic[len(prefix) : len(topic) - len(suffix)]
    return household if household and "/" not in household else None
