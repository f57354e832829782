"""Keyed pseudonyms: HMAC-SHA256 of ``carrier:id`` under a secret key kept outside the data.

The HMAC is computed inside DuckDB (``sha256`` over the standard inner/outer padded key), so raw
identifiers never leave the query engine; :func:`pseudonym` is the same function in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

#: Environment variable holding the key as hex (takes precedence over the key file).
KEY_ENV = "SPREADWATCH_PSEUDONYM_KEY"
#: Hex characters kept from the digest (64 bits: collisions negligible below ~10^8 subscribers).
PSEUDONYM_HEX_CHARS = 16
_BLOCK = 64


def default_key_file() -> Path:
    """Where the key lives unless told otherwise: ``~/.config/spreadwatch/pseudonym.key``."""
    return Path.home() / ".config" / "spreadwatch" / "pseudonym.key"


def load_key(key_file: Path | None = None, create: bool = True) -> bytes:
    """The pseudonymisation key from ``$SPREADWATCH_PSEUDONYM_KEY`` (hex) or a key file.

    A missing key file is created with 32 random bytes and mode 0600 when ``create`` is true.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        try:
            key = bytes.fromhex(env.strip())
        except ValueError as exc:
            raise ValueError(f"{KEY_ENV}: expected a hex string") from exc
        if len(key) < 16:
            raise ValueError(f"{KEY_ENV}: expected at least 16 bytes (32 hex characters)")
        return key
    path = key_file or default_key_file()
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


def pseudonym(key: bytes, carrier: str, identifier: str) -> str:
    """Pseudonym of one identifier (reference implementation of :func:`hmac_sql`)."""
    digest = hmac.new(key, f"{carrier}:{identifier}".encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def hmac_sql(key: bytes, message_sql: str) -> str:
    """DuckDB SQL for the truncated hex HMAC-SHA256 of the VARCHAR expression ``message_sql``."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in padded).hex()
    outer = bytes(b ^ 0x5C for b in padded).hex()
    inner_hash = f"unhex(sha256(unhex('{inner}') || encode({message_sql})))"
    return f"left(sha256(unhex('{outer}') || {inner_hash}), {PSEUDONYM_HEX_CHARS})"
