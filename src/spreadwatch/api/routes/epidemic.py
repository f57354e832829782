"""Cases, Rt, forecasts (table and fan), risk levels and the map layers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated

import pandas as pd
from fastapi import Path, Query, Request
from fastapi.responses import Response

from spreadwatch.api.paging import CSV, Format, Page, csv_response, rows
from spreadwatch.api.problems import ApiError
from spreadwatch.api.routes.common import (
    DateFilter,
    End,
    Kept,
    Pages,
    RegionFilter,
    Start,
    Ws,
    epidemic_router,
    forecasts_router,
    kept_page,
    known_region,
    risk_router,
)
from spreadwatch.api.schemas import (
    CaseRow,
    FanChart,
    ForecastRow,
    MapLayer,
    MapMetric,
    RiskLevel,
    RtRow,
)
from spreadwatch.api.tables import Indexed
from spreadwatch.api.workspace import Workspace
from spreadwatch.forecast.hub import default_model

# -- cases -------------------------------------------------------------------------------------


def _cases(ws: Workspace) -> Indexed:
    return ws.derived("cases", "indexed", lambda f: Indexed(f, ["date", "region_code"], counts=()))


@epidemic_router.get("/cases", response_model=Page[CaseRow], responses=CSV)
async def list_cases(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    region: RegionFilter = None,
    start: Start = None,
    end: End = None,
) -> Response:
    """Reported confirmed cases per si-gun-gu and day."""
    return await kept_page(
        request,
        ws,
        kept,
        pages,
        "cases",
        lambda: _cases(ws).select(start=start, end=end, region_code=region),
    )


# -- Rt, forecasts, risk ---------------------------------------------------------------------


def _rt(ws: Workspace) -> Indexed:
    return ws.derived("rt", "indexed", lambda f: Indexed(f, ["region_code", "date"]))


@epidemic_router.get("/rt", response_model=Page[RtRow], responses=CSV)
async def list_rt(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    region: Annotated[
        str | None, Query(pattern=r"^(\d{5}|total)$", description="Region code or 'total'.")
    ] = None,
    start: Start = None,
    end: End = None,
) -> Response:
    """Rt by Cori et al.'s method per region (and the total), posterior mean and interval."""
    return await kept_page(
        request,
        ws,
        kept,
        pages,
        "rt",
        lambda: _rt(ws).select(start=start, end=end, region_code=region),
    )


def _forecasts(ws: Workspace) -> Indexed:
    return ws.derived(
        "forecasts",
        "indexed",
        lambda f: Indexed(
            f.assign(target_end_date=pd.to_datetime(f["target_end_date"]).dt.date),
            ["model", "location", "horizon", "output_type", "output_type_id"],
        ),
    )


@forecasts_router.get("/forecasts", response_model=Page[ForecastRow], responses=CSV)
async def list_forecasts(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    location: Annotated[
        str | None,
        Query(
            pattern=r"^(\d{5}|\d{2}|total)$",
            description="Si-gun-gu code, sido code (two digits) or 'total'.",
        ),
    ] = None,
    model: Annotated[str | None, Query(max_length=60)] = None,
    output_type: Annotated[str | None, Query(pattern=r"^(mean|quantile)$")] = None,
) -> Response:
    """The hubverse forecast table: mean and 23 quantiles per model, location and horizon."""
    return await kept_page(
        request,
        ws,
        kept,
        pages,
        "forecasts",
        lambda: _forecasts(ws).select(location=location, model=model, output_type=output_type),
    )


FAN_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


@forecasts_router.get("/forecasts/{location}/fan", response_model=FanChart)
async def forecast_fan(
    request: Request,
    location: Annotated[
        str,
        Path(
            pattern=r"^(\d{5}|\d{2}|total)$",
            description="Si-gun-gu code, sido code (two digits) or 'total'.",
        ),
    ],
    ws: Ws,
    kept: Kept,
    model: Annotated[
        str | None,
        Query(max_length=60, description="Default: the model the forecast table names."),
    ] = None,
    history_days: Annotated[int, Query(ge=0, le=365)] = 28,
) -> Response:
    """One location's forecast as a fan (mean, 50% and 90% bands) after its observed cases."""
    return await kept.answer(
        request,
        ws,
        ("forecasts", "cases"),
        lambda: _fan(ws, location, model, history_days),
    )


@dataclass(frozen=True)
class _Forecasts:
    """One version of the forecast table, whole: its index, models, default model and the fans
    made from it so far (so a fan is never built from one version and kept in another's)."""

    indexed: Indexed
    models: list[str]
    default: str | None
    fans: dict = field(default_factory=dict)


def _forecast_version(frame: pd.DataFrame) -> _Forecasts:
    models = sorted(frame["model"].unique())
    indexed = Indexed(
        frame.assign(target_end_date=pd.to_datetime(frame["target_end_date"]).dt.date),
        ["model", "location", "horizon", "output_type", "output_type_id"],
    )
    return _Forecasts(indexed, models, default_model(frame, models) if models else None)


