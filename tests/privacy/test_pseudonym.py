"""Pseudonyms are standard HMAC-SHA256 (checked against Python's hmac) under a managed key."""

from __future__ import annotations

import hashlib
import hmac
import stat

import duckdb
import pytest

from spreadwatch.privacy import pseudonym as ps


@pytest.mark.parametrize("key", [b"k" * 16, bytes(range(64)), b"a-long-key" * 20])
def test_sql_hmac_equals_python_hmac(key):
    con = duckdb.connect()
    ids = ["skt:8210000001", "홍길동", "", "x" * 300]
    con.execute("CREATE TABLE t(carrier VARCHAR, id VARCHAR)")
    con.executemany("INSERT INTO t VALUES ('SKT', ?)", [[i] for i in ids])
    expression = ps.hmac_sql(key, "carrier || ':' || id")
    got = [row[0] for row in con.sql(f"SELECT {expression} FROM t").fetchall()]
    want = [hmac.new(key, f"SKT:{i}".encode(), hashlib.sha256).hexdigest()[:16] for i in ids]
    assert got == want == [ps.pseudonym(key, "SKT", i) for i in ids]


def test_key_file_is_created_private_and_stable(tmp_path, monkeypatch):
    monkeypatch.delenv(ps.KEY_ENV, raising=False)
    path = tmp_path / "keys" / "pseudonym.key"
    first = ps.load_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ps.load_key(path) == first


def test_explicit_file_then_environment_then_default_and_validated(tmp_path, monkeypatch):
    monkeypatch.setenv(ps.KEY_ENV, "00" * 20)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ps.load_key() == bytes(20)  # the environment beats the default file
    explicit = ps.load_key(tmp_path / "explicit.key")  # an explicit file beats the environment
    assert explicit != bytes(20) and len(explicit) == 32
    with pytest.raises(ValueError, match="is a folder"):
        ps.load_key(tmp_path)
    monkeypatch.setenv(ps.KEY_ENV, "not hex")
    with pytest.raises(ValueError, match=ps.KEY_ENV):
        ps.load_key()
    monkeypatch.setenv(ps.KEY_ENV, "00" * 4)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ps.load_key()


def test_missing_key_file_is_an_error_when_not_creating(tmp_path, monkeypatch):
    monkeypatch.delenv(ps.KEY_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=r"missing\.key"):
        ps.load_key(tmp_path / "missing.key", create=False)
