"""Regions: the si-gun-gu, their polygons and the dashboard's map."""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import Query, Request
from fastapi.responses import Response

from spreadwatch.api.paging import CSV, Page, page
from spreadwatch.api.routes.common import (
    Code,
    Kept,
    Pages,
    Ws,
    known_region,
    region_geometry_json,
    region_rows,
    regions_frame,
    regions_router,
)
from spreadwatch.api.schemas import (
    Region,
)


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

    def selected() -> pd.DataFrame:
        frame = regions_frame()
        if sido is not None:
            frame = frame[frame["sido_code"] == sido]
        if q is not None:
            needle = q.casefold()
            named = frame["name_ko"].str.contains(needle, regex=False) | frame[
                "name_en"
            ].str.casefold().str.contains(needle, regex=False)
            frame = frame[named]
        return frame

    return await kept.answer(request, ws, (), lambda: page(request, selected(), pages))


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
        region_geometry_json(level),
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
    known_region(code)
    return region_rows()[code]
