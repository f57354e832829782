"""Roles, the audit log and exposure tracing through the API."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from spreadwatch.access import ROLES, AuditLog
from spreadwatch.api import create_app
from spreadwatch.tracing import TraceQuery, trace

#: An endpoint guarded by each permission (GET).
GUARDED = {
    "read_public": "/api/v1/risk-levels?limit=1",
    "read_analyst": "/api/v1/household-signals?limit=1",
    "run_scenarios": "/api/v1/scenario-runs",
    "admin": "/api/v1/audit?limit=1",
}


@pytest.mark.parametrize("role", [None, *ROLES])
def test_each_role_reaches_exactly_its_permissions(client, site, role):
    held = ROLES["public"] if role is None else ROLES[role]
    for permission, url in GUARDED.items():
        response = client.get(url, headers=site.headers(role))
        expected = 200 if permission in held else 403
        assert response.status_code == expected, (role, url, response.text)
    me = client.get("/api/v1/me", headers=site.headers(role)).json()
    assert me["role"] == (role or "public") and set(me["permissions"]) == held


def test_restricted_requests_are_audited_granted_or_refused(client, site):
    client.get("/api/v1/risk-levels?limit=1")  # public: not audited
    client.get("/api/v1/household-signals?limit=3", headers=site.headers("analyst"))
    client.get("/api/v1/household-signals", headers=site.headers("tracer"))
    client.get("/api/v1/alerts", headers={"Authorization": "Bearer forged"})
    forged = client.get("/api/v1/regions?limit=1", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401  # public data, but a forged token is still refused...
    log = AuditLog(site.access)
    assert log.verify() is None
    records = [r for r in log.records() if r.action != "grant"]
    assert [(r.actor, r.action, r.outcome.split(":")[0]) for r in records] == [
        ("analyst-user", "list_household_signals", "granted"),
        ("tracer-user", "list_household_signals", "refused"),
        ("unknown", "list_alerts", "refused"),
        ("unknown", "list_regions", "refused"),  # ... and audited
    ]
    assert records[0].params == {"query.limit": "3"}
    bad = client.get("/api/v1/household-signals?date=someday", headers=site.headers("analyst"))
    assert bad.status_code == 422
    assert log.records()[-1].outcome == "failed: HTTP 422"
    page = client.get("/api/v1/audit?limit=2", headers=site.headers("admin")).json()
    assert page["chain_intact"] and page["total"] == len(log.records()) - 1
    assert page["items"][0]["outcome"] == "failed: HTTP 422"  # newest first
    assert log.records()[-1].action == "audit"  # recorded as it was answered


def test_a_server_that_requires_tokens_refuses_anonymous_callers(site):
    with TestClient(create_app(site.root, site.access, anonymous=False)) as strict:
        refused = strict.get("/api/v1/regions")
        assert refused.status_code == 401 and refused.headers["www-authenticate"]
        assert strict.get("/api/v1/regions", headers=site.headers("public")).status_code == 200


def _busiest_subscriber(site) -> tuple[str, dt.datetime, dt.datetime]:
    events = pq.read_table(site.root / "ingest" / "location").to_pandas()
    pseudo = events["subscriber_pseudo"].value_counts().index[0]
    mine = events[events["subscriber_pseudo"] == pseudo]["ts"]
    return pseudo, mine.min().to_pydatetime(), mine.max().to_pydatetime()


def test_trace_answers_as_the_library_does_and_is_audited(client, site):
    pseudo, start, end = _busiest_subscriber(site)
    body = {"subscriber": pseudo, "from": start.isoformat(), "to": end.isoformat()}
    assert (
        client.post("/api/v1/traces", json=body, headers=site.headers("analyst")).status_code == 403
    )
    answer = client.post("/api/v1/traces", json=body, headers=site.headers("tracer"))
    assert answer.status_code == 200, answer.text
    truth = trace(site.root / "ingest", TraceQuery(pseudo, start, end)).contacts.to_pandas()
    got = answer.json()
    assert got["index_stays"] > 0
    assert sorted(c["contact_pseudo"] for c in got["contacts"]) == sorted(truth["contact_pseudo"])
    seconds = dict(zip(truth["contact_pseudo"], truth["contact_seconds"], strict=True))
    for contact in got["contacts"]:
        assert contact["contact_seconds"] == pytest.approx(seconds[contact["contact_pseudo"]])
    traced = [r for r in AuditLog(site.access).records() if r.action == "trace"]
    assert [r.outcome.split(":")[0] for r in traced] == ["refused", "granted"]
    assert traced[-1].outcome == f"granted: HTTP 200, {len(truth)} contacts"
    assert traced[-1].params["body.subscriber"] == pseudo  # who was traced, and when
    assert dt.datetime.fromisoformat(traced[-1].params["body.from"]) == start
    assert traced[0].params["body.subscriber"] == pseudo  # a refusal names who was asked for
    naive = {**body, "from": "2020-02-03T09:00", "to": "2020-02-03T08:00"}
    failed = client.post("/api/v1/traces", json=naive, headers=site.headers("tracer"))
    assert failed.status_code == 422
    assert AuditLog(site.access).records()[-1].outcome.startswith("failed: HTTP 422, end")
    malformed = client.post(
        "/api/v1/traces", json={**body, "to": "later"}, headers=site.headers("tracer")
    )
    assert malformed.status_code == 422
    last = AuditLog(site.access).records()[-1]
    assert last.outcome == "failed: HTTP 422" and last.params["body.subscriber"] == pseudo


def test_no_raw_identifier_in_any_answer(client, site):
    """Every endpoint's answer, as the most privileged caller, holds only pseudonyms."""
    from tests.e2e.test_demo import TOKEN, _raw_ids

    ids = _raw_ids(site.root / "synth")
    assert len(ids) > 1000
    pseudo, start, end = _busiest_subscriber(site)
    body = {"subscriber": pseudo, "from": start.isoformat(), "to": end.isoformat()}
    texts = [client.post("/api/v1/traces", json=body, headers=site.headers("admin")).text]
    for path in (
        "/api/v1/household-signals?limit=1000",
        "/api/v1/importations?limit=1000",
        "/api/v1/od-flows?limit=1000",
        "/api/v1/presence?limit=1000",
        "/api/v1/cases?limit=1000",
        "/api/v1/risk-levels?limit=1000",
        "/api/v1/audit?limit=1000",
    ):
        response = client.get(path, headers=site.headers("admin"))
        assert response.status_code == 200, path
        texts.append(response.text)
    assert len(texts[0]) > 200, "the trace found contacts to scan"
    found = set(TOKEN.findall("\n".join(texts))) & ids
    assert not found, f"raw identifiers in API answers: {sorted(found)[:5]}"


