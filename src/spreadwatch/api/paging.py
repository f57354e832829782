"""Pagination (``limit`` and ``offset``) of table endpoints, and data frames to JSON rows."""

from __future__ import annotations

import math
import typing
from typing import Annotated, Generic, Literal, TypeVar

import numpy as np
import pandas as pd
from fastapi import Query, Request, Response
from pydantic import BaseModel, Field

T = TypeVar("T")
MAX_LIMIT = 1000


class Page(BaseModel, Generic[T]):
    """One page of rows, with the total and the link to the next page."""

    items: list[T]
    total: int = Field(ge=0, description="Rows matching the filters, over all pages.")
    limit: int
    offset: int
    next: str | None = Field(description="URL of the next page, or null on the last.")


Format = Annotated[
    Literal["json", "csv"],
    Query(description="json: one page; csv: every matching row as a CSV file (no paging)."),
]


#: The extra response of endpoints that answer ``format=csv``.
CSV: dict = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


class Paging(BaseModel):
    limit: int
    offset: int
    format: Literal["json", "csv"] = "json"


async def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Rows to skip.")] = 0,
    format: Format = "json",
) -> Paging:
    return Paging(limit=limit, offset=offset, format=format)


def csv_response(frame: pd.DataFrame, name: str) -> Response:
    """``frame`` as a CSV download named ``name``.csv (UTF-8 with a BOM, so that spreadsheet
    programs read Korean names right)."""
    return Response(
        "\ufeff" + frame.to_csv(index=False),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def rows(frame: pd.DataFrame) -> list[dict]:
    """The rows of ``frame`` as dicts of plain values, NaN as ``None``."""
    records = frame.to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, np.generic):
                value = record[key] = value.item()
            if (isinstance(value, float) and not math.isfinite(value)) or value is pd.NaT:
                record[key] = None
    return records


def _item_columns(request: Request) -> list[str] | None:
    """The fields (by alias) of the items of the route's response model, when it is a page."""
    model = getattr(request.scope.get("route"), "response_model", None)
    items = getattr(model, "model_fields", {}).get("items")
    args = typing.get_args(items.annotation) if items is not None else ()
    fields = getattr(args[0], "model_fields", None) if args else None
    if not fields:
        return None
    return [field.alias or name for name, field in fields.items()]


def page(request: Request, frame: pd.DataFrame, paging: Paging) -> dict | Response:
    """A page of ``frame`` (already filtered and sorted) as the body of a :class:`Page`, or
    with ``format=csv`` every row of it as CSV."""
    if paging.format == "csv":
        shown = _item_columns(request)
        if shown is not None:  # exactly the columns the JSON answer shows, nothing more
            frame = frame[[c for c in shown if c in frame.columns]]
        return csv_response(frame, request.url.path.rstrip("/").rsplit("/", 1)[-1])
    total = len(frame)
    window = frame.iloc[paging.offset : paging.offset + paging.limit]
    after = paging.offset + len(window)
    following = (
        str(request.url.include_query_params(offset=after, limit=paging.limit))
        if after < total
        else None
    )
    return {
        "items": rows(window),
        "total": total,
        "limit": paging.limit,
        "offset": paging.offset,
        "next": following,
    }
