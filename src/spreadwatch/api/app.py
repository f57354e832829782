"""The FastAPI application: the REST API under ``/api/v1``, its OpenAPI document and offline
docs, and the operations dashboard at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.routing import Match

from spreadwatch import __version__
from spreadwatch.access import AuditLog, TokenRegistry
from spreadwatch.api import problems
from spreadwatch.api.answers import Answers
from spreadwatch.api.asgi import Send, SendFilter
from spreadwatch.api.jobs import JobRunner
from spreadwatch.api.routes import actions, data
from spreadwatch.api.security import PUBLIC, AuditTrail, Gatekeeper
from spreadwatch.api.workspace import Workspace

WEB = Path(__file__).resolve().parent.parent / "web"
#: The dashboard loads nothing from outside the server.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; child-src 'self' blob:; "
    "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'"
)
DESCRIPTION = """\
Epidemic intelligence for Korea's 229 si-gun-gu: published mobility (k-anonymous or
differentially private), importations, household signals, Rt, forecasts, risk levels,
scenario runs, exposure tracing and the alert log.

Authenticate with `Authorization: Bearer TOKEN` (tokens of `spreadwatch access grant`). Roles:
**public** (anonymous callers too, unless the server requires tokens), **analyst**
(+ importations, household signals, scenario runs, alert log), **tracer** (+ exposure tracing),
**admin** (everything, and the audit log). Requests beyond the public role are audit-logged.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


class DashboardPolicy(SendFilter):
    """ASGI middleware: the dashboard's pages get the content security policy (nothing from
    outside the server); every response gets ``nosniff``."""

    def wrap(self, scope: dict, send: Send) -> Send:
        path = scope["path"]
        extra = [(b"x-content-type-options", b"nosniff")]
        if path == "/" or path.startswith("/app/"):
            extra.append((b"content-security-policy", DASHBOARD_CSP.encode()))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_headers


class AllowedMethods:
    """ASGI middleware: ``OPTIONS`` on a path answers 204 with ``Allow`` naming the methods of
    every route at that path (Starlette alone names those of the first route only)."""

    def __init__(self, app, routes: Callable[[], list]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: dict, receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        methods: set[str] = set()
        for route in _flat(self.routes()):
            if getattr(route, "methods", None) and route.matches(scope)[0] != Match.NONE:
                methods |= set(route.methods)
        if not methods:
            await self.app(scope, receive, send)
            return
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"allow", allow.encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": b""})


def _flat(routes: list) -> list:
    """Routes with included routers opened up."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out += _flat(inner.routes) if inner is not None else [route]
    return out


def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the ``plotly`` Python package."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def create_app(
    workspace: Path,
    access: Path,
    alerts: Path | None = None,
    anonymous: bool = True,
    max_waiting_jobs: int = 4,
    freeze_tables: bool = False,
) -> FastAPI:
    """The app serving ``workspace`` with the tokens and audit log in ``access``
    (``freeze_tables``: for a server process, see :class:`Workspace`)."""
    ws = Workspace(workspace, alerts, freeze_tables)
    jobs = JobRunner(ws.jobs, ws.run_config, max_waiting_jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs.start()
        try:
            yield
        finally:
            jobs.stop()

    app = FastAPIOffline(
        title="spreadwatch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url="/docs-assets",
    )
    app.state.workspace = ws
    app.state.answers = Answers()
    app.state.jobs = jobs
    app.state.gatekeeper = Gatekeeper(TokenRegistry(access), AuditLog(access), anonymous)
    problems.install(app)
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    for router in data.ROUTERS:
        app.include_router(router)
    app.include_router(actions.router)

    app.add_middleware(DashboardPolicy)
    app.add_middleware(AllowedMethods, routes=lambda: app.routes)
    app.add_middleware(AuditTrail)  # outermost of ours: sees the final status

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/app/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        return FileResponse(plotly_js(), headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/api", include_in_schema=False)
    def api_root() -> RedirectResponse:
        return RedirectResponse("/docs")

    app.mount("/app", StaticFiles(directory=WEB), name="app")
    document_errors_and_access(app, anonymous)
    return app


#: Errors any operation may answer, and those of operations beyond the public role.
COMMON_ERRORS = {
    401: "No valid token (or none where the server requires one)",
    404: "Unknown region, job or model, or a table the workspace does not hold",
    422: "Invalid parameters or body: `errors` names each field",
    500: "The server failed",
}
RESTRICTED_ERRORS = {403: "The token's role lacks the permission", 503: "Audit log unwritable"}
EXTRA_ERRORS = {
    "start_scenario_run": {429: "Too many scenario runs waiting"},
    "get_scenario_result": {409: "The run is not done"},
}


def _permission(route: APIRoute) -> str | None:
    for dependency in route.dependant.dependencies:
        permission = getattr(dependency.call, "permission", None)
        if permission is not None:
            return permission
    return None


def document_errors_and_access(app: FastAPI, anonymous: bool) -> None:
    """Complete the OpenAPI document: problem+json error responses per operation, and public
    operations marked as needing no token when anonymous callers are served."""

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        definitions = problems.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schema["components"]["schemas"].update(definitions.pop("$defs", {}))
        schema["components"]["schemas"]["Problem"] = definitions
        problem_ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
        routers = [*data.ROUTERS, actions.router]
        for route in [r for router in routers for r in router.routes]:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            permission = _permission(route)
            errors = dict(COMMON_ERRORS)
            if permission not in (None, PUBLIC):
                errors |= RESTRICTED_ERRORS
            errors |= EXTRA_ERRORS.get(route.name, {})
            for method in route.methods:
                operation = schema["paths"][route.path_format][method.lower()]
                responses = operation.setdefault("responses", {})
                for status, text in errors.items():
                    responses[str(status)] = {
                        "description": text,
                        "content": {problems.PROBLEM_JSON: problem_ref},
                    }
                if permission == PUBLIC and anonymous:
                    operation["security"] = [{}, {"HTTPBearer": []}]
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