def test_a_tampered_audit_log_is_reported_not_fatal(client, site):
    client.get("/api/v1/household-signals?limit=1", headers=site.headers("analyst"))
    client.get("/api/v1/household-signals?limit=2", headers=site.headers("analyst"))
    log = AuditLog(site.access)
    lines = log.path.read_text().splitlines()
    lines[1] = lines[1].replace('"actor"', '"who"')
    log.path.write_text("\n".join(lines) + "\n")
    page = client.get("/api/v1/audit", headers=site.headers("admin"))
    assert page.status_code == 200
    body = page.json()
    assert body["chain_intact"] is False and body["broken_at_line"] == 2
    assert body["total"] == len(lines) - 1


def test_an_unwritable_audit_log_refuses_what_it_would_record(client, site):
    log = AuditLog(site.access).path
    log.unlink(missing_ok=True)
    log.mkdir()  # the log cannot be opened for appending
    answer = client.get("/api/v1/household-signals?limit=1", headers=site.headers("analyst"))
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "audit log" in answer.json()["detail"] and "items" not in answer.text
    assert client.get("/api/v1/risk-levels?limit=1").status_code == 200  # public: not audited


def test_a_torn_last_audit_line_is_repaired_by_a_command_and_recorded(client, site, tmp_path):
    """A write torn by a crash leaves a last line that is not a record: audited endpoints
    answer 503 naming the repair; `access repair-log` sets the tail aside, records it in the
    chain, and the endpoints answer again."""
    from typer.testing import CliRunner

    from spreadwatch.cli import app

    analyst = site.headers("analyst")
    client.get("/api/v1/household-signals?limit=1", headers=analyst)
    log = AuditLog(site.access)
    with log.path.open("a") as fh:
        fh.write('{"at": "2020-02-01T00:0')  # torn mid-record
    refused = client.get("/api/v1/household-signals?limit=1", headers=analyst)
    assert refused.status_code == 503 and "spreadwatch access repair-log" in refused.text
    repaired = CliRunner().invoke(app, ["access", "repair-log", "--access", str(site.access)])
    assert repaired.exit_code == 0 and "set aside 1 unreadable line" in repaired.output
    assert log.verify() is None  # the chain continues over the repair
    assert log.records()[-1].action == "repair-audit-log"
    assert client.get("/api/v1/household-signals?limit=1", headers=analyst).status_code == 200
    (aside,) = log.path.parent.glob("audit.unreadable-*.jsonl")
    assert aside.read_text() == '{"at": "2020-02-01T00:0\n'
