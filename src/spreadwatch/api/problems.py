"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has ``type``, ``title``, ``status`` and ``detail``; request
validation errors add ``errors``, one entry per offending field with its location
(``query.limit``, ``body.scenarios[0].intervention[1].reduction``) and what was expected.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from spreadwatch.access import AccessDenied
from spreadwatch.api.workspace import CorruptTable, NotInWorkspace

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://spreadwatch.invalid/problems/"
log = logging.getLogger("spreadwatch.api")


class FieldProblem(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Where: query.limit, path.code, body.scenarios[0].name ...")
    message: str
    value: Any = None


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class ApiError(Exception):
    """An error the API reports with ``status`` and a slug naming its kind."""

    def __init__(self, status: int, slug: str, detail: str, headers: dict | None = None) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.headers = status, slug, detail, headers


def problem(
    request: Request,
    status: int,
    slug: str,
    detail: str,
    errors: list[FieldProblem] | None = None,
    headers: dict | None = None,
) -> JSONResponse:
    body = Problem(
        type=TYPE_BASE + slug,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _where(location: tuple) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


#: Longest invalid value echoed in a 422 answer (a 10 MB body is not sent back).
ECHO_LIMIT = 200


def _plain(value: Any) -> Any:
    """The invalid value as the answer shows it: a plain value, texts cut to :data:`ECHO_LIMIT`
    characters."""
    if isinstance(value, int | float | bool | type(None)):
        return value
    text = value if isinstance(value, str) else str(value)
    if len(text) > ECHO_LIMIT:
        return f"{text[:ECHO_LIMIT]}… ({len(text):,} characters)"
    return text


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(request, exc.status, exc.slug, exc.detail, headers=exc.headers)

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> JSONResponse:
        return problem(request, 403, "forbidden", str(exc))

    @app.exception_handler(NotInWorkspace)
    async def _missing(request: Request, exc: NotInWorkspace) -> JSONResponse:
        return problem(request, 404, "not-in-workspace", str(exc))

    @app.exception_handler(CorruptTable)
    async def _corrupt(request: Request, exc: CorruptTable) -> JSONResponse:
        return problem(request, 503, "corrupt-table", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldProblem(
                field=_where(tuple(e.get("loc", ()))),
                message=e.get("msg", "invalid"),
                value=_plain(e.get("input")) if e.get("type") != "missing" else None,
            )
            for e in exc.errors()
        ]
        first = errors[0] if errors else None
        detail = f"{first.field}: {first.message}" if first else "invalid request"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(request, 422, "invalid-request", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(request, exc.status_code, slug, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "internal-error", "the server failed; see its log")
