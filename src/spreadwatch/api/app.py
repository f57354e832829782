"""The FastAPI application: the REST API under ``/api/v1``, its OpenAPI document and offline
docs, and the operations dashboard at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from spreadwatch import __version__
from spreadwatch.access import AuditLog, TokenRegistry
from spreadwatch.api import problems
from spreadwatch.api.jobs import JobRunner
from spreadwatch.api.routes import actions, data
from spreadwatch.api.security import Gatekeeper
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
) -> FastAPI:
    """The app serving ``workspace`` with the tokens and audit log in ``access``."""
    ws = Workspace(workspace, alerts)
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
    app.state.jobs = jobs
    app.state.gatekeeper = Gatekeeper(TokenRegistry(access), AuditLog(access), anonymous)
    problems.install(app)
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.include_router(data.router)
    app.include_router(actions.router)

    @app.middleware("http")
    async def dashboard_policy(request: Request, call_next):
        response = await call_next(request)
        path = request.url.path
        if path == "/" or path.startswith("/app/"):
            response.headers["Content-Security-Policy"] = DASHBOARD_CSP
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

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
    return app
