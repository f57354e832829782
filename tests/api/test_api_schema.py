"""Schemathesis against the served OpenAPI document: generated requests to every operation,
as an anonymous caller and as an admin, never get a server error, and every response conforms
to the documented schema (status codes, content types, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from spreadwatch.api import create_app
from tests.api.conftest import make_site

EXAMPLES = 12


@pytest.mark.parametrize("role", [None, "admin"])
def test_no_operation_fails_or_breaks_its_schema(built, tmp_path, role):
    site = make_site(built, tmp_path / "ws")
    app = create_app(site.root, site.access, max_waiting_jobs=2)
    app.state.jobs.start = lambda: None  # generated scenario runs queue but never run
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = site.headers(role)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        try:
            _checker(operation, headers)()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def _checker(operation, headers):
    """A Hypothesis test of one operation. POST bodies are also checked beyond their schema
    (a unique scenario name, a trace window that ends after it starts), so a schema-valid body
    may be refused with 422 there."""
    excluded = [positive_data_acceptance] if operation.method.upper() == "POST" else []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    return check
