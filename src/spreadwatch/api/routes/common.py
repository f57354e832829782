"""What the read endpoints share: routers by tag with their permission, filters, the
workspace and its kept answers, and the regions of Korea."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator

from spreadwatch.api.answers import Answers
from spreadwatch.api.paging import Paging, page, paging, rows
from spreadwatch.api.problems import ApiError
from spreadwatch.api.schemas import (
    Region,
)
from spreadwatch.api.security import needs
from spreadwatch.api.workspace import Workspace


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
air_router = _router("air", "read_public")
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
def regions_frame() -> pd.DataFrame:
    from spreadwatch.regions import to_table

    frame = to_table("sigungu").copy()
    frame["neighbors"] = frame["neighbors"].map(lambda text: text.split() if text else [])
    keep = list(Region.model_fields)
    return frame[keep].sort_values("code").reset_index(drop=True)


@cache
def region_geometry_json(level: str = "sigungu") -> bytes:
    import json

    from spreadwatch.regions import to_geojson

    return json.dumps(to_geojson(level, simplified=True, precision=4)).encode()


@cache
def region_codes() -> frozenset[str]:
    return frozenset(regions_frame()["code"])


@cache
def region_rows() -> dict[str, dict]:
    return {row["code"]: row for row in rows(regions_frame())}


def known_region(code: str | None) -> str | None:
    if code is not None and code not in region_codes():
        raise ApiError(404, "unknown-region", f"{code}: not a si-gun-gu code of 2020")
    return code


async def kept_page(
    request: Request,
    ws: Workspace,
    kept: Answers,
    pages: Paging,
    table: str,
    selected: Callable[[], pd.DataFrame],
) -> Response:
    """A page of the rows ``selected()`` picks from ``table`` (with ``format=csv`` all of
    them), kept until the table's file changes."""
    return await kept.answer(request, ws, (table,), lambda: page(request, selected(), pages))
