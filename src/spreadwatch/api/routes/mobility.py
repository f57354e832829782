"""OD flows, presence, importations, household signals and the alert log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import Query, Request
from fastapi.responses import Response

from spreadwatch.api.paging import CSV, Page, rows
from spreadwatch.api.routes.common import (
    Country,
    DateFilter,
    End,
    Kept,
    Pages,
    RegionFilter,
    Release,
    Start,
    Ws,
    alerts_router,
    households_router,
    importation_router,
    kept_page,
    mobility_router,
)
from spreadwatch.api.schemas import (
    AlertRecord,
    CountryArrivals,
    HouseholdSignal,
    Importation,
    NationalSignal,
    OdFlow,
    PresenceRow,
)
from spreadwatch.api.tables import Indexed
from spreadwatch.api.workspace import Workspace

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

    def selected() -> pd.DataFrame:
        frame = _flows(ws, release).select(date=date, origin=origin, dest=dest)
        if not suppressed:
            frame = frame[~frame["suppressed"]]
        return frame

    return await kept_page(request, ws, kept, pages, _flows_table(release), selected)


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

    def selected() -> pd.DataFrame:
        indexed = ws.derived(
            name,
            "indexed",
            lambda f: Indexed(f, ["date", "hour", "region_code"], counts=["people"]),
        )
        return indexed.select(date=date, hour=hour, region_code=region)

    return await kept_page(request, ws, kept, pages, name, selected)


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

    def selected() -> pd.DataFrame:
        frame = _importations(ws).select(date=date, country=country, region_code=region)
        return frame

    return await kept_page(request, ws, kept, pages, "importations", selected)


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

    def selected() -> pd.DataFrame:
        frame = _signals(ws).select(date=date, region_code=region)
        frame = frame.assign(
            stay_home_index=frame["stay_home_index"].where(~frame["suppressed"]),
            fever_rate=frame["fever_rate"].where(~frame["suppressed"]),
        )
        return frame

    return await kept_page(request, ws, kept, pages, "household_signals", selected)


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

    def selected() -> pd.DataFrame:
        frame = ws.table("alerts")
        for column in AlertRecord.model_fields:
            if column not in frame:
                frame = frame.assign(**{column: None})
        frame = frame.iloc[::-1]
        if region is not None:
            frame = frame[frame["region_code"] == region]
        return frame

    return await kept_page(request, ws, kept, pages, "alerts", selected)
