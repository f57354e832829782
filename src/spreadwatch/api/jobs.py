"""Scenario runs started through the API: queued, run one at a time in a child process,
their progress and results kept on disk (``WORKSPACE/jobs/ID/``).

A job's folder holds ``request.json`` (what was asked), ``status.json`` (state, progress,
times, error; replaced atomically) and, when done, ``result.json`` (summary, national curves
and attack rates by region of the baseline and each scenario). A server that stops with jobs
queued or running queues them again when it starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from spreadwatch import durable
from spreadwatch.model.config import ScenarioEntry

State = Literal["queued", "running", "done", "failed"]
ID_PATTERN = r"^[0-9a-f]{32}$"


class ScenarioRunRequest(BaseModel):
    """Scenarios to compare with the workspace's baseline config (``model/run.toml``)."""

    model_config = {"extra": "forbid"}

    scenarios: list[ScenarioEntry] = Field(min_length=1, max_length=8)
    particles: int = Field(default=50, ge=1, le=1000, description="Paired stochastic particles.")
    days: int | None = Field(default=None, ge=7, le=730, description="Default: the config's.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Random seed of the engine.")


class Job(BaseModel):
    id: str
    state: State
    progress: float = Field(ge=0, le=1)
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    scenarios: list[str]
    particles: int


class SummaryRow(BaseModel):
    scenario: str
    infections: float
    infections_q0_05: float = Field(alias="infections_q0.05")
    infections_q0_95: float = Field(alias="infections_q0.95")
    averted: float
    averted_share: float
    peak_date: str
    peak_shift_days: float
    peak_infections: float
    peak_at_end: bool = Field(
        False,
        description="Most particles peak on the last day: the peak and the averted share "
        "depend on the horizon.",
    )


class CurvePoint(BaseModel):
    scenario: str
    date: str
    mean: float
    q0_05: float = Field(alias="q0.05")
    q0_5: float = Field(alias="q0.5")
    q0_95: float = Field(alias="q0.95")


class AttackRate(BaseModel):
    scenario: str
    region_code: str
    attack_rate: float


class ScenarioResult(BaseModel):
    job: Job
    summary: list[SummaryRow]
    curves: list[CurvePoint]
    attack_rates: list[AttackRate]


class JobsBusy(RuntimeError):
    """Too many jobs waiting."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, body: dict) -> None:
    durable.write_text(path, json.dumps(body, default=str))


def run_config_for(baseline: Path, request: ScenarioRunRequest):
    """The baseline config with the request's scenarios (``ConfigError`` naming the field)."""
    from spreadwatch.configfile import read_mapping
    from spreadwatch.model.config import config_from_mapping

    data = read_mapping(baseline)
    data["scenario"] = [s.model_dump(mode="json", exclude_none=True) for s in request.scenarios]
    run = {**data.get("run", {}), "engine": "stochastic", "random_seed": request.seed}
    run.pop("particles", None)  # the request's particles count
    data["run"] = run if request.days is None else {**run, "days": request.days}
    return config_from_mapping(data, baseline.parent.resolve(), "request")


#: Share of a job's progress bar for loading the model and the regions' inputs.
SETUP_SHARE = 0.15


def execute(folder: Path, baseline: Path) -> None:
    """Run the job in ``folder`` (in a child process): progress to its status file, then the
    result."""
    os.environ["SPREADWATCH_QUIET"] = "1"
    status = json.loads((folder / "status.json").read_text())
    last = [0.0]

    def progress(share: float, now: bool = False) -> None:
        """Write ``share`` (at most twice a second, unless ``now`` or done)."""
        if now or share >= 1 or time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            _write_json(folder / "status.json", {**status, "progress": round(share, 4)})

    progress(0.01, now=True)  # started: the model stack loads next (seconds when cold)
    from spreadwatch.model.scenarios import compare

    request = ScenarioRunRequest.model_validate_json((folder / "request.json").read_text())
    config = run_config_for(baseline, request)
    progress(SETUP_SHARE / 2, now=True)
    posterior = baseline.parent / "calibration" / "posterior.parquet"
    parameters = None
    if posterior.exists():  # project from the calibrated posterior, as the demo does
        from spreadwatch.model.scenarios import posterior_draws

        parameters = posterior_draws(posterior, request.particles, request.seed)
    progress(SETUP_SHARE, now=True)  # loaded; the simulation moves the rest of the way

    def simulated(share: float) -> None:
        progress(SETUP_SHARE + (1 - SETUP_SHARE) * share)

    comparison = compare(config, parameters, request.particles, "request", on_progress=simulated)
    summary = comparison.summary()
    summary["peak_date"] = summary["peak_date"].astype(str)
    curves = comparison.curves()
    curves["date"] = curves["date"].astype(str)
    result = {
        "summary": summary.to_dict(orient="records"),
        "curves": curves[["scenario", "date", "mean", "q0.05", "q0.5", "q0.95"]].to_dict(
            orient="records"
        ),
        "attack_rates": comparison.attack_rates().to_dict(orient="records"),
    }
    _write_json(folder / "result.json", result)