def _fan(ws: Workspace, location: str, model: str | None, history_days: int) -> dict:
    version = ws.derived("forecasts", "fan version", _forecast_version)
    models = version.models
    if not models:
        raise ApiError(404, "no-forecast", "the forecast table is empty")
    chosen = model or version.default
    if chosen not in models:
        raise ApiError(404, "unknown-model", f"model {chosen!r}: expected one of {models}")
    if location != "total" and len(location) == 5:
        known_region(location)
    fans = version.fans
    if (location, chosen) not in fans:
        selected = version.indexed.select(location=location, model=chosen)
        fans[(location, chosen)] = _fan_points(selected)
    found = fans[(location, chosen)]
    if found is None:
        raise ApiError(404, "no-forecast", f"{location}: no {chosen} forecast")
    origin, points = found
    observed = _observed(ws, location, origin, history_days)
    return {
        "location": location,
        "model": chosen,
        "models": models,
        "origin_date": origin,
        "observed": observed,
        "forecast": points,
    }


def _observed(ws: Workspace, location: str, origin: dt.date, days: int) -> list[dict]:
    """Reported cases of ``location`` in the ``days`` before ``origin`` (none if no cases)."""
    if not days or not ws.has("cases"):
        return []
    if location == "total":
        observed = ws.derived(
            "cases", "total", lambda f: f.groupby("date", as_index=False)["confirmed"].sum()
        )
        observed = observed.assign(date=pd.to_datetime(observed["date"]).dt.date)
    elif len(location) == 2:  # a sido: the sum of its si-gun-gu
        observed = ws.derived(
            "cases",
            f"sido {location}",
            lambda f: (
                f[f["region_code"].astype(str).str.startswith(location)]
                .groupby("date", as_index=False)["confirmed"]
                .sum()
            ),
        )
        observed = observed.assign(date=pd.to_datetime(observed["date"]).dt.date)
    else:
        observed = _cases(ws).select(region_code=location)[["date", "confirmed"]]
    return rows(observed[observed["date"] > origin - dt.timedelta(days=days)])


def _fan_points(frame: pd.DataFrame) -> tuple[dt.date, list[dict]] | None:
    """The origin and, per target date, the mean and the fan's quantiles of one forecast."""
    if frame.empty:
        return None
    means = frame[frame["output_type"] == "mean"].set_index("target_end_date")["value"]
    quantiles = frame[frame["output_type"] == "quantile"]
    points = pd.DataFrame({"mean": means})
    for level in FAN_LEVELS:
        chosen_level = quantiles[(quantiles["output_type_id"] - level).abs() < 1e-9]
        points[f"q{level:g}"] = chosen_level.set_index("target_end_date")["value"]
    points = points.sort_index().rename_axis("date").reset_index()
    return frame["origin_date"].iloc[0], rows(points)


def _risk(ws: Workspace) -> Indexed:
    return ws.derived("risk_levels", "indexed", lambda f: Indexed(f, ["date", "region_code"]))


@risk_router.get("/risk-levels", response_model=Page[RiskLevel], responses=CSV)
async def list_risk_levels(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    date: DateFilter = None,
    region: RegionFilter = None,
    level: Annotated[int | None, Query(ge=1, le=4)] = None,
) -> Response:
    """Risk level 1-4 per region and day with each factor's value and contribution."""
    return await kept_page(
        request,
        ws,
        kept,
        pages,
        "risk_levels",
        lambda: _risk(ws).select(date=date, region_code=region, level=level),
    )


MAP_SOURCES: dict[str, tuple[str, str, str]] = {
    "risk_level": ("risk_levels", "level", "risk level 1-4"),
    "incidence": ("risk_levels", "incidence", "daily cases per 100k, 7-day mean"),
    "rt": ("rt", "mean", "Rt, posterior mean (reliable windows)"),
}


def _map_values(ws: Workspace, metric: str) -> tuple[list[dt.date], dict[dt.date, dict]]:
    name, column, _ = MAP_SOURCES[metric]

    def build(frame: pd.DataFrame) -> tuple[list[dt.date], dict[dt.date, dict]]:
        frame = frame[frame["region_code"].astype(str).str.fullmatch(r"\d{5}")].copy()
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
        values = frame[column].astype("float64")
        if "reliable" in frame:
            values = values.where(frame["reliable"].astype(bool))
        frame["value"] = values.where(values.notna(), None)
        by_date = {
            day: dict(zip(part["region_code"], part["value"], strict=True))
            for day, part in frame.groupby("date")
        }
        return sorted(by_date), by_date

    return ws.derived(name, f"map:{metric}", build)


@risk_router.get("/map/{metric}", response_model=MapLayer, responses=CSV)
async def map_layer(
    request: Request,
    metric: MapMetric,
    ws: Ws,
    kept: Kept,
    date: DateFilter = None,
    format: Format = "json",
) -> Response:
    """One metric for every si-gun-gu on one date (default: the latest); ``format=csv`` gives
    ``region_code, date, value`` as CSV."""
    table = MAP_SOURCES[metric][0]
    return await kept.answer(request, ws, (table,), lambda: _map(ws, metric, date, format))


def _map(ws: Workspace, metric: str, date: dt.date | None, format: str) -> dict | Response:
    dates, by_date = _map_values(ws, metric)
    if not dates:
        raise ApiError(404, "no-data", f"{metric}: no values in the workspace")
    day = date or dates[-1]
    if day not in by_date:
        raise ApiError(404, "no-data", f"{metric}: no values on {day} ({dates[0]} to {dates[-1]})")
    values = {
        code: (None if value is None or value != value else float(value))
        for code, value in by_date[day].items()
    }
    if format == "csv":
        frame = pd.DataFrame({"region_code": list(values), "date": day, metric: values.values()})
        return csv_response(frame, f"{metric}-{day}")
    return {
        "metric": metric,
        "date": day,
        "dates": dates,
        "unit": MAP_SOURCES[metric][2],
        "values": values,
    }
