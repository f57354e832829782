"""Keyed pseudonyms: HMAC-SHA256 of ``carrier:id`` under a secret key kept outside the data.

The HMAC is computed inside DuckDB (``sha256`` over the standard inner/outer padded key), so raw
identifiers never leave the query engine; :func:`pseudonym` is the same function in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

#: Environment variable holding the key as hex (takes precedence over the key file).
KEY_ENV = "SPREADWATCH_PSEUDONYM_KEY"
#: Hex characters kept from the digest (64 bits: collisions negligible below ~10^8 subscribers).
PSEUDONYM_HEX_CHARS = 16
_BLOCK = 64


def default_key_file() -> Path:
    """Where the key lives unless told otherwise: ``~/.config/spreadwatch/pseudonym.key``."""
    return Path.home() / ".config" / "spreadwatch" / "pseudonym.key"


def load_key(key_file: Path | None = None, create: bool = True) -> bytes:
    """The pseudonymisation key: from ``key_file`` when given, else ``$SPREADWATCH_PSEUDONYM_KEY``
    (hex), else the default key file.

    A missing key file is created with 32 random bytes and mode 0600 when ``create`` is true.
    """
    env = os.environ.get(KEY_ENV)
    if env and key_file is None:
        try:
            key = bytes.fromhex(env.strip())
        except ValueError as exc:
            raise ValueError(f"{KEY_ENV}: expected a hex string") from exc
        if len(key) < 16:
            raise ValueError(f"{KEY_ENV}: expected at least 16 bytes (32 hex characters)")
        return key
    path = key_file or default_key_file()
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a key file")
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"pseudonym key file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"{path}: expected the key as one line of hex") from exc
    if len(key) < 16:
        raise ValueError(f"{path}: expected at least 16 bytes (32 hex characters)")
    return key


def pseudonym(key: bytes, carrier: str, identifier: str, period: str | None = None) -> str:
    """Pseudonym of one identifier (reference implementation of :func:`hmac_sql`).

    With ``period`` (a label such as ``2020-02`` or ``2020-W06``) the key of that period is used,
    as :class:`KeyRing` does when rotating.
    """
    if period is not None:
        key = period_key(key, period)
    digest = hmac.new(key, f"{carrier}:{identifier}".encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


#: How often pseudonyms change: never, each calendar month, or each ISO week (UTC).
Rotation = Literal["none", "month", "week"]
_PERIOD_SQL: dict[str, str] = {
    "month": "strftime({ts}, '%Y-%m')",
    "week": "strftime({ts}, '%G-W%V')",
}


def period_key(key: bytes, period: str) -> bytes:
    """The key of one rotation period, derived from the master key (HMAC, label as message)."""
    return hmac.new(key, f"spreadwatch-period:{period}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class KeyRing:
    """A master key and a rotation period: the same identifier gets a new pseudonym each period.

    Periods are calendar months (``2020-02``) or ISO weeks (``2020-W06``) of the event time in
    UTC. Only the master key is stored; period keys are derived from it, so rotating needs no
    key management beyond keeping the master key outside the data.
    """

    key: bytes
    rotation: Rotation = "none"

    def period_sql(self, ts_sql: str) -> str | None:
        """SQL for the period label of a timestamp expression (``None`` without rotation)."""
        template = _PERIOD_SQL.get(self.rotation)
        return None if template is None else template.format(ts=ts_sql)

    def period_label(self, ts: datetime) -> str | None:
        """The period label of one UTC time (``None`` without rotation), as :meth:`period_sql`."""
        if self.rotation == "none":
            return None
        return ts.strftime(_PERIOD_SQL[self.rotation].split("'")[1])

    def pseudonym_of(self, carrier: str, identifier: str, ts: datetime | None = None) -> str:
        """The pseudonym of one identifier at time ``ts`` (its period's key when rotating)."""
        period = self.period_label(ts) if ts is not None else None
        return pseudonym(self.key, carrier, identifier, period)

    def pseudonym_sql(self, message_sql: str, period_labels: Iterable[str] = ()) -> str:
        """SQL for the pseudonym of ``message_sql``; with rotation, a ``CASE`` over the period
        labels present in the data (a row of another or unknown period gets ``NULL``), reading
        the label from a column named ``_period``."""
        if self.rotation == "none":
            return hmac_sql(self.key, message_sql)
        branches = " ".join(
            f"WHEN '{label}' THEN {hmac_sql(period_key(self.key, label), message_sql)}"
            for label in sorted(set(period_labels))
        )
        return f"CASE _period {branches} END" if branches else "CAST(NULL AS VARCHAR)"


def hmac_sql(key: bytes, message_sql: str) -> str:
    """DuckDB SQL for the truncated hex HMAC-SHA256 of the VARCHAR expression ``message_sql``."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in padded).hex()
    outer = bytes(b ^ 0x5C for b in padded).hex()
    inner_hash = f"unhex(sha256(unhex('{inner}') || encode({message_sql})))"
    return f"left(sha256(unhex('{outer}') || {inner_hash}), {PSEUDONYM_HEX_CHARS})"
