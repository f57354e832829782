"""A fleet of simulated homes publishing platform telemetry to the bridge's broker.

Each raw ``device_telemetry`` row (from the generator's files) becomes one message in its
platform's JSON (the shapes :mod:`spreadwatch.ingest.platforms` decodes), published QoS 1 by its
household's own MQTT connection (user name and password from the provisioning file) to
``sw/home/{household}/telemetry``. Values that do not parse (the generator's messy rows) are sent
as they are, so the bridge sees malformed messages as a real platform would send them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spreadwatch.alerts import topics
from spreadwatch.ingest.platforms import FAN_MODES
from spreadwatch.kst import KST

TELEMETRY_COLUMNS = ("platform", "device_id", "household_id", "ts", "kind", "value", "consent")
#: What device of each platform reports each kind: (device type, model).
_PURIFIER = ("AIR_PURIFIER", "AS353NS3A")
THINQ_DEVICES = {
    **dict.fromkeys(("pm25", "pm10", "purifier_on", "fan_mode", "filter_life"), _PURIFIER),
    "appliance_on": ("WASHER", "F24VDD"),
    "body_temp": ("THERMOMETER", "HT-L200"),
}
GIGAGENIE_DEVICES = {
    "presence": ("presence_sensor", "GG-PS100"),
    "body_temp": ("thermometer", "GG-TH20"),
    "appliance_on": ("smart_plug", "GG-SP10"),
}


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _utc(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _digest(text: str) -> int:
    return hashlib.sha256(text.encode()).digest()[0]


def _message_id(row: dict[str, str]) -> str:
    text = "|".join(row[c] for c in TELEMETRY_COLUMNS)
    return hashlib.sha256(text.encode()).hexdigest()


def thinq_message(row: dict[str, str]) -> dict:
    """A raw telemetry row as an appliance-cloud message (epoch milliseconds, UTC)."""
    kind, value = row["kind"], _number(row["value"])
    device_type, model = THINQ_DEVICES.get(kind, ("UNKNOWN", "NA"))
    if kind in ("pm25", "pm10"):
        state: dict = {kind: value}
    elif kind in ("appliance_on", "purifier_on"):
        state = {"operation": {1.0: "ON", 0.0: "OFF"}.get(value, str(value))}
    elif kind == "fan_mode":
        modes = {code: name for name, code in FAN_MODES.items()}
        state = {"fanMode": modes.get(value, str(value))}
    elif kind == "filter_life":
        state = {"filterRemaining": value}
    elif kind == "body_temp":  # some thermometers report in Fahrenheit
        fahrenheit = isinstance(value, float) and _digest(row["device_id"]) % 4 == 0
        state = {
            "bodyTemperature": {
                "value": round(value * 9 / 5 + 32, 2) if fahrenheit else value,
                "unit": "F" if fahrenheit else "C",
            }
        }
    else:
        state = {kind: value}
    ts = _utc(row["ts"])
    message_id = _message_id(row)
    return {
        "messageId": f"{message_id[:8]}-{message_id[8:12]}-{message_id[12:16]}-{message_id[16:28]}",
        "timestamp": int(ts.timestamp() * 1000) if ts else row["ts"],
        "homeId": row["household_id"],
        "deviceId": row["device_id"],
        "deviceType": device_type,
        "modelName": model,
        "state": state,
        "consent": {"dataSharing": row["consent"].strip().lower() == "true"},
    }


def gigagenie_message(row: dict[str, str]) -> dict:
    """A raw telemetry row as a smart-speaker platform message (Korea local time)."""
    kind, value = row["kind"], _number(row["value"])
    device_type, model = GIGAGENIE_DEVICES.get(kind, ("unknown", "NA"))
    if kind == "presence":
        payload: dict = {"occupancy": {1.0: "occupied", 0.0: "vacant"}.get(value, str(value))}
    elif kind == "body_temp":
        payload = {"temp_c": value}
    elif kind == "appliance_on":
        payload = {"power": {1.0: "on", 0.0: "off"}.get(value, str(value))}
    else:
        payload = {kind: value}
    ts = _utc(row["ts"])
    return {
        "msg_id": "GG" + _message_id(row)[:30],
        "event_time": ts.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S") if ts else row["ts"],
        "household": {
            "key": row["household_id"],
            "agree_yn": "Y" if row["consent"].strip().lower() == "true" else "N",
        },
        "device": {"id": row["device_id"], "type": device_type, "model": model},
        "payload": payload,
    }


ENCODERS = {"thinq": thinq_message, "gigagenie": gigagenie_message}


def encode(row: dict[str, str]) -> bytes:
    """One raw telemetry row (strings) as its platform's message."""
    encoder = ENCODERS.get(row["platform"], thinq_message)
    return json.dumps(encoder(row), ensure_ascii=False, separators=(",", ":")).encode()


