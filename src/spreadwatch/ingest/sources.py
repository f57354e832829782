"""The raw sources a store ingests: their columns, row checks and output contract.

Each :class:`Source` is declarative: DuckDB SQL that types the raw strings, the checks that
quarantine a row (the first failing check names the reason), the identifiers to pseudonymise and
the key that makes two rows the same row. :mod:`spreadwatch.ingest.run` applies them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import iso3166
import pyarrow as pa

from spreadwatch.ingest.raw import RowCheck

#: Timestamp layouts accepted in raw files (all UTC).
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S")
_FORMATS_SQL = "[" + ", ".join(f"'{f}'" for f in TIMESTAMP_FORMATS) + "]"
TS_PARSED = f"try_strptime(ts, {_FORMATS_SQL})"
TS_REASON = "expected a UTC timestamp like 2020-02-01T08:15:42Z"
COUNTRIES = tuple(sorted(iso3166.countries_by_alpha3))


def _blank(column: str) -> RowCheck:
    return RowCheck(column, f"blank {column}", f"trim({column}) = ''")


def _one_of(column: str, values: tuple[str, ...]) -> RowCheck:
    listed = ", ".join(f"'{v}'" for v in values)
    return RowCheck(column, f"expected one of {', '.join(values)}", f"{column} NOT IN ({listed})")


_BAD_TS = RowCheck("ts", TS_REASON, "ts_parsed IS NULL")
#: Readings a device may report, by kind (as the bridge checks them too): a thermometer's
#: -500 or a purifier's 1e9 is a fault, not a measurement.
PLAUSIBLE_VALUES = {
    "body_temp": (30.0, 45.0),
    "pm25": (0.0, 2000.0),
    "pm10": (0.0, 5000.0),
    "purifier_on": (0.0, 1.0),
    "fan_mode": (0.0, 4.0),
    "filter_life": (0.0, 100.0),
}
#: Times a record may carry: a row dated outside is quarantined (a clock reset to 1970, a typo
#: of 2120), as the bridge refuses such messages; every later stage can rely on it.
PLAUSIBLE_FROM = datetime(2000, 1, 1, tzinfo=UTC)
PLAUSIBLE_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
IMPLAUSIBLE_REASON = (
    f"expected a time from {PLAUSIBLE_FROM:%Y-%m-%d} up to {PLAUSIBLE_UNTIL:%Y-%m-%d} (UTC)"
)
_IMPLAUSIBLE_TS = RowCheck(
    "ts",
    IMPLAUSIBLE_REASON,
    f"ts_parsed < TIMESTAMP '{PLAUSIBLE_FROM:%Y-%m-%d}' "
    f"OR ts_parsed >= TIMESTAMP '{PLAUSIBLE_UNTIL:%Y-%m-%d}'",
)
#: A carrier or platform name: a letter, then up to 15 letters, digits or _.
NAME_REGEX = "[A-Za-z][A-Za-z0-9_]{0,15}"
NAME_PATTERN = re.compile(NAME_REGEX)
NAME_SHAPE = "regexp_full_match({c}, '" + NAME_REGEX.replace("{", "{{").replace("}", "}}") + "')"
_NAME_EXAMPLES = {"carrier": "SKT", "platform": "thinq"}


def _name(column: str) -> tuple[RowCheck, RowCheck]:
    return _blank(column), RowCheck(
        column,
        f"expected a {column} name like {_NAME_EXAMPLES[column]} "
        "(a letter, then letters, digits or _)",
        f"NOT {NAME_SHAPE.format(c=column)}",
    )


_TS_SHAPE = "ts_parsed IS NOT NULL"  # a time outside the window is well formed: shown
_KIND_SHAPE = "regexp_full_match(kind, '[a-z][a-z0-9_]*')"
_CONSENT_SHAPE = "consent_l IN ('true', 'false')"
_COUNTRY_SHAPE = "country IN (" + ", ".join(f"'{c}'" for c in COUNTRIES) + ")"
_CONSENT_CHECKS = (
    RowCheck("consent", "expected one of true, false", "consent_l NOT IN ('true', 'false')"),
    RowCheck(
        "consent",
        "household has not consented: row not kept",
        "consent_l = 'false'",
        keep_raw=False,
    ),
)
_UNKNOWN_REGION = RowCheck("region_code", "unknown region code", "NOT region_known")


@dataclass(frozen=True)
class Source:
    """One raw input contract and how it becomes its ingested table."""

    name: str
    columns: tuple[str, ...]
    typed_sql: str
    """Extra typed columns computed from the raw strings (``... AS name`` list; may be empty)."""
    checks: tuple[RowCheck, ...]
    output_sql: str
    """The output columns from the valid rows; ``{id:column}`` is replaced by its pseudonym."""
    schema: pa.Schema
    key: tuple[str, ...]
    """Output columns identifying a row: equal keys with equal rows are duplicates, with
    different rows a conflict (quarantined)."""
    identifiers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Raw identifier column -> the raw columns whose ``a:b`` text is HMAC'd to replace it."""
    time_column: str | None = "ts"
    """Output column ordering each part (and the pseudonym period); ``None`` if untimed."""
    shapes: Mapping[str, str] = field(default_factory=dict)
    """Column -> SQL true when its value is well formed. In the quarantine of a source with
    identifiers, a value that is not well formed is withheld: it might be a misplaced ID."""
    conflicts_possible: bool = True
    """False when the key determines the whole row: repeats are then always duplicates."""

    @property
    def has_identifiers(self) -> bool:
        return bool(self.identifiers)


