"""Messages to households kept on disk until the broker has acknowledged them.

An alert is recorded as announced (``alert_state.json``) as soon as it is published; so that a
bridge killed, or stopped while the broker is down, before the broker's PUBACK does not lose it,
every QoS 1 message goes into the outbox first (SQLite, synchronous commit) and leaves it only
when its PUBACK arrives. A bridge starting again sends what its outbox still holds (at least
once: a message the broker had but did not acknowledge yet may arrive twice).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL
);
"""


class Outbox:
    """Unacknowledged outgoing messages in ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(_SCHEMA)

    def add(self, topic: str, payload: bytes, retain: bool) -> int:
        """Keep a message; returns its id."""
        cursor = self._db.execute(
            "INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, ?)",
            (topic, payload, int(retain)),
        )
        return int(cursor.lastrowid or 0)

    def done(self, ids: list[int]) -> None:
        """Forget messages the broker acknowledged."""
        if ids:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def pending(self) -> list[tuple[int, str, bytes, bool]]:
        """``(id, topic, payload, retain)`` of every message not acknowledged yet, oldest first."""
        rows = self._db.execute("SELECT id, topic, payload, retain FROM outbox ORDER BY id")
        return [(i, t, bytes(p), bool(r)) for i, t, p, r in rows]

    def __len__(self) -> int:
        ((count,),) = self._db.execute("SELECT count(*) FROM outbox").fetchall()
        return int(count)

    def close(self) -> None:
        self._db.close()
