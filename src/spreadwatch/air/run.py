"""The fine-dust stage end to end: from a store (stations, readings, purifier telemetry,
households) and the fusion's tables (presence, commuting) to the field, the exposure, the
daily shares above the thresholds and the next 24 hours' forecast.

Writes, in the output folder:

``field.parquet``
    per UTC hour and si-gun-gu: PM2.5 (kriged), its standard deviation, the IDW baseline, the
    Korean grade (:meth:`spreadwatch.air.field.DistrictField.table`);
``exposure.parquet``
    per UTC hour and si-gun-gu: people present, census, PM2.5 outdoors and breathed, dynamic
    and static exposure (:meth:`spreadwatch.air.exposure.Exposure.table`);
``daily.parquet``
    per KST date: population-weighted PM2.5 (dynamic and static) and the shares of people
    above Korea's daily standard and the WHO's guideline (dynamic and static);
``forecast.parquet``
    the next 24 hours' quantiles per si-gun-gu from the field's last hour
    (:meth:`spreadwatch.air.forecast.AirForecast.table`);
``air.json``
    the run's summary, written last: a watcher (the home bridge) re-reads the folder when it
    changes, and finds every table of the same run in place.

Each file is written under a temporary name and renamed into place; a forecast not made this
run (``--no-forecast``, or fewer hours than it needs) removes the previous run's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import durable, regions
from spreadwatch.air import exposure as ex
from spreadwatch.air.field import MAX_GAP_HOURS, estimate_field
from spreadwatch.air.forecast import HISTORY_HOURS, HORIZON_HOURS, AirForecaster
from spreadwatch.air.grades import THRESHOLDS
from spreadwatch.air.indoor import (
    DEFAULT_INFILTRATION,
    DEFAULT_OWNERSHIP,
    fit_indoor,
    purifier_readings,
)
from spreadwatch.ingest import Store
from spreadwatch.progress import step

#: Hours of the field a forecast needs: a day of history, then a day's targets to learn from.
MIN_HOURS = HISTORY_HOURS + HORIZON_HOURS + 1


class AirInputError(ValueError):
    """An input the stage needs is missing or unusable (the message says which and why)."""


@dataclass(frozen=True)
class AirSummary:
    """What ``air.json`` holds."""

    first_hour: str
    last_hour: str
    stations: int
    hours_interpolated: int
    kriging_length_km: float
    purifier_readings: int
    indoor_ratio: float
    presence: bool
    pm25_weighted_dynamic: float
    pm25_weighted_static: float
    share_above: dict[str, float]
    forecast_origin: str
    forecast_peak: dict[str, object]
    readings_skipped: int
    notes: list[str]


def assess(
    store_dir: Path,
    flows_dir: Path | None,
    out_dir: Path,
    ownership: float = DEFAULT_OWNERSHIP,
    time_indoors: float = ex.TIME_INDOORS,
    forecast: bool = True,
) -> AirSummary:
    """Run the stage (see the module doc); ``flows_dir`` holds the fusion's ``presence`` and
    ``commuting`` (without them, people are the census at home all day)."""
    with Store(store_dir) as store:
        stations, readings = store.read("air_stations"), store.read("air_readings")
        telemetry, households = store.read("telemetry"), store.read("households")
    if stations is None or readings is None:
        raise AirInputError(
            f"{store_dir}: no air stations or readings; ingest them first "
            "(spreadwatch ingest air_stations FILE, then air_readings FILE)"
        )
    try:
        field = estimate_field(stations, readings)
    except ValueError as exc:  # no hour with enough clean readings
        raise AirInputError(f"{store_dir}: {exc}") from None
    frame = regions.load("sigungu").regions
    census = frame["population"].to_numpy(float)
    hours = field.mean.shape[0]
    with step("air: indoor air and exposure"):
        indoor = None
        if telemetry is not None and households is not None:
            found = purifier_readings(telemetry, households, field.codes)
            indoor = fit_indoor(found, field.mean, field.start, ownership)
        ratio = (
            indoor.ratio(field.mean, field.start)
            if indoor is not None
            else np.full(field.mean.shape, DEFAULT_INFILTRATION)
        )
        presence, commuting = _fusion_tables(flows_dir)
        people = (
            ex.hourly_people(presence, field.start, hours, field.codes, census)
            if presence is not None
            else np.broadcast_to(census, field.mean.shape).copy()
        )
        exposure = ex.Exposure(
            field.start,
            field.codes,
            people,
            census,
            field.mean,
            ex.breathed(field.mean, ratio, time_indoors),
        )
        daily = _daily(exposure, commuting)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(field.table(), out_dir / "field.parquet")
    _write(exposure.table(), out_dir / "exposure.parquet")
    _write(daily, out_dir / "daily.parquet")
    notes = []
    if field.skipped_readings:
        notes.append(
            f"{field.skipped_readings:,} readings before a gap of more than {MAX_GAP_HOURS} "
            f"hours without enough readings left out: the field starts at {field.start} (UTC)"
        )
    if not daily.num_rows:
        notes.append("no whole Korean day in the field: no daily figures")
    peak: dict[str, object] = {}
    origin = ""
    latest = None
    if forecast and hours < MIN_HOURS:
        notes.append(f"no forecast: it needs {MIN_HOURS} hours of the field, this has {hours}")
    elif forecast:
        with step("air: next 24 hours' forecast"):
            latest = AirForecaster(field.mean, field.start).latest()
        _write(latest.table(), out_dir / "forecast.parquet")
        origin = str(latest.origin)
        h, r = np.unravel_index(np.argmax(latest.median), latest.median.shape)
        peak = {"region_code": str(latest.codes[r]), "hours_ahead": int(h) + 1,
                "pm25_median": round(float(latest.median[h, r]), 1)}  # fmt: skip
    if latest is None:
        (out_dir / "forecast.parquet").unlink(missing_ok=True)  # not this run's
    dynamic, static = exposure.weighted()
    summary = AirSummary(
        first_hour=str(field.start),
        last_hour=str(field.hours[-1]),
        stations=int(field.stations_read.max()),
        hours_interpolated=int(field.interpolated.sum()),
        kriging_length_km=round(field.length_km, 1),
        purifier_readings=indoor.readings if indoor is not None else 0,
        indoor_ratio=round(float(np.mean(ratio)), 3),
        presence=presence is not None,
        pm25_weighted_dynamic=round(float(dynamic.mean()), 2),
        pm25_weighted_static=round(float(static.mean()), 2),
        share_above={
            name: round(float(np.mean(daily[f"share_above_{name}"].to_numpy())), 4)
            for name in THRESHOLDS
        }
        if daily.num_rows
        else {},
        forecast_origin=origin,
        forecast_peak=peak,
        readings_skipped=field.skipped_readings,
        notes=notes,
    )
    durable.write_text(out_dir / "air.json", json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def _write(table: pa.Table, path: Path) -> None:
    """``table`` to ``path`` under a temporary name, renamed into place (never half a file)."""
    with durable.written(path) as tmp:
        pq.write_table(table, tmp)


def _fusion_tables(flows_dir: Path | None) -> tuple[pa.Table | None, pa.Table | None]:
    if flows_dir is None:
        return None, None
    tables = []
    for name in ("presence", "commuting"):
        path = flows_dir / f"{name}.parquet"
        tables.append(pq.read_table(path) if path.exists() else None)
    return tables[0], tables[1]


def _daily(exposure: ex.Exposure, commuting: pa.Table | None) -> pa.Table:
    """Per KST date: population-weighted PM2.5 and the shares above the thresholds."""
    breathed = ex.day_parts(exposure.breathed, exposure.start)
    outdoor = ex.day_parts(exposure.outdoor, exposure.start)
    days, n = len(breathed.dates), len(exposure.codes)
    home = np.broadcast_to(np.eye(n), (days, n, n))
    where = (
        ex.commuting_shares(commuting, breathed.dates, exposure.codes, exposure.census)
        if commuting is not None
        else home
    )
    people = exposure.people
    weighted = ex.day_parts(
        (people * exposure.breathed).sum(axis=1, keepdims=True) / people.sum(axis=1, keepdims=True),
        exposure.start,
    )
    static = ex.day_parts(
        (exposure.static.sum(axis=1) / exposure.census.sum())[:, None], exposure.start
    )
    columns: dict[str, object] = {
        "date": pa.array(breathed.dates, pa.date32()),
        "pm25_weighted": np.round(weighted.whole_day()[:, 0], 2),
        "pm25_weighted_static": np.round(static.whole_day()[:, 0], 2),
    }
    for name, threshold in THRESHOLDS.items():
        columns[f"share_above_{name}"] = np.round(
            ex.share_above(breathed, where, exposure.census, threshold), 4
        )
        columns[f"share_above_{name}_static"] = np.round(
            ex.share_above(outdoor, home, exposure.census, threshold), 4
        )
    return pa.table(columns)
