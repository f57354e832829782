"""Where a ledger lives and how it is kept honest: a store's own ledger, the MAC key derived
from the pseudonym key, canonical entry bodies, and the head (the latest entry's number and
MAC) recorded outside the ledger file, in the store's manifest or beside the file."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from spreadwatch import durable

#: File name of the default ledger: in a store, or in the folder that holds the release folder.
LEDGER_NAME = "privacy-ledger.sqlite"


_CONTEXT = b"spreadwatch privacy ledger v1"


_MANIFEST = "manifest.sqlite"


class LedgerError(ValueError):
    """The ledger file cannot be used (not a ledger, unreadable, or a budget change refused)."""


class LedgerTampered(LedgerError):
    """The ledger does not verify: a row changed, removed or added without the key, an older
    copy of the file, or the wrong key."""


@dataclass(frozen=True)
class Head:
    """The latest row of a ledger: its number and MAC."""

    seq: int
    mac: str


def is_store(path: Path) -> bool:
    """Whether ``path`` is an ingest store (a folder with its manifest)."""
    return Path(path).is_dir() and (Path(path) / _MANIFEST).is_file()


def store_ledger_path(store: Path) -> Path:
    """A store's own ledger: its budget lives with its data."""
    return Path(store) / LEDGER_NAME


def ledger_key(pseudonym_key: bytes) -> bytes:
    """The MAC key of ledgers, derived from the pseudonymisation key (kept apart from its use
    on identifiers)."""
    return hmac.new(pseudonym_key, _CONTEXT, hashlib.sha256).digest()


def _canonical(body: Mapping) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _HeadRecord:
    """Where a ledger's head is kept outside it: the store's manifest, or ``<ledger>.head``."""

    def __init__(self, ledger: Path):
        self.ledger = ledger
        self.store = (
            ledger.parent if ledger.name == LEDGER_NAME and is_store(ledger.parent) else None
        )
        self.file = ledger.with_name(ledger.name + ".head")

    def where(self) -> str:
        return f"{self.store / _MANIFEST}" if self.store else str(self.file)

    def read(self) -> Head | None:
        if self.store is None:
            if not self.file.exists():
                return None
            try:
                data = json.loads(self.file.read_text())
                return Head(int(data["seq"]), str(data["mac"]))
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise LedgerTampered(f"{self.file}: not a ledger head ({exc})") from None
        with self._manifest() as con:
            try:
                row = con.execute(
                    "SELECT seq, mac FROM privacy_ledger_head WHERE id = 1"
                ).fetchone()
            except sqlite3.OperationalError:  # no release yet: no such table
                return None
        return Head(int(row[0]), str(row[1])) if row else None

    def write(self, head: Head) -> None:
        if self.store is None:
            temp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
            temp.write_text(json.dumps({"seq": head.seq, "mac": head.mac}))
            durable.replace(temp, self.file)
            return
        with self._manifest() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS privacy_ledger_head (id INTEGER PRIMARY KEY "
                "CHECK (id = 1), seq INTEGER NOT NULL, mac TEXT NOT NULL)"
            )
            con.execute(
                "INSERT INTO privacy_ledger_head (id, seq, mac) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac",
                (head.seq, head.mac),
            )

    @contextmanager
    def _manifest(self) -> Iterator[sqlite3.Connection]:
        assert self.store is not None
        con = sqlite3.connect(self.store / _MANIFEST, timeout=60, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous = FULL")
            yield con
        finally:
            con.close()
