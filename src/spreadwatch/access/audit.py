"""An append-only, hash-chained audit log (``DIR/audit.jsonl``).

Each line is one JSON record (ASCII) carrying the SHA-256 of the line before it and its own
hash, so editing or deleting a line breaks the chain at that point, which
:meth:`AuditLog.verify` reports. The chain is not keyed: cutting lines off the end, or rewriting
the whole file, is not detected; keep a copy of the last hash elsewhere to detect those.
Appends take an exclusive lock and are flushed to disk before the request is answered.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.jsonl"
_GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """One audited request."""

    at: str
    actor: str
    role: str
    action: str
    params: dict[str, Any]
    outcome: str
    prev: str
    hash: str


def _hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _last_hash(fh: Any) -> str:
    """The hash on the last line of an open binary file (the genesis hash if empty)."""
    end = fh.seek(0, os.SEEK_END)
    block = 4096
    while True:
        start = max(0, end - block)
        fh.seek(start)
        tail = fh.read(end - start).rstrip(b"\n")
        if not tail:
            return _GENESIS
        if b"\n" in tail or start == 0:
            last = tail.rsplit(b"\n", 1)[-1]
            try:
                return json.loads(last)["hash"]
            except (ValueError, KeyError, TypeError, RecursionError):
                raise ValueError("the audit log's last line is not an audit record") from None
        block *= 4


def _is_record(line: bytes) -> bool:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(row, dict) and "hash" in row and "prev" in row


class AuditLog:
    """The audit log in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / AUDIT_FILE

    def append(
        self, actor: str, role: str, action: str, params: dict[str, Any], outcome: str
    ) -> AuditRecord:
        """Record one request; returns the record as written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "rb+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                body = {
                    "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "actor": actor,
                    "role": role,
                    "action": action,
                    "params": params,
                    "outcome": outcome,
                    "prev": _last_hash(fh),
                }
                record = AuditRecord(**body, hash=_hash(body))
                line = json.dumps({**body, "hash": record.hash}) + "\n"  # ASCII: one record a line
                fh.write(line.encode())
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return record

    def records(self, skip_unreadable: bool = False) -> list[AuditRecord]:
        """Every record, oldest first. A line that is not a record is an error, or, with
        ``skip_unreadable``, left out (:meth:`verify` says where the chain breaks)."""
        if not self.path.exists():
            return []
        records = []
        for number, line in enumerate(self.path.read_text().split("\n"), start=1):
            if line.strip():
                try:
                    records.append(AuditRecord(**json.loads(line)))
                except (ValueError, TypeError) as exc:
                    if skip_unreadable:
                        continue
                    raise ValueError(f"{self.path}:{number}: not an audit record ({exc})") from exc
        return records

    def set_aside_unreadable_tail(self, by: str) -> int:
        """Move the lines after the last record that are not records (a write torn by a crash
        or a full disk) to ``audit.unreadable-<time>.jsonl`` beside the log, and record that in
        the chain (their count, size and SHA-256), so the log takes records again. Returns how
        many lines were set aside (0: nothing to do). A broken line *before* a record is not a
        torn write: ``ValueError`` (it is for :meth:`verify` to report, not to repair)."""
        if not self.path.exists():
            return 0
        fd = os.open(self.path, os.O_RDWR)
        with os.fdopen(fd, "rb+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                lines = fh.read().split(b"\n")
                keep = len(lines)
                while keep and not _is_record(lines[keep - 1]):
                    keep -= 1
                tail = b"\n".join(lines[keep:]).strip(b"\n")
                if not tail:
                    return 0
                if any(not _is_record(line) for line in lines[:keep] if line.strip()):
                    raise ValueError(f"{self.path}: a line before the last record is broken")
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                aside = self.path.with_name(f"audit.unreadable-{stamp}.jsonl")
                aside.write_bytes(tail + b"\n")
                kept = b"\n".join(lines[:keep]) + (b"\n" if keep else b"")
                fh.seek(0)
                fh.write(kept)
                fh.truncate()
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        count = len([line for line in tail.split(b"\n") if line.strip()])
        digest = hashlib.sha256(tail).hexdigest()
        params = {"lines": count, "bytes": len(tail), "sha256": digest, "moved_to": aside.name}
        self.append(by, "admin", "repair-audit-log", params, "set aside an unreadable tail")
        return count

    def verify(self) -> int | None:
        """The 1-based line number where the chain first breaks, or ``None`` if it is whole."""
        if not self.path.exists():
            return None
        prev = _GENESIS
        lines = self.path.read_text().split("\n")
        for number, line in enumerate(lines[:-1] if lines[-1] == "" else lines, start=1):
            try:
                row = json.loads(line)
                claimed = row.pop("hash")
            except (ValueError, KeyError, AttributeError):
                return number
            if row.get("prev") != prev or _hash(row) != claimed:
                return number
            prev = claimed
        return None
