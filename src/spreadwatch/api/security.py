"""Bearer-token authentication with the roles of :mod:`spreadwatch.access`, and auditing.

A request without an ``Authorization`` header is an anonymous member of the public role
(unless the server requires tokens); a header with an unknown or revoked token is refused with
401. Endpoints beyond the public role are audited: every request to them, granted or refused,
is appended to the hash-chained audit log before it is answered.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from spreadwatch.access import ROLES, AccessError, AuditLog, Grant, TokenRegistry, allowed
from spreadwatch.api.problems import ApiError

PUBLIC = "read_public"
bearer = HTTPBearer(auto_error=False, description="A token of `spreadwatch access grant`.")


@dataclass(frozen=True)
class Caller:
    """Who is asking: a token holder, or an anonymous member of the public."""

    name: str
    role: str

    @property
    def permissions(self) -> list[str]:
        return sorted(ROLES[self.role])


ANONYMOUS = Caller("anonymous", "public")


class Gatekeeper:
    """Tokens (re-read when the registry file changes) and the audit log of one server."""

    def __init__(self, registry: TokenRegistry, audit: AuditLog, anonymous: bool) -> None:
        self.registry, self.audit, self.anonymous = registry, audit, anonymous
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_digest: dict[str, Grant] = {}

    def _grants(self) -> dict[str, Grant]:
        try:
            stat = self.registry.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            return {}
        with self._lock:
            if stamp != self._stamp:
                try:
                    grants = self.registry.grants()
                except AccessError as exc:
                    raise ApiError(500, "token-registry", str(exc)) from exc
                self._by_digest = {g.token_sha256: g for g in grants}
                self._stamp = stamp
            return self._by_digest

    def identify(self, token: str | None) -> Caller:
        """The caller a token belongs to (401 ``ApiError`` if it belongs to no one)."""
        challenge = {"WWW-Authenticate": 'Bearer realm="spreadwatch"'}
        if not token:
            if self.anonymous:
                return ANONYMOUS
            raise ApiError(401, "unauthorized", "this server needs a bearer token", challenge)
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        for known, grant in self._grants().items():
            if hmac.compare_digest(known, digest):
                return Caller(grant.name, grant.role)
        challenge["WWW-Authenticate"] += ', error="invalid_token"'
        raise ApiError(401, "unauthorized", "unknown or revoked token", challenge)

    def record(self, caller: Caller, action: str, params: dict, outcome: str) -> None:
        """Append to the audit log; a log that cannot be written refuses the request."""
        try:
            self.audit.append(caller.name, caller.role, action, params, outcome)
        except (OSError, ValueError) as exc:
            raise ApiError(503, "audit-unavailable", f"cannot write the audit log: {exc}") from exc


async def gatekeeper(request: Request) -> Gatekeeper:
    return request.app.state.gatekeeper


def _params(request: Request) -> dict:
    """The request's path and query parameters, as audited."""
    params = {key: value for key, value in request.path_params.items()}
    params.update({f"query.{key}": value for key, value in request.query_params.items()})
    return params


def needs(permission: str, outcome_by_handler: bool = False) -> Callable[..., Caller]:
    """A dependency: the caller, if their role carries ``permission`` (else 401 or 403).

    Requests needing more than the public role are audited (action = the route's name): the
    decision is recorded here, or, with ``outcome_by_handler``, the handler records the
    outcome itself with :func:`audit_outcome` (refusals are always recorded here)."""

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        gate: Gatekeeper = Depends(gatekeeper),  # noqa: B008
    ) -> Caller:
        audited = permission != PUBLIC
        action = getattr(request.scope.get("route"), "name", request.url.path)
        try:
            if credentials is None and request.headers.get("authorization") is not None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "malformed Authorization header: expected 'Bearer TOKEN'",
                    {"WWW-Authenticate": 'Bearer realm="spreadwatch", error="invalid_request"'},
                )
            caller = gate.identify(credentials.credentials if credentials else None)
        except ApiError as exc:
            if audited:
                refused = f"refused: {exc}"
                await run_in_threadpool(
                    gate.record, Caller("unknown", "none"), action, _params(request), refused
                )
            raise
        if not allowed(caller.role, permission):
            detail = f"role {caller.role!r} may not {permission.replace('_', ' ')}"
            if audited:
                await run_in_threadpool(
                    gate.record, caller, action, _params(request), f"refused: {detail}"
                )
            raise ApiError(403, "forbidden", detail)
        if audited and outcome_by_handler:
            request.state.audit = (caller, action, _params(request))
        elif audited:
            await run_in_threadpool(gate.record, caller, action, _params(request), "granted")
        return caller

    dependency.permission = permission  # type: ignore[attr-defined]  (read by the OpenAPI)
    return dependency


def audit_outcome(request: Request, outcome: str, body: dict | None = None) -> None:
    """Record the outcome of an audited request that was granted (with the request body's
    fields, when given, beside the URL's)."""
    pending = getattr(request.state, "audit", None)
    if pending is not None:
        caller, action, params = pending
        params = {**params, **{f"body.{k}": v for k, v in (body or {}).items()}}
        request.app.state.gatekeeper.record(caller, action, params, outcome)
        request.state.audit = None
