"""Scenario runs: queued through the API, run in a child process, results as the library's."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from spreadwatch.api import create_app
from spreadwatch.api.jobs import ScenarioRunRequest, run_config_for
from spreadwatch.model.scenarios import compare, posterior_draws
from tests.limits import timeout

REQUEST = {
    "scenarios": [
        {
            "name": "work from home",
            "intervention": [
                {"kind": "contacts", "start": "2020-02-05", "reduction": 0.6, "settings": ["all"]}
            ],
        },
        {
            "name": "isolate fast",
            "intervention": [{"kind": "isolation", "start": "2020-02-03", "days": 2}],
        },
    ],
    "particles": 4,
    "days": 30,
    "seed": 5,
}


JOB_TIMEOUT = timeout(3)


def wait_done(client, headers, job_id, timeout=JOB_TIMEOUT) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/scenario-runs/{job_id}", headers=headers).json()
        seen.append(job)
        if job["state"] in ("done", "failed"):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {seen[-1]['state']}")


def test_a_scenario_run_reports_progress_and_the_library_result(client, site):
    analyst = site.headers("analyst")
    started = client.post("/api/v1/scenario-runs", json=REQUEST, headers=analyst)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"/api/v1/scenario-runs/{job['id']}"
    early = client.get(f"/api/v1/scenario-runs/{job['id']}/result", headers=analyst)
    assert early.status_code == 409 or early.json()["job"]["state"] == "done"
    seen = wait_done(client, analyst, job["id"])
    assert seen[-1]["state"] == "done", seen[-1]
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    body = client.get(f"/api/v1/scenario-runs/{job['id']}/result", headers=analyst).json()
    config = run_config_for(site.root / "model" / "run.toml", ScenarioRunRequest(**REQUEST))
    posterior = site.root / "model" / "calibration" / "posterior.parquet"
    assert posterior.exists()  # the workspace's calibration: runs project from its draws
    draws = posterior_draws(posterior, REQUEST["particles"], REQUEST["seed"])
    truth = compare(config, draws, REQUEST["particles"]).summary()
    assert [s["scenario"] for s in body["summary"]] == list(truth["scenario"])
    for row, (_, expected) in zip(body["summary"], truth.iterrows(), strict=True):
        assert row["infections"] == pytest.approx(expected["infections"])
        assert row["averted"] == pytest.approx(expected["averted"])
        assert row["peak_date"] == str(expected["peak_date"].date())
    assert len(body["curves"]) == 3 * REQUEST["days"]
    assert {a["scenario"] for a in body["attack_rates"]} == {
        "baseline",
        "work from home",
        "isolate fast",
    }
    listed = client.get("/api/v1/scenario-runs", headers=analyst).json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_scenarios_are_checked_before_they_are_queued(client, site):
    analyst = site.headers("analyst")
    unknown = {**REQUEST, "scenarios": [{"name": "x", "intervention": [
        {"kind": "mobility", "start": "2020-02-05", "reduction": 0.5, "regions": ["99999"]}
    ]}]}  # fmt: skip
    refused = client.post("/api/v1/scenario-runs", json=unknown, headers=analyst)
    assert refused.status_code == 422
    assert "scenario[0].intervention[0].regions[0]" in refused.json()["detail"]
    wrong_key = {**REQUEST, "scenarios": [{"name": "x", "intervention": [
        {"kind": "isolation", "start": "2020-02-05", "reduction": 0.5}
    ]}]}  # fmt: skip
    invalid = client.post("/api/v1/scenario-runs", json=wrong_key, headers=analyst).json()
    assert invalid["status"] == 422
    assert any(
        e["field"].startswith("body.scenarios[0].intervention[0]") for e in invalid["errors"]
    )
    too_many = client.post(
        "/api/v1/scenario-runs", json={**REQUEST, "particles": 10**6}, headers=analyst
    )
    assert too_many.json()["errors"][0]["field"] == "body.particles"
    huge = client.post(
        "/api/v1/scenario-runs", json={**REQUEST, "particles": "9" * 2_000_000}, headers=analyst
    )
    assert huge.status_code == 422 and len(huge.content) < 5_000  # not echoed back whole
    assert "2,000,000 characters" in huge.json()["errors"][0]["value"]
    assert client.post("/api/v1/scenario-runs", json=REQUEST).status_code == 403
    assert client.get("/api/v1/scenario-runs", headers=analyst).json() == []
    baseline = client.get("/api/v1/scenario-runs/baseline", headers=analyst).json()
    config = (site.root / "model" / "run.toml").read_text()
    assert f"start_date = {baseline['start_date']}" in config
    assert f"days = {baseline['days']}" in config and baseline["regions"] == 229


def test_a_full_queue_answers_429_and_a_restart_runs_what_was_left(site):
    analyst = site.headers("analyst")
    app = create_app(site.root, site.access, max_waiting_jobs=1)
    app.state.jobs.start = lambda: None  # this server never runs its queue
    with TestClient(app) as client:
        first = client.post("/api/v1/scenario-runs", json=REQUEST, headers=analyst)
        assert first.status_code == 202
        busy = client.post("/api/v1/scenario-runs", json=REQUEST, headers=analyst)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "30"
    with TestClient(create_app(site.root, site.access)) as restarted:
        seen = wait_done(restarted, analyst, first.json()["id"])
        assert seen[-1]["state"] == "done"
