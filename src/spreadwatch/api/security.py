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
from spreadwatch.api.asgi import Send, SendFilter
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
        self._stamp: tuple[int, int, int] | None = None
        self._by_digest: dict[str, Grant] = {}

    def _grants(self) -> dict[str, Grant]:
        try:
            stat = self.registry.path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # each save is a new file
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
            repair = ""
            if isinstance(exc, ValueError):  # a torn last line: the log cannot chain on
                repair = " (set the unreadable tail aside: spreadwatch access repair-log)"
            raise ApiError(
                503, "audit-unavailable", f"cannot write the audit log: {exc}{repair}"
            ) from exc


async def gatekeeper(request: Request) -> Gatekeeper:
    return request.app.state.gatekeeper


async def _params(request: Request) -> dict:
    """The request's path and query parameters and, for a JSON body, its plain fields (who is
    traced, how many particles), as audited."""
    params = {key: value for key, value in request.path_params.items()}
    params.update({f"query.{key}": value for key, value in request.query_params.items()})
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            for key, value in body.items():
                if isinstance(value, str | int | float | bool) or value is None:
                    params[f"body.{key}"] = value if not isinstance(value, str) else value[:200]
                elif isinstance(value, list):
                    names = [v.get("name") for v in value if isinstance(v, dict)]
                    params[f"body.{key}"] = [str(n)[:80] for n in names if n is not None]
    return params


def needs(permission: str) -> Callable[..., Caller]:
    """A dependency: the caller, if their role carries ``permission`` (else 401 or 403).

    Requests needing more than the public role are audited (action = the route's name), and so
    is a refused token on any endpoint: a refusal is recorded here; a granted request is
    recorded by :class:`AuditTrail` when its answer starts, with the status and what the
    handler noted (:func:`note`)."""

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
            # a refused token is a security event wherever it is presented, public data too
            if audited or request.headers.get("authorization") is not None:
                params = await _params(request)
                unknown = Caller("unknown", "none")
                await run_in_threadpool(gate.record, unknown, action, params, f"refused: {exc}")
            raise
        if not allowed(caller.role, permission):
            detail = f"role {caller.role!r} may not {permission.replace('_', ' ')}"
            if audited:
                params = await _params(request)
                await run_in_threadpool(gate.record, caller, action, params, f"refused: {detail}")
            raise ApiError(403, "forbidden", detail)
        if audited:
            request.state.audit = (caller, action, await _params(request))
        return caller

    dependency.permission = permission  # type: ignore[attr-defined]  (read by the OpenAPI)
    return dependency


def note(request: Request, text: str) -> None:
    """What an audited request did (``12 contacts``), for its audit record."""
    request.state.audit_note = text


class AuditTrail(SendFilter):
    """ASGI middleware: a granted, audited request is recorded when its answer starts, with the
    answer's status (``granted: HTTP 200, 12 contacts`` or ``failed: HTTP 422``); if the log
    cannot be written, the answer becomes 503 instead."""

    def wrap(self, scope: dict, send: Send) -> Send:
        replaced = False

        async def send_after_audit(message: dict) -> None:
            nonlocal replaced
            if replaced:  # the 503 went instead of this answer
                return
            state = scope.get("state") or {}
            pending = state.pop("audit", None) if message["type"] == "http.response.start" else None
            if pending is not None:
                caller, action, params = pending
                status = message["status"]
                outcome = f"{'granted' if status < 400 else 'failed'}: HTTP {status}"
                if state.get("audit_note"):
                    outcome += f", {state['audit_note']}"
                gate: Gatekeeper = scope["app"].state.gatekeeper
                try:
                    await run_in_threadpool(gate.record, caller, action, params, outcome)
                except ApiError as exc:
                    replaced = True
                    await _unavailable(send, str(exc.detail))
                    return
            await send(message)

        return send_after_audit


async def _unavailable(send, detail: str) -> None:
    import json

    body = json.dumps(
        {"type": "https://spreadwatch.invalid/problems/audit-unavailable",
         "title": "Service Unavailable", "status": 503, "detail": detail}
    ).encode()  # fmt: skip
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
