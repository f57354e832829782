"""Bearer tokens and roles.

A token is 32 random bytes shown once, when it is granted; the registry keeps only its SHA-256,
with the holder's name and role, in ``DIR/tokens.json`` (mode 0600). Roles and what they may
do:

========  ====================================================================
public    published aggregates: regions, risk levels, released flows, forecasts
analyst   public, plus household signals, importations, scenario runs, alert log
tracer    public, plus exposure tracing of a pseudonymous index case
admin     everything, and managing tokens
========  ====================================================================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from spreadwatch import durable

ROLES: dict[str, frozenset[str]] = {
    "public": frozenset({"read_public"}),
    "analyst": frozenset({"read_public", "read_analyst", "run_scenarios"}),
    "tracer": frozenset({"read_public", "trace"}),
    "admin": frozenset({"read_public", "read_analyst", "run_scenarios", "trace", "admin"}),
}
TOKENS_FILE = "tokens.json"
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class AccessError(ValueError):
    """A malformed registry or request (names the file or field)."""


class AccessDenied(PermissionError):
    """A token that is missing, unknown, revoked or whose role lacks the permission."""


@dataclass(frozen=True)
class Grant:
    """One token holder (the token itself is never stored)."""

    name: str
    role: str
    token_sha256: str
    granted_at: str


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` carries ``permission``."""
    return permission in ROLES.get(role, frozenset())


def require(grant: Grant, permission: str) -> Grant:
    """``grant`` if its role carries ``permission``, else ``AccessDenied``."""
    if not allowed(grant.role, permission):
        raise AccessDenied(f"role {grant.role!r} may not {permission.replace('_', ' ')}")
    return grant


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenRegistry:
    """The grants in ``folder/tokens.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / TOKENS_FILE

    def grants(self) -> list[Grant]:
        if not self.path.exists():
            return []
        try:
            rows = json.loads(self.path.read_text())["grants"]
            return [Grant(**row) for row in rows]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise AccessError(f"{self.path}: not a token registry ({exc})") from None

    def _save(self, grants: list[Grant]) -> None:
        body = json.dumps({"grants": [asdict(g) for g in grants]}, indent=2)
        durable.write_text(self.path, body, mode=0o600)

    def grant(self, name: str, role: str) -> str:
        """A new token for ``name`` with ``role`` (replacing any earlier one); returned once."""
        if role not in ROLES:
            raise AccessError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
        if not name or len(name) > 64 or not set(name) <= _NAME_OK:
            raise AccessError(f"name: expected 1-64 letters, digits or . _ - @, got {name!r}")
        token = secrets.token_urlsafe(32)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        kept = [g for g in self.grants() if g.name != name]
        self._save([*kept, Grant(name, role, _digest(token), stamp)])
        return token

    def revoke(self, name: str) -> bool:
        """Remove ``name``'s token; whether there was one."""
        grants = self.grants()
        kept = [g for g in grants if g.name != name]
        if len(kept) != len(grants):
            self._save(kept)
        return len(kept) != len(grants)

    def holder(self, token: str | None) -> Grant:
        """The grant a token belongs to (``AccessDenied`` if none)."""
        if not token:
            raise AccessDenied("no token given")
        digest = _digest(token.strip())
        for grant in self.grants():
            if hmac.compare_digest(grant.token_sha256, digest):
                return grant
        raise AccessDenied("unknown or revoked token")

    def authorise(self, token: str | None, permission: str) -> Grant:
        """The holder of ``token`` if their role carries ``permission``, else ``AccessDenied``."""
        return require(self.holder(token), permission)
