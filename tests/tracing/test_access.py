"""Tokens, roles and the audit log, through the library and ``spreadwatch trace`` / ``access``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spreadwatch.access import AccessDenied, AccessError, AuditLog, TokenRegistry, allowed
from spreadwatch.cli import app
from tests.tracing.test_trace import _write_store


def _cli(*args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def test_roles_and_tokens(tmp_path: Path) -> None:
    registry = TokenRegistry(tmp_path)
    tracer = registry.grant("kim", "tracer")
    analyst = registry.grant("lee", "analyst")
    assert registry.authorise(tracer, "trace").name == "kim"
    with pytest.raises(AccessDenied, match="may not trace"):
        registry.authorise(analyst, "trace")
    with pytest.raises(AccessDenied, match="unknown"):
        registry.authorise(tracer + "x", "trace")
    with pytest.raises(AccessDenied, match="no token"):
        registry.authorise(None, "trace")
    assert tracer not in (tmp_path / "tokens.json").read_text()  # only the hash is kept
    assert (tmp_path / "tokens.json").stat().st_mode & 0o077 == 0
    renewed = registry.grant("kim", "tracer")
    with pytest.raises(AccessDenied):
        registry.authorise(tracer, "trace")  # the earlier token is replaced
    assert registry.revoke("kim") and not registry.revoke("kim")
    with pytest.raises(AccessDenied):
        registry.authorise(renewed, "trace")
    with pytest.raises(AccessError, match="role"):
        registry.grant("park", "superuser")
    assert allowed("admin", "trace") and not allowed("public", "read_analyst")


def test_audit_chain_detects_edits(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    for n in range(5):
        log.append("kim", "tracer", "trace", {"n": n}, "granted")
    log.append("unknown", "none", "trace", {"subscriber": "x\u2028y\x85z"}, "refused")
    assert log.verify() is None  # one record a line whatever the parameters hold
    assert [r.params.get("n") for r in log.records()] == [0, 1, 2, 3, 4, None]
    lines = log.path.read_text().splitlines()
    edited = json.loads(lines[2])
    edited["outcome"] = "refused"
    log.path.write_text("\n".join([*lines[:2], json.dumps(edited), *lines[3:]]) + "\n")
    assert log.verify() == 3
    log.path.write_text("\n".join([*lines[:1], *lines[2:]]) + "\n")  # a line removed
    assert log.verify() == 2


def test_trace_command_needs_a_tracer_and_is_audited(tmp_path: Path) -> None:
    store = _write_store(
        tmp_path / "store",
        [("SKT", "A", 0, 0), ("KT", "B", 50, 0)],
        [("SKT", "idx", 60, "A"), ("KT", "met", 120, "B"), ("KT", "met", 400, "B")],
    )
    access = tmp_path / "access"
    token_of = {}
    for name, role in (("kim", "tracer"), ("lee", "analyst")):
        out = _cli("access", "grant", name, "--role", role, "--access", str(access))
        token_of[name] = out.strip().splitlines()[-1]
    args = [
        "trace", str(store), "--subscriber", "idx", "--from", "2020-02-20T18:00",
        "--to", "2020-02-20T19:00", "--access", str(access),
    ]  # fmt: skip
    out = tmp_path / "contacts.parquet"
    _cli(*args, "--out", str(out), env={"SPREADWATCH_TOKEN": token_of["kim"]})
    contacts = pq.read_table(out).to_pylist()
    assert [c["contact_pseudo"] for c in contacts] == ["met"]
    refused = tmp_path / "refused.parquet"
    text = _cli(*args, "--out", str(refused), env={"SPREADWATCH_TOKEN": token_of["lee"]}, code=2)
    assert "may not trace" in text and not refused.exists()
    _cli(*args, "--out", str(refused), env={"SPREADWATCH_TOKEN": ""}, code=2)
    text = _cli(*args[:-4], "--to", "soon", *args[-2:], "--out", str(refused),
                env={"SPREADWATCH_TOKEN": token_of["kim"]}, code=2)  # fmt: skip
    assert "--to: expected a time" in text
    records = AuditLog(access).records()
    traces = [r for r in records if r.action == "trace"]
    assert [(r.actor, r.outcome.split(":")[0]) for r in traces] == [
        ("kim", "granted"),
        ("lee", "refused"),
        ("unknown", "refused"),
        ("kim", "failed"),
    ]
    assert traces[0].params["subscriber"] == "idx"
    assert "hash chain intact" in _cli("access", "audit", "--access", str(access))
    listed = _cli("access", "list", "--access", str(access))
    assert "kim" in listed and "tracer" in listed and token_of["kim"] not in listed
