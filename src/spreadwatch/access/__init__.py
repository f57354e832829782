"""Who may do what: bearer tokens with roles, and a tamper-evident audit log of every
restricted request (granted or refused)."""

from spreadwatch.access.audit import AuditLog, AuditRecord
from spreadwatch.access.tokens import (
    ROLES,
    AccessDenied,
    AccessError,
    Grant,
    TokenRegistry,
    allowed,
    require,
)

__all__ = [
    "ROLES",
    "AccessDenied",
    "AccessError",
    "AuditLog",
    "AuditRecord",
    "Grant",
    "TokenRegistry",
    "allowed",
    "require",
]
