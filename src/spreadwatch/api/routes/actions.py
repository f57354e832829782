"""Endpoints that do work or hold secrets: scenario runs (analyst), exposure tracing (tracer),
the audit log (admin), and who-am-I / health."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from spreadwatch.api.jobs import ID_PATTERN, Job, JobRunner, JobsBusy, ScenarioResult
from spreadwatch.api.jobs import ScenarioRunRequest as ScenarioRunBody
from spreadwatch.api.paging import CSV, page, rows
from spreadwatch.api.problems import ApiError
from spreadwatch.api.routes.common import Pages, Ws
from spreadwatch.api.schemas import AuditEntry, AuditPage, Health, Me
from spreadwatch.api.security import Caller, needs, note
from spreadwatch.api.workspace import DATASETS

router = APIRouter(prefix="/api/v1")
Public = Annotated[Caller, Depends(needs("read_public"))]
JobId = Annotated[str, Path(pattern=ID_PATTERN, description="Job id (32 hex digits).")]


async def runner(request: Request) -> JobRunner:
    return request.app.state.jobs


Runner = Annotated[JobRunner, Depends(runner)]

# -- who, what -----------------------------------------------------------------------------------


@router.get("/me", response_model=Me, tags=["access"])
async def me(caller: Public) -> dict:
    """The caller's name, role and permissions (anonymous callers are public)."""
    return {"name": caller.name, "role": caller.role, "permissions": caller.permissions}


@router.get("/health", response_model=Health, tags=["access"])
async def health(_: Public, ws: Ws) -> dict:
    """The server is up; which tables the workspace holds."""
    datasets = [
        {
            "name": d.name,
            "available": ws.has(d.name),
            "permission": d.permission,
            "produced_by": d.produced_by,
        }
        for d in DATASETS.values()
    ]
    return {"status": "ok", "workspace": ws.root.name, "datasets": datasets}


# -- scenario runs -------------------------------------------------------------------------------


@router.post(
    "/scenario-runs",
    status_code=202,
    response_model=Job,
    tags=["scenarios"],
    responses={202: {"headers": {"Location": {"schema": {"type": "string"}}}}},
)
def start_scenario_run(
    body: ScenarioRunBody,
    request: Request,
    _: Annotated[Caller, Depends(needs("run_scenarios"))],
    jobs: Runner,
) -> JSONResponse:
    """Queue a comparison of scenarios against the workspace's baseline config; poll the job's
    progress, then fetch its result."""
    from spreadwatch.model.errors import ConfigError

    try:
        job = jobs.submit(body)
    except ConfigError as exc:
        raise ApiError(422, "invalid-scenario", str(exc)) from exc
    except FileNotFoundError as exc:
        raise ApiError(404, "not-in-workspace", str(exc)) from exc
    except JobsBusy as exc:
        raise ApiError(429, "busy", str(exc), {"Retry-After": "30"}) from exc
    location = str(request.url_for("get_scenario_run", job_id=job.id).path)
    return JSONResponse(job.model_dump(), status_code=202, headers={"Location": location})


class Baseline(BaseModel):
    """The run config scenario runs are compared against."""

    start_date: dt.date
    days: int
    regions: int
    interventions: int


@router.get("/scenario-runs/baseline", response_model=Baseline, tags=["scenarios"])
def scenario_baseline(_: Annotated[Caller, Depends(needs("run_scenarios"))], jobs: Runner) -> dict:
    """The baseline config's start, length, regions and its own interventions."""
    from spreadwatch.model import ConfigError, load_config

    if not jobs.baseline.exists():
        raise ApiError(404, "not-in-workspace", f"the workspace has no {jobs.baseline.name}")
    try:
        config = load_config(jobs.baseline)
    except ConfigError as exc:
        raise ApiError(503, "invalid-baseline", str(exc)) from exc
    return {
        "start_date": config.run.start_date,
        "days": config.run.days,
        "regions": config.regions.load().size,
        "interventions": len(config.intervention),
    }


@router.get("/scenario-runs", response_model=list[Job], tags=["scenarios"])
async def list_scenario_runs(
    _: Annotated[Caller, Depends(needs("run_scenarios"))], jobs: Runner
) -> list:
    """Every scenario run of the workspace, oldest first."""
    return [j.model_dump() for j in jobs.jobs()]


