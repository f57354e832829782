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
    """The latest row of a ledger: its number and MAC (``0`` and ``""`` before the first)."""

    seq: int
    mac: str

    def tag(self, key: bytes) -> str:
        """The head's own MAC: only the key holder writes a head that verifies."""
        return hmac.new(key, f"head|{self.seq}|{self.mac}".encode(), hashlib.sha256).hexdigest()


def is_store(path: Path) -> bool:
    """Whether ``path`` is an ingest store (a folder with its manifest)."""
    return Path(path).is_dir() and (Path(path) / _MANIFEST).is_file()


def store_holding(path: Path) -> Path | None:
    """The ingest store ``path`` is, or lies in (a folder of it, one of its files), if any."""
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if is_store(folder):
            return folder
    return None


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
    """Where a ledger's head is kept outside it, signed: the store's manifest, or
    ``<ledger>.head``."""

    def __init__(self, ledger: Path, key: bytes):
        self.ledger = ledger
        self.key = key
        self.store = (
            ledger.parent if ledger.name == LEDGER_NAME and is_store(ledger.parent) else None
        )
        self.file = ledger.with_name(ledger.name + ".head")

    def where(self) -> str:
        return f"{self.store / _MANIFEST}" if self.store else str(self.file)

    def read(self) -> Head | None:
        """The recorded head (``None``: none recorded); :class:`LedgerTampered` when it is not
        one the key holder wrote."""
        if self.store is None:
            if not self.file.exists():
                return None
            try:
                data = json.loads(self.file.read_text())
                found = (int(data["seq"]), str(data["mac"]), str(data["tag"]))
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise LedgerTampered(f"{self.file}: not a ledger head ({exc})") from None
        else:
            with self._manifest() as con:
                try:
                    found = con.execute(
                        "SELECT seq, mac, tag FROM privacy_ledger_head WHERE id = 1"
                    ).fetchone()
                except sqlite3.OperationalError as exc:
                    if "no such table" not in str(exc):
                        raise LedgerError(f"{self.where()}: cannot read the head ({exc})") from None
                    return None  # no release yet
            if found is None:
                return None
        head = Head(int(found[0]), str(found[1]))
        if head.seq < 0 or not hmac.compare_digest(head.tag(self.key), str(found[2])):
            raise LedgerTampered(
                f"{self.where()}: the ledger's head is not one spreadwatch wrote with this key"
            )
        return head

    def write(self, head: Head) -> None:
        tag = head.tag(self.key)
        if self.store is None:
            temp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
            temp.write_text(json.dumps({"seq": head.seq, "mac": head.mac, "tag": tag}))
            durable.replace(temp, self.file)
            return
        with self._manifest() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS privacy_ledger_head (id INTEGER PRIMARY KEY "
                "CHECK (id = 1), seq INTEGER NOT NULL, mac TEXT NOT NULL, tag TEXT NOT NULL)"
            )
            con.execute(
                "INSERT INTO privacy_ledger_head (id, seq, mac, tag) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac, "
                "tag = excluded.tag",
                (head.seq, head.mac, tag),
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