_UTC = "timezone('UTC', ts_parsed) AS ts"

LOCATION = Source(
    name="location",
    columns=("carrier", "subscriber_id", "ts", "cell_id"),
    typed_sql=f"{TS_PARSED} AS ts_parsed",
    checks=(
        *_name("carrier"),
        _blank("subscriber_id"),
        _BAD_TS,
        _IMPLAUSIBLE_TS,
        RowCheck(
            "cell_id",
            "unknown cell (not in the valid cells of this carrier)",
            "region_code IS NULL",
        ),
    ),
    output_sql=(
        f"carrier, {{id:subscriber_id}} AS subscriber_pseudo, {_UTC}, region_code, cell_id"
    ),
    schema=pa.schema(
        [
            ("carrier", pa.string()),
            ("subscriber_pseudo", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("region_code", pa.string()),
            ("cell_id", pa.string()),
        ]
    ),
    key=("carrier", "subscriber_pseudo", "ts", "cell_id"),
    identifiers={"subscriber_id": ("carrier", "subscriber_id")},
    shapes={
        "carrier": NAME_SHAPE.format(c="carrier"),
        "ts": _TS_SHAPE,
        "cell_id": "region_code IS NOT NULL",
    },
    conflicts_possible=False,  # region_code follows from (carrier, cell_id)
)

ROAMING = Source(
    name="roaming",
    columns=("carrier", "subscriber_id", "ts", "country", "event", "direction"),
    typed_sql=f"{TS_PARSED} AS ts_parsed",
    checks=(
        *_name("carrier"),
        _blank("subscriber_id"),
        _BAD_TS,
        _IMPLAUSIBLE_TS,
        RowCheck(
            "country",
            "expected an ISO 3166 alpha-3 country code like JPN",
            f"NOT {_COUNTRY_SHAPE}",
        ),
        _one_of("event", ("attach", "detach")),
        _one_of("direction", ("outbound", "inbound")),
    ),
    output_sql=(
        f"carrier, {{id:subscriber_id}} AS subscriber_pseudo, {_UTC}, country, event, direction"
    ),
    schema=pa.schema(
        [
            ("carrier", pa.string()),
            ("subscriber_pseudo", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("country", pa.string()),
            ("event", pa.string()),
            ("direction", pa.string()),
        ]
    ),
    key=("carrier", "subscriber_pseudo", "ts", "country", "event", "direction"),
    identifiers={"subscriber_id": ("carrier", "subscriber_id")},
    shapes={
        "carrier": NAME_SHAPE.format(c="carrier"),
        "ts": _TS_SHAPE,
        "country": _COUNTRY_SHAPE,
        "event": "event IN ('attach', 'detach')",
        "direction": "direction IN ('outbound', 'inbound')",
    },
    conflicts_possible=False,
)

TELEMETRY = Source(
    name="telemetry",
    columns=("platform", "device_id", "household_id", "ts", "kind", "value", "consent"),
    typed_sql=(
        f"{TS_PARSED} AS ts_parsed, "
        "CASE WHEN isfinite(try_cast(value AS DOUBLE)) THEN try_cast(value AS DOUBLE) END "
        "AS value_f, lower(trim(consent)) AS consent_l"
    ),
    checks=(
        *_name("platform"),
        _blank("device_id"),
        _blank("household_id"),
        *_CONSENT_CHECKS,
        _BAD_TS,
        _IMPLAUSIBLE_TS,
        RowCheck(
            "kind",
            "expected a reading kind in lower case, like body_temp",
            f"NOT {_KIND_SHAPE}",
        ),
        RowCheck("value", "expected a finite number", "value_f IS NULL"),
        *(
            RowCheck(
                "value",
                f"expected a plausible {k} reading ({lo:g} to {hi:g})",
                f"kind = '{k}' AND (value_f < {lo} OR value_f > {hi})",
            )
            for k, (lo, hi) in PLAUSIBLE_VALUES.items()
        ),
    ),
    output_sql=(
        "platform, {id:device_id} AS device_pseudo, {id:household_id} AS household_pseudo, "
        f"{_UTC}, kind, value_f AS value"
    ),
    schema=pa.schema(
        [
            ("platform", pa.string()),
            ("device_pseudo", pa.string()),
            ("household_pseudo", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("kind", pa.string()),
            ("value", pa.float64()),
        ]
    ),
    key=("platform", "device_pseudo", "ts", "kind"),
    identifiers={
        "device_id": ("platform", "device_id"),
        "household_id": ("platform", "household_id"),
    },
    shapes={
        "platform": NAME_SHAPE.format(c="platform"),
        "ts": _TS_SHAPE,
        "kind": _KIND_SHAPE,
        "value": "value_f IS NOT NULL",
        "consent": _CONSENT_SHAPE,
    },
)

HOUSEHOLDS = Source(
    name="households",
    columns=("platform", "household_id", "region_code", "consent"),
    typed_sql="lower(trim(consent)) AS consent_l",
    checks=(*_name("platform"), _blank("household_id"), *_CONSENT_CHECKS, _UNKNOWN_REGION),
    output_sql="platform, {id:household_id} AS household_pseudo, trim(region_code) AS region_code",
    schema=pa.schema(
        [
            ("platform", pa.string()),
            ("household_pseudo", pa.string()),
            ("region_code", pa.string()),
        ]
    ),
    key=("platform", "household_pseudo"),
    identifiers={"household_id": ("platform", "household_id")},
    shapes={
        "platform": NAME_SHAPE.format(c="platform"),
        "region_code": "region_known",
        "consent": _CONSENT_SHAPE,
    },
    time_column=None,
)

HOUSEHOLD_MEMBERS = Source(
    name="household_members",
    columns=("platform", "household_id", "carrier", "subscriber_id"),
    typed_sql="",
    checks=(
        *_name("platform"),
        _blank("household_id"),
        *_name("carrier"),
        _blank("subscriber_id"),
    ),
    output_sql=(
        "platform, {id:household_id} AS household_pseudo, "
        "carrier, {id:subscriber_id} AS subscriber_pseudo"
    ),
    schema=pa.schema(
        [
            ("platform", pa.string()),
            ("household_pseudo", pa.string()),
            ("carrier", pa.string()),
            ("subscriber_pseudo", pa.string()),
        ]
    ),
    key=("platform", "household_pseudo", "carrier", "subscriber_pseudo"),
    # the same messages as households/telemetry and location/roaming: the same pseudonyms
    identifiers={
        "household_id": ("platform", "household_id"),
        "subscriber_id": ("carrier", "subscriber_id"),
    },
    shapes={
        "platform": NAME_SHAPE.format(c="platform"),
        "carrier": NAME_SHAPE.format(c="carrier"),
    },
    time_column=None,
    conflicts_possible=False,  # the key is the whole row
)
"""A member's mobile subscription registered with a platform account: links a household to the
subscribers whose traveler notices it receives."""

CASES = Source(
    name="cases",
    columns=("region_code", "date", "confirmed"),
    typed_sql=(
        "CASE WHEN regexp_full_match(date, '\\d{4}-\\d{2}-\\d{2}') "
        "THEN try_strptime(date, '%Y-%m-%d')::DATE END AS date_parsed, "
        "CASE WHEN regexp_full_match(confirmed, '\\d{1,18}') "
        "THEN try_cast(confirmed AS BIGINT) END AS confirmed_parsed"
    ),
    checks=(
        _UNKNOWN_REGION,
        RowCheck("date", "expected a date like 2020-02-01", "date_parsed IS NULL"),
        RowCheck(
            "confirmed",
            "expected a non-negative integer count",
            "confirmed_parsed IS NULL OR confirmed_parsed < 0",
        ),
    ),
    output_sql=(
        "trim(region_code) AS region_code, date_parsed AS date, confirmed_parsed AS confirmed"
    ),
    schema=pa.schema(
        [("region_code", pa.string()), ("date", pa.date32()), ("confirmed", pa.int64())]
    ),
    key=("region_code", "date"),
    time_column=None,
)

CELLS = Source(
    name="cells",
    columns=("carrier", "cell_id", "lat", "lon"),
    typed_sql=(
        "CASE WHEN isfinite(try_cast(lat AS DOUBLE)) THEN try_cast(lat AS DOUBLE) END AS lat_f, "
        "CASE WHEN isfinite(try_cast(lon AS DOUBLE)) THEN try_cast(lon AS DOUBLE) END AS lon_f"
    ),
    checks=(
        _blank("carrier"),
        _blank("cell_id"),
        RowCheck(
            "lat",
            "expected a latitude in [-90, 90]",
            "NOT coalesce(lat_f BETWEEN -90 AND 90, false)",
        ),
        RowCheck(
            "lon",
            "expected a longitude in [-180, 180]",
            "NOT coalesce(lon_f BETWEEN -180 AND 180, false)",
        ),
        RowCheck("lat", "cell lies outside every region", "region_code IS NULL"),
    ),
    output_sql="carrier, cell_id, lat_f AS lat, lon_f AS lon, region_code",
    schema=pa.schema(
        [
            ("carrier", pa.string()),
            ("cell_id", pa.string()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("region_code", pa.string()),
        ]
    ),
    key=("carrier", "cell_id"),
    time_column=None,
)

AIR_STATIONS = Source(
    name="air_stations",
    columns=("station_id", "name", "lat", "lon"),
    typed_sql=CELLS.typed_sql,
    checks=(
        _blank("station_id"),
        *CELLS.checks[2:4],
        RowCheck("lat", "station lies outside every region", "region_code IS NULL"),
    ),
    output_sql="trim(station_id) AS station_id, trim(name) AS name, lat_f AS lat, lon_f AS lon, "
    "region_code",
    schema=pa.schema(
        [
            ("station_id", pa.string()),
            ("name", pa.string()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("region_code", pa.string()),
        ]
    ),
    key=("station_id",),
    time_column=None,
)
"""Outdoor air-quality monitoring stations: placed in their si-gun-gu like cells."""

#: Operator flags a station reading may carry (the reading's values are then not used).
AIR_FLAGS = ("maintenance", "communication", "calibration", "power")
#: A reading at or above this is a saturated sensor's code, not a measurement.
AIR_SATURATED = 999.0


def _concentration(column: str) -> tuple[str, RowCheck]:
    """The typed value of a station's PM column, and the check of its text."""
    typed = (
        f"CASE WHEN isfinite(try_cast({column} AS DOUBLE)) THEN try_cast({column} AS DOUBLE) "
        f"END AS {column}_f"
    )
    check = RowCheck(
        column,
        "expected a number of ug/m3 (empty or - when not measured)",
        f"trim({column}) NOT IN ('', '-') AND {column}_f IS NULL",
    )
    return typed, check


def _status_sql(column: str) -> str:
    """What became of a station's PM value: ok, missing, flagged, negative or saturated."""
    return (
        f"CASE WHEN flag_l <> '' THEN 'flagged' WHEN {column}_f IS NULL THEN 'missing' "
        f"WHEN {column}_f < 0 THEN 'negative' WHEN {column}_f >= {AIR_SATURATED:g} "
        f"THEN 'saturated' ELSE 'ok' END"
    )


_PM25_TYPED, _PM25_CHECK = _concentration("pm25")
_PM10_TYPED, _PM10_CHECK = _concentration("pm10")

AIR_READINGS = Source(
    name="air_readings",
    columns=("station_id", "ts", "pm25", "pm10", "flag"),
    typed_sql=(
        f"{TS_PARSED} AS ts_parsed, {_PM25_TYPED}, {_PM10_TYPED}, lower(trim(flag)) AS flag_l"
    ),
    checks=(
        _blank("station_id"),
        RowCheck(
            "station_id",
            "unknown station (not in the store's air_stations: ingest them first)",
            "NOT station_known",
        ),
        _BAD_TS,
        _IMPLAUSIBLE_TS,
        RowCheck(
            "ts",
            "expected an hourly reading's time, on the hour (minutes and seconds 0)",
            "date_part('minute', ts_parsed) <> 0 OR date_part('second', ts_parsed) <> 0",
        ),
        _PM25_CHECK,
        _PM10_CHECK,
        RowCheck(
            "flag",
            f"expected empty or one of {', '.join(AIR_FLAGS)}",
            "flag_l NOT IN ('', " + ", ".join(f"'{f}'" for f in AIR_FLAGS) + ")",
        ),
    ),
    output_sql=(
        f"trim(station_id) AS station_id, {_UTC}, "
        f"CASE WHEN {_status_sql('pm25')} = 'ok' THEN pm25_f END AS pm25, "
        f"CASE WHEN {_status_sql('pm10')} = 'ok' THEN pm10_f END AS pm10, "
        f"{_status_sql('pm25')} AS pm25_status, {_status_sql('pm10')} AS pm10_status, "
        "flag_l AS flag"
    ),
    schema=pa.schema(
        [
            ("station_id", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("pm25", pa.float64()),
            ("pm10", pa.float64()),
            ("pm25_status", pa.string()),
            ("pm10_status", pa.string()),
            ("flag", pa.string()),
        ]
    ),
    key=("station_id", "ts"),
)
"""Hourly PM2.5 and PM10 of the stations. A value that is not a measurement (the operator
flagged the hour, or it is negative, or saturated at 999) is kept as null with its status
saying why; malformed rows are quarantined."""

#: Reference tables other sources are checked against: ingested first.
REFERENCE_SOURCES = ("cells", "air_stations")

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        CELLS,
        LOCATION,
        ROAMING,
        TELEMETRY,
        HOUSEHOLDS,
        HOUSEHOLD_MEMBERS,
        CASES,
        AIR_STATIONS,
        AIR_READINGS,
    )
}
