"""Fine dust: the hourly map layers, a Korean day of them (the animation), the daily
exposure summary and a region's hours with the next day's forecast (``spreadwatch air
assess`` outputs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Query, Request
from fastapi.responses import Response

from spreadwatch.air.grades import grade
from spreadwatch.api.paging import CSV, Page
from spreadwatch.api.problems import ApiError
from spreadwatch.api.routes.common import (
    Code,
    DateFilter,
    Kept,
    Pages,
    Ws,
    air_router,
    kept_page,
    known_region,
)
from spreadwatch.api.schemas import AirDailyRow, AirDay, AirLayerName, AirMap, AirRegion
from spreadwatch.api.workspace import Workspace
from spreadwatch.kst import KST_OFFSET_HOURS

#: Per layer: the table and column it comes from, and its unit.
LAYERS: dict[str, tuple[str, str, str]] = {
    "pm25": ("air_field", "pm25", "PM2.5 outdoors, ug/m3 (kriged)"),
    "breathed": ("air_exposure", "pm25_breathed", "PM2.5 breathed where people are, ug/m3"),
    "people": ("air_exposure", "people", "people present"),
    "exposure": ("air_exposure", "exposure", "people x PM2.5 breathed, person-ug/m3"),
}
#: Hours of a region's past the region endpoint shows.
REGION_HOURS = 72
Layer = Annotated[AirLayerName, Query(description="The layer: pm25, breathed, people, exposure.")]
Hour = Annotated[
    dt.datetime | None,
    Query(description="The hour, ISO 8601 (UTC unless it says otherwise); default the latest."),
]


@dataclass(frozen=True)
class Grid:
    """A layer as ``(hours, regions)`` values, hours ascending (UTC, naive)."""

    hours: pd.DatetimeIndex
    codes: list[str]
    values: np.ndarray


def _grid(ws: Workspace, layer: str) -> Grid:
    name, column, _ = LAYERS[layer]

    def build(frame: pd.DataFrame) -> Grid:
        wide = frame.pivot_table(index="ts", columns="region_code", values=column, aggfunc="first")
        wide = wide.sort_index()
        hours = pd.DatetimeIndex(wide.index).tz_convert("UTC").tz_localize(None)
        return Grid(hours, [str(c) for c in wide.columns], wide.to_numpy(float))

    return ws.derived(name, f"grid:{column}", build)


def _utc(hour: dt.datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(hour)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def _values(codes: list[str], row: np.ndarray) -> dict[str, float]:
    return {c: round(float(v), 2) for c, v in zip(codes, row, strict=True) if v == v}


@air_router.get("/air/map", response_model=AirMap)
async def air_map(
    request: Request, ws: Ws, kept: Kept, layer: Layer = "pm25", hour: Hour = None
) -> Response:
    """One fine-dust layer for every si-gun-gu at one hour (default: the latest), with the
    Korean PM2.5 grade of each."""
    tables = tuple({LAYERS[layer][0], "air_field"})
    return await kept.answer(request, ws, tables, lambda: _map(ws, layer, hour))


def _map(ws: Workspace, layer: str, hour: dt.datetime | None) -> dict:
    grid = _grid(ws, layer)
    if not len(grid.hours):
        raise ApiError(404, "no-data", f"{layer}: no hours in the workspace")
    at = _utc(hour).floor("h") if hour is not None else grid.hours[-1]
    if at not in grid.hours:
        raise ApiError(
            404,
            "no-data",
            f"{layer}: no values at {at:%Y-%m-%dT%H:00}Z (hours {grid.hours[0]:%Y-%m-%dT%H:00}Z "
            f"to {grid.hours[-1]:%Y-%m-%dT%H:00}Z)",
        )
    row = grid.values[grid.hours.get_loc(at)]
    if layer in ("pm25", "breathed"):
        graded = row
    else:
        outdoor = _grid(ws, "pm25")
        graded = outdoor.values[outdoor.hours.get_loc(at)] if at in outdoor.hours else row * np.nan
    grades = {c: int(g) for c, g in zip(grid.codes, grade(graded), strict=True) if g >= 0}
    return {
        "layer": layer,
        "hour": at.tz_localize("UTC"),
        "first_hour": grid.hours[0].tz_localize("UTC"),
        "last_hour": grid.hours[-1].tz_localize("UTC"),
        "unit": LAYERS[layer][2],
        "values": _values(grid.codes, row),
        "grades": grades,
    }


@air_router.get("/air/day", response_model=AirDay)
async def air_day(
    request: Request, ws: Ws, kept: Kept, layer: Layer = "pm25", date: DateFilter = None
) -> Response:
    """One fine-dust layer for every si-gun-gu at each hour of a Korean day (default: the
    latest whole one): what the dashboard animates."""
    return await kept.answer(request, ws, (LAYERS[layer][0],), lambda: _day(ws, layer, date))


def _day(ws: Workspace, layer: str, date: dt.date | None) -> dict:
    grid = _grid(ws, layer)
    local = grid.hours + pd.Timedelta(hours=KST_OFFSET_HOURS)
    counts = pd.Series(local.date).value_counts()
    dates = sorted(d for d, n in counts.items() if n == 24)
    if not dates:
        raise ApiError(404, "no-data", f"{layer}: no whole Korean day in the workspace")
    day = date or dates[-1]
    if day not in dates:
        raise ApiError(
            404, "no-data", f"{layer}: no whole day on {day} ({dates[0]} to {dates[-1]})"
        )
    rows = np.flatnonzero(local.date == day)
    values = {
        code: [round(float(v), 2) if v == v else None for v in grid.values[rows, k]]
        for k, code in enumerate(grid.codes)
    }
    return {
        "layer": layer,
        "date": day,
        "dates": dates,
        "hours": [h.tz_localize("UTC") for h in grid.hours[rows]],
        "unit": LAYERS[layer][2],
        "values": values,
    }


@air_router.get("/air/daily", response_model=Page[AirDailyRow], responses=CSV)
async def air_daily(request: Request, ws: Ws, kept: Kept, pages: Pages) -> Response:
    """Per Korean date: the population-weighted PM2.5 people breathed and the shares of people
    whose day's mean exceeds Korea's standard (35 ug/m3) and the WHO's guideline (15), from
    where people were, and the census-at-home figures beside them."""
    return await kept_page(request, ws, kept, pages, "air_daily", lambda: ws.table("air_daily"))


@air_router.get("/air/regions/{code}", response_model=AirRegion, response_model_by_alias=True)
async def air_region(request: Request, ws: Ws, kept: Kept, code: Code) -> Response:
    """A si-gun-gu's last 72 hours of PM2.5 (kriged, with its standard deviation) and the
    next 24 hours' forecast (median, 50% and 90% bands)."""
    known_region(code)
    return await kept.answer(request, ws, ("air_field", "air_forecast"), lambda: _region(ws, code))


def _region(ws: Workspace, code: str) -> dict:
    field = ws.table("air_field")
    mine = field[field["region_code"] == code].sort_values("ts").tail(REGION_HOURS)
    if mine.empty:
        raise ApiError(404, "no-data", f"{code}: no fine-dust values in the workspace")
    observed = [
        {"ts": r.ts, "pm25": float(r.pm25), "pm25_sd": None if np.isnan(r.pm25_sd) else r.pm25_sd}
        for r in mine.itertuples(index=False)
    ]
    try:
        forecast = ws.table("air_forecast")
    except LookupError:
        forecast = pd.DataFrame(columns=["region_code", "ts"])
    ahead = forecast[forecast["region_code"] == code].sort_values("ts")
    columns = ["ts", "median", "q0.05", "q0.25", "q0.75", "q0.95"]
    return {
        "region_code": code,
        "observed": observed,
        "forecast": [
            dict(zip(columns, row, strict=True)) for row in ahead[columns].itertuples(index=False)
        ],
    }
