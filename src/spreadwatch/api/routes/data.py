"""Read endpoints: regions, cases, flows, presence, importations, household signals, Rt,
forecasts, risk levels, the map layer and the alert log."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from functools import cache
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator

from spreadwatch.api.answers import Answers
from spreadwatch.api.paging import CSV, Format, Page, Paging, csv_response, page, paging, rows
from spreadwatch.api.problems import ApiError
from spreadwatch.api.schemas import (
    AlertRecord,
    CaseRow,
    CountryArrivals,
    FanChart,
    ForecastRow,
    HouseholdSignal,
    Importation,
    MapLayer,
    MapMetric,
    NationalSignal,
    OdFlow,
    PresenceRow,
    Region,
    RiskLevel,
    RtRow,
)
from spreadwatch.api.security import needs
from spreadwatch.api.tables import Indexed
from spreadwatch.api.workspace import Workspace
from spreadwatch.forecast.hub import default_model


def _router(tag: str, permission: str) -> APIRouter:
    """The endpoints of one tag, all needing ``permission`` (checked, and for more than the
    public role audited, before anything else of a request)."""
    return APIRouter(prefix="/api/v1", tags=[tag], dependencies=[Depends(needs(permission))])


regions_router = _router("regions", "read_public")
epidemic_router = _router("epidemic", "read_public")
mobility_router = _router("mobility", "read_public")
importation_router = _router("importation", "read_analyst")
households_router = _router("households", "read_analyst")
forecasts_router = _router("forecasts", "read_public")
risk_router = _router("risk", "read_public")
alerts_router = _router("alerts", "read_analyst")
#: Every router of the read endpoints, in the order the API documents them.
ROUTERS = (
    regions_router,
    epidemic_router,
    mobility_router,
    importation_router,
    households_router,
    forecasts_router,
    risk_router,
    alerts_router,
)
Pages = Annotated[Paging, Depends(paging)]
Code = Annotated[str, Path(pattern=r"^\d{5}$", description="5-digit si-gun-gu code.")]
RegionFilter = Annotated[
    str | None, Query(pattern=r"^\d{5}$", description="Only this si-gun-gu (5-digit code).")
]


def iso_date(value: object) -> object:
    """Only ``YYYY-MM-DD`` is a date here (not 1580515200, 0 or 2020-02-01T00:00)."""
    if isinstance(value, str) and not ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DateFilter = Annotated[
    dt.date | None,
    BeforeValidator(iso_date),
    Query(description="Only this date (KST), YYYY-MM-DD."),
]
Start = Annotated[
    dt.date | None, BeforeValidator(iso_date), Query(description="From this date on (KST).")
]
End = Annotated[
    dt.date | None, BeforeValidator(iso_date), Query(description="Up to this date (KST).")
]
Country = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="ISO 3166 alpha-3 code.")]


class Release(StrEnum):
    """Which published version of a flow table: k-anonymous or differentially private."""

    kanon = "kanon"
    dp = "dp"


async def workspace(request: Request) -> Workspace:
    return request.app.state.workspace


Ws = Annotated[Workspace, Depends(workspace)]


async def answers(request: Request) -> Answers:
    return request.app.state.answers


Kept = Annotated[Answers, Depends(answers)]


# -- regions ---------------------------------------------------------------------------------


@cache
def _regions() -> pd.DataFrame:
    from spreadwatch.regions import to_table

    frame = to_table("sigungu").copy()
    frame["neighbors"] = frame["neighbors"].map(lambda text: text.split() if text else [])
    keep = list(Region.model_fields)
    return frame[keep].sort_values("code").reset_index(drop=True)


@cache
def _geometry(level: str = "sigungu") -> bytes:
    import json

    from spreadwatch.regions import to_geojson

    return json.dumps(to_geojson(level, simplified=True, precision=4)).encode()


@cache
def region_codes() -> frozenset[str]:
    return frozenset(_regions()["code"])


@cache
def _region_rows() -> dict[str, dict]:
    return {row["code"]: row for row in rows(_regions())}


def _known(code: str | None) -> str | None:
    if code is not None and code not in region_codes():
        raise ApiError(404, "unknown-region", f"{code}: not a si-gun-gu code of 2020")
    return code


@regions_router.get("/regions", response_model=Page[Region], responses=CSV)
async def list_regions(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    sido: Annotated[str | None, Query(pattern=r"^\d{2}$", description="2-digit sido code.")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=40, description="Part of a name (ko or en).")
    ] = None,
) -> Response:
    """The 229 si-gun-gu: codes, names in Korean and English, population, neighbours."""

    def build() -> dict | Response:
        frame = _regions()
        if sido is not None:
            frame = frame[frame["sido_code"] == sido]
        if q is not None:
            needle = q.casefold()
            named = frame["name_ko"].str.contains(needle, regex=False) | frame[
                "name_en"
            ].str.casefold().str.contains(needle, regex=False)
            frame = frame[named]
        return page(request, frame, pages)

    return await kept.answer(request, ws, (), build)


@regions_router.get(
    "/regions/geometry",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def region_geometry(
    level: Annotated[
        Literal["sigungu", "sido"], Query(description="si-gun-gu (default) or sido polygons.")
    ] = "sigungu",
) -> Response:
    """Simplified WGS84 polygons of the si-gun-gu (or the sido) as GeoJSON (feature id = code)."""
    return Response(
        _geometry(level),
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@regions_router.get(
    "/regions/map.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def region_map_svg() -> Response:
    """Every si-gun-gu as an SVG path (``data-code``) under the sido boundaries: the
    dashboard's map, coloured in the browser (no WebGL, no tiles)."""
    from spreadwatch.report.svg import map_document

    return Response(
        map_document(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@regions_router.get("/regions/{code}", response_model=Region)
async def get_region(code: Code) -> dict:
    _known(code)
    return _region_rows()[code]


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
    return await kept.answer(
        request,
        ws,
        ("cases",),
        lambda: page(request, _cases(ws).select(start=start, end=end, region_code=region), pages),
    )


# -- flows and presence ----------------------------------------------------------------------


def _flows_table(release: Release) -> str:
    return "od_flows" if release is Release.kanon else "dp_od_flows"


def _flows(ws: Workspace, release: Release) -> Indexed:
    return ws.derived(
        _flows_table(release),
        "indexed",
        lambda f: Indexed(f, ["date", "trips"], [True, False], counts=["trips"]),
    )


ReleaseOption = Annotated[
    Release, Query(description="kanon: k-anonymous (suppressed cells null); dp: released with DP.")
]


@mobility_router.get("/od-flows/dates", response_model=list[dt.date])
async def od_flow_dates(
    request: Request,
    ws: Ws,
    kept: Kept,
    release: ReleaseOption = Release.kanon,
    suppressed: Annotated[
        bool, Query(description="false: only dates with at least one unsuppressed flow.")
    ] = True,
) -> Response:
    """The dates the published OD flows cover, oldest first."""

    def build() -> list:
        indexed = _flows(ws, release)
        if suppressed:
            return indexed.dates
        released = indexed.frame.loc[~indexed.frame["suppressed"], "date"]
        return sorted(released.unique())

    return await kept.answer(request, ws, (_flows_table(release),), build)


@mobility_router.get("/od-flows", response_model=Page[OdFlow], responses=CSV)
async def list_od_flows(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    date: DateFilter = None,
    origin: RegionFilter = None,
    dest: RegionFilter = None,
    release: ReleaseOption = Release.kanon,
    suppressed: Annotated[
        bool, Query(description="Include suppressed cells (their trips are null).")
    ] = True,
) -> Response:
    """Daily origin-destination trips as published, strongest first within each date."""

    def build() -> dict | Response:
        frame = _flows(ws, release).select(date=date, origin=origin, dest=dest)
        if not suppressed:
            frame = frame[~frame["suppressed"]]
        return page(request, frame, pages)

    return await kept.answer(request, ws, (_flows_table(release),), build)


@mobility_router.get("/presence", response_model=Page[PresenceRow], responses=CSV)
async def list_presence(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    date: DateFilter = None,
    hour: Annotated[int | None, Query(ge=0, le=23)] = None,
    region: RegionFilter = None,
    release: ReleaseOption = Release.kanon,
) -> Response:
    """People present per region and hour of each day, as published."""
    name = "presence" if release is Release.kanon else "dp_presence"

    def build() -> dict | Response:
        indexed = ws.derived(
            name,
            "indexed",
            lambda f: Indexed(f, ["date", "hour", "region_code"], counts=["people"]),
        )
        return page(request, indexed.select(date=date, hour=hour, region_code=region), pages)

    return await kept.answer(request, ws, (name,), build)


# -- importations and household signals (analyst) --------------------------------------------


def _importations(ws: Workspace) -> Indexed:
    return ws.derived(
        "importations",
        "indexed",
        lambda f: Indexed(f, ["date", "arrivals"], [True, False], counts=["arrivals"]),
    )


@importation_router.get("/importations", response_model=Page[Importation], responses=CSV)
async def list_importations(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    date: DateFilter = None,
    country: Country = None,
    region: RegionFilter = None,
) -> Response:
    """Arrivals from abroad by origin country and home region per day (roaming)."""

    def build() -> dict | Response:
        frame = _importations(ws).select(date=date, country=country, region_code=region)
        return page(request, frame, pages)

    return await kept.answer(request, ws, ("importations",), build)


@importation_router.get("/importations/by-country", response_model=list[CountryArrivals])
async def importations_by_country(
    request: Request, ws: Ws, kept: Kept, start: Start = None, end: End = None
) -> Response:
    """Arrivals per origin country over a period (unsuppressed cells), most first."""

    def build() -> list:
        frame = _importations(ws).select(start=start, end=end)
        frame = frame[~frame["suppressed"]]
        summary = (
            frame.groupby("country")
            .agg(arrivals=("arrivals", "sum"), regions=("region_code", "nunique"))
            .reset_index()
            .sort_values(["arrivals", "country"], ascending=[False, True])
        )
        summary["arrivals"] = summary["arrivals"].astype("int64")
        return rows(summary)

    return await kept.answer(request, ws, ("importations",), build)


def _signals(ws: Workspace) -> Indexed:
    return ws.derived(
        "household_signals",
        "indexed",
        lambda f: Indexed(f, ["date", "region_code"], counts=["households"]),
    )


def _national(frame: pd.DataFrame) -> pd.DataFrame:
    released = frame[~frame["suppressed"].astype(bool)].copy()
    weight = released["households"].astype("float64")
    released["fever_w"] = released["fever_rate"] * weight
    known = released["stay_home_index"].notna()
    released["stay_w"] = released["stay_home_index"].fillna(0) * weight
    released["stay_n"] = weight.where(known, 0)
    daily = released.groupby("date").agg(
        households=("households", "sum"),
        regions=("region_code", "nunique"),
        fever_w=("fever_w", "sum"),
        stay_w=("stay_w", "sum"),
        stay_n=("stay_n", "sum"),
    )
    daily["fever_rate"] = daily["fever_w"] / daily["households"]
    daily["stay_home_index"] = (daily["stay_w"] / daily["stay_n"]).where(daily["stay_n"] > 0)
    daily["households"] = daily["households"].astype("int64")
    daily = daily.reset_index()
    daily["date"] = pd.to_datetime(daily["date"]).dt.date
    return daily[["date", "households", "regions", "fever_rate", "stay_home_index"]]


@households_router.get("/household-signals/national", response_model=list[NationalSignal])
async def national_household_signals(request: Request, ws: Ws, kept: Kept) -> Response:
    """Per day over the released regions: households, and their fever rate and stay-home
    index weighted by households."""
    return await kept.answer(
        request,
        ws,
        ("household_signals",),
        lambda: ws.derived("household_signals", "national", lambda f: rows(_national(f))),
    )


@households_router.get("/household-signals", response_model=Page[HouseholdSignal], responses=CSV)
async def list_household_signals(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    date: DateFilter = None,
    region: RegionFilter = None,
) -> Response:
    """Per region and day: households reporting, stay-home index and fever rate."""

    def build() -> dict | Response:
        frame = _signals(ws).select(date=date, region_code=region)
        frame = frame.assign(
            stay_home_index=frame["stay_home_index"].where(~frame["suppressed"]),
            fever_rate=frame["fever_rate"].where(~frame["suppressed"]),
        )
        return page(request, frame, pages)

    return await kept.answer(request, ws, ("household_signals",), build)


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
    return await kept.answer(
        request,
        ws,
        ("rt",),
        lambda: page(request, _rt(ws).select(start=start, end=end, region_code=region), pages),
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

    def build() -> dict | Response:
        frame = _forecasts(ws).select(location=location, model=model, output_type=output_type)
        return page(request, frame, pages)

    return await kept.answer(request, ws, ("forecasts",), build)


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


def _fan(ws: Workspace, location: str, model: str | None, history_days: int) -> dict:
    indexed = _forecasts(ws)
    models = ws.derived("forecasts", "models", lambda f: sorted(f["model"].unique()))
    if not models:
        raise ApiError(404, "no-forecast", "the forecast table is empty")
    chosen = model or default_model(ws.table("forecasts"), models)
    if chosen not in models:
        raise ApiError(404, "unknown-model", f"model {chosen!r}: expected one of {models}")
    if location != "total" and len(location) == 5:
        _known(location)
    fans = ws.derived("forecasts", "fans", lambda _: {})  # one cache per table version
    if (location, chosen) not in fans:
        fans[(location, chosen)] = _fan_points(indexed.select(location=location, model=chosen))
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

    def build() -> dict | Response:
        frame = _risk(ws).select(date=date, region_code=region, level=level)
        return page(request, frame, pages)

    return await kept.answer(request, ws, ("risk_levels",), build)


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


# -- alerts (analyst) ------------------------------------------------------------------------


@alerts_router.get("/alerts", response_model=Page[AlertRecord], responses=CSV)
async def list_alerts(
    request: Request,
    ws: Ws,
    kept: Kept,
    pages: Pages,
    region: RegionFilter = None,
) -> Response:
    """Alerts the home bridge sent to households, newest first."""

    def build() -> dict | Response:
        frame = ws.table("alerts")
        for column in AlertRecord.model_fields:
            if column not in frame:
                frame = frame.assign(**{column: None})
        frame = frame.iloc[::-1]
        if region is not None:
            frame = frame[frame["region_code"] == region]
        return page(request, frame, pages)

    return await kept.answer(request, ws, ("alerts",), build)