def read_rows(paths: Sequence[Path]) -> Iterator[dict[str, str]]:
    """Raw telemetry rows of CSV or Parquet files, as strings."""
    for path in paths:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            batches: Iterable = table.cast(
                pa.schema([(n, pa.string()) for n in table.column_names])
            ).to_batches()
        else:
            batches = pacsv.open_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(TELEMETRY_COLUMNS, pa.string()),
                    strings_can_be_null=False,
                ),
                parse_options=pacsv.ParseOptions(invalid_row_handler=lambda _row: "skip"),
            )
        for batch in batches:
            yield from (
                {k: ("" if v is None else v) for k, v in row.items()} for row in batch.to_pylist()
            )


@dataclass(frozen=True)
class Login:
    username: str
    password: str


def read_provisioning(path: Path) -> dict[tuple[str, str], Login]:
    """``(platform, household_id) -> login`` from a provisioning file of ``bridge init``."""
    with path.open(newline="") as fh:
        return {
            (r["platform"], r["household_id"]): Login(r["username"], r["password"])
            for r in csv.DictReader(fh)
        }


@dataclass
class FleetReport:
    households: int = 0
    published: int = 0
    acknowledged: int = 0
    skipped_unprovisioned: int = 0
    seconds: float = 0.0


#: Connections one process can hold: paho waits on its sockets with select(), which stops at
#: file descriptor 1024, and each connection takes three.
MAX_HOUSEHOLDS_PER_PROCESS = 300


class Fleet:
    """Households, each with its own MQTT connection, publishing their telemetry rows."""

    def __init__(
        self, host: str, port: int, logins: dict[tuple[str, str], Login], max_households: int
    ) -> None:
        if not 0 < max_households <= MAX_HOUSEHOLDS_PER_PROCESS:
            raise ValueError(
                f"households: expected 1 to {MAX_HOUSEHOLDS_PER_PROCESS} per fleet process "
                f"(found {max_households}); run more processes for more homes"
            )
        self.host, self.port = host, port
        self.logins = logins
        self.max_households = max_households
        self.clients: dict[tuple[str, str], mqtt.Client] = {}
        self._acked = 0
        self._lock = threading.Lock()

    def _client(self, key: tuple[str, str]) -> mqtt.Client:
        login = self.logins[key]
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"home-{login.username}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(login.username, login.password)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(0.05, 1.0)
        client.on_publish = self._on_publish
        connected = threading.Event()
        client.on_connect = lambda *args: connected.set()
        # like a device: keep trying while the broker is away (paho's loop retries)
        client.connect_async(self.host, self.port, clean_start=False, properties=_session())
        client.loop_start()
        if not connected.wait(30.0):  # publishing before the CONNACK races paho's resend
            client.loop_stop()
            raise ConnectionError(f"home {login.username}: no answer from the broker in 30 s")
        return client

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self._acked += 1

    def publish(
        self, rows: Iterable[dict[str, str]], limit: int | None = None, rate: float | None = None
    ) -> FleetReport:
        """Publish ``rows`` (at most ``limit``, at most ``rate`` a second), then wait for every
        acknowledgement (the fleet reconnects through broker restarts)."""
        report = FleetReport()
        start = time.perf_counter()
        for row in rows:
            if limit is not None and report.published >= limit:
                break
            key = (row["platform"], row["household_id"])
            client = self.clients.get(key)
            if client is None:
                if key not in self.logins or len(self.clients) >= self.max_households:
                    report.skipped_unprovisioned += key not in self.logins
                    continue
                client = self.clients[key] = self._client(key)
            payload = encode(row)
            topic = topics.home(self.logins[key].username, topics.TELEMETRY)
            client.publish(topic, payload, qos=1)
            report.published += 1
            if rate:
                delay = start + report.published / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        report.households = len(self.clients)
        self.wait(report.published)
        report.acknowledged = self._acked
        report.seconds = time.perf_counter() - start
        return report

    def wait(self, published: int, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while self._acked < published and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


def _session() -> mqtt.Properties:
    """CONNECT properties of a persistent session (kept a day while offline)."""
    from paho.mqtt.packettypes import PacketTypes

    props = mqtt.Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 86_400
    return props