def _job(jobs: JobRunner, job_id: str) -> Job:
    job = jobs.get(job_id)
    if job is None:
        raise ApiError(404, "unknown-job", f"no scenario run {job_id}")
    return job


@router.get("/scenario-runs/{job_id}", response_model=Job, tags=["scenarios"])
async def get_scenario_run(
    job_id: JobId, _: Annotated[Caller, Depends(needs("run_scenarios"))], jobs: Runner
) -> dict:
    """A scenario run's state and progress (0 to 1)."""
    return _job(jobs, job_id).model_dump()


@router.get("/scenario-runs/{job_id}/result", response_model=ScenarioResult, tags=["scenarios"])
async def get_scenario_result(
    job_id: JobId, _: Annotated[Caller, Depends(needs("run_scenarios"))], jobs: Runner
) -> dict:
    """Infections averted and peak shift per scenario, national curves, attack rates."""
    job = _job(jobs, job_id)
    result = jobs.result(job_id) if job.state == "done" else None
    if result is None:
        raise ApiError(409, "not-done", f"scenario run {job_id} is {job.state}, not done")
    return {"job": job.model_dump(), **result}


# -- exposure tracing ----------------------------------------------------------------------------


class TraceBody(BaseModel):
    """One exposure-tracing query (times without a zone are Korea time)."""

    model_config = {"extra": "forbid"}

    subscriber: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-:.]+$")
    start: dt.datetime = Field(alias="from")
    end: dt.datetime = Field(alias="to")
    tolerance_min: float = Field(default=15.0, ge=0, le=720)
    radius_m: float = Field(default=250.0, ge=0, le=50_000)
    max_dwell_min: float = Field(default=30.0, ge=1, le=1440)

    @field_validator("start", "end")
    @classmethod
    def _zoned(cls, value: dt.datetime) -> dt.datetime:
        from spreadwatch.tracing import korea_time

        return korea_time(value)


class Contact(BaseModel):
    contact_pseudo: str
    carrier: str
    first_contact: dt.datetime
    last_contact: dt.datetime
    contact_seconds: float
    places: int
    nearest_m: float


class TraceAnswer(BaseModel):
    subscriber: str
    index_stays: int
    index_places: int
    contacts: list[Contact]


@router.post("/traces", response_model=TraceAnswer, tags=["tracing"])
def trace(
    body: TraceBody,
    request: Request,
    _: Annotated[Caller, Depends(needs("trace"))],
    ws: Ws,
) -> dict:
    """Who shared a place with the index case between ``from`` and ``to``, across carriers,
    with contact time. Tracer role; every query is audit-logged with its outcome."""
    from spreadwatch.tracing import TraceError, TraceQuery
    from spreadwatch.tracing import trace as run_trace

    try:
        query = TraceQuery(
            subscriber=body.subscriber,
            start=body.start,
            end=body.end,
            tolerance=dt.timedelta(minutes=body.tolerance_min),
            radius_m=body.radius_m,
            max_dwell=dt.timedelta(minutes=body.max_dwell_min),
        )
        result = run_trace(ws.store, query)
    except TraceError as exc:
        note(request, str(exc))
        raise ApiError(422, "invalid-trace", str(exc)) from exc
    contacts = result.contacts.to_pandas()
    note(request, f"{len(contacts)} contacts")
    return {
        "subscriber": body.subscriber,
        "index_stays": result.index_stays,
        "index_places": result.index_places,
        "contacts": rows(contacts),
    }


# -- audit log -----------------------------------------------------------------------------------


@router.get("/audit", response_model=AuditPage, tags=["access"], responses=CSV)
async def audit(
    request: Request, _: Annotated[Caller, Depends(needs("admin"))], pages: Pages
) -> dict | Response:
    """The audit log, newest first, and whether its hash chain is intact (admin)."""
    log = request.app.state.gatekeeper.audit
    broken, records = await run_in_threadpool(
        lambda: (log.verify(), log.records(skip_unreadable=True))
    )
    frame = pd.DataFrame([asdict(r) for r in records[::-1]], columns=list(AuditEntry.model_fields))
    body = page(request, frame, pages)
    if isinstance(body, Response):  # format=csv
        return body
    return {"chain_intact": broken is None, "broken_at_line": broken, **body}