class JobRunner:
    """The queue of scenario runs of one workspace."""

    def __init__(self, folder: Path, baseline: Path, max_waiting: int = 4) -> None:
        self.folder, self.baseline, self.max_waiting = Path(folder), Path(baseline), max_waiting
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        for job in self.jobs():  # left by a server that stopped
            if job.state in ("queued", "running"):
                self._set(job.id, state="queued", progress=0.0, started_at=None)
                self._queue.put(job.id)
        self._thread = threading.Thread(target=self._work, name="scenario-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait(10)
        if self._thread is not None:
            self._queue.put("")
            self._thread.join(10)

    # -- jobs -----------------------------------------------------------------------------------

    def submit(self, request: ScenarioRunRequest) -> Job:
        """Validate the scenarios against the baseline and queue them (``ConfigError``,
        ``FileNotFoundError`` or ``JobsBusy`` when they cannot run)."""
        if not self.baseline.exists():
            raise FileNotFoundError(f"the workspace has no {self.baseline.name} (baseline config)")
        run_config_for(self.baseline, request)
        with self._lock:
            waiting = sum(1 for j in self.jobs() if j.state in ("queued", "running"))
            if waiting >= self.max_waiting:
                raise JobsBusy(f"{waiting} scenario runs are waiting; try again later")
            job = Job(
                id=uuid.uuid4().hex,
                state="queued",
                progress=0.0,
                created_at=_now(),
                scenarios=[s.name for s in request.scenarios],
                particles=request.particles,
            )
            folder = self.folder / job.id
            folder.mkdir(parents=True)
            (folder / "request.json").write_text(request.model_dump_json(exclude_none=True))
            _write_json(folder / "status.json", job.model_dump())
        self._queue.put(job.id)
        return job

    def get(self, job_id: str) -> Job | None:
        path = self.folder / job_id / "status.json"
        try:
            return Job.model_validate_json(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def jobs(self) -> list[Job]:
        if not self.folder.exists():
            return []
        found = [self.get(p.name) for p in self.folder.iterdir() if p.is_dir()]
        return sorted((j for j in found if j is not None), key=lambda j: j.created_at)

    def result(self, job_id: str) -> dict | None:
        path = self.folder / job_id / "result.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _set(self, job_id: str, **changes: object) -> None:
        job = self.get(job_id)
        if job is not None:
            _write_json(self.folder / job_id / "status.json", {**job.model_dump(), **changes})

    def _work(self) -> None:
        while not self._stop.is_set():
            job_id = self._queue.get()
            if not job_id or self._stop.is_set():
                return
            try:
                self._run(job_id)
            except Exception as exc:  # a broken job is marked failed; the queue goes on
                self._set(job_id, state="failed", finished_at=_now(), error=f"runner: {exc}")

    def _run(self, job_id: str) -> None:
        folder = self.folder / job_id
        with open(folder / "run.lock", "w") as lock:
            try:  # another server on the same workspace may be running it
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            job = self.get(job_id)
            if job is None or job.state not in ("queued", "running"):
                return  # done meanwhile (e.g. queued twice)
            self._set(job_id, state="running", started_at=_now())
            errors = folder / "error.txt"
            command = [
                sys.executable,
                "-m",
                "spreadwatch.api.jobs",
                str(folder),
                str(self.baseline),
            ]
            with (folder / "log.txt").open("wb") as log:
                with self._lock:  # stop() either sees this child or stops it being started
                    if self._stop.is_set():
                        return
                    self._child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
                code = self._child.wait()
            self._child = None
            if self._stop.is_set():
                return
            if code == 0 and (folder / "result.json").exists():
                self._set(job_id, state="done", progress=1.0, finished_at=_now())
            else:
                reason = errors.read_text().strip() if errors.exists() else ""
                self._set(
                    job_id,
                    state="failed",
                    finished_at=_now(),
                    error=reason or f"the run stopped (exit code {code}); see log.txt",
                )


def main(argv: list[str]) -> int:
    """``python -m spreadwatch.api.jobs FOLDER BASELINE``: run one job (the runner's child)."""
    folder, baseline = Path(argv[0]), Path(argv[1])
    try:
        execute(folder, baseline)
    except Exception as exc:  # reported in the job's status, not lost
        (folder / "error.txt").write_text(f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
