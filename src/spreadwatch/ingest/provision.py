"""MQTT credentials for the households of a platform registry (the home bridge's provisioning).

A household logs in to the broker as its topic id, the pseudonym of ``platform:household_id``
(the ``household_pseudo`` of the store), with a random password. The provisioning file maps each
raw household ID to its credentials: it is what the platforms hand their devices, so it holds
raw IDs and is written only to a secrets folder (mode 0600), never to a store or an output.
"""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.ingest.raw import ROW_NUMBER, RawFileError
from spreadwatch.ingest.readers import expand_paths, iter_chunks
from spreadwatch.ingest.sources import HOUSEHOLDS, NAME_PATTERN
from spreadwatch.privacy.pseudonym import KeyRing, pseudonym

PROVISIONING_COLUMNS = ("platform", "household_id", "username", "password")


@dataclass(frozen=True)
class Credentials:
    """How one household logs in: its topic id (user name) and password."""

    username: str
    password: str


def household_topic_id(keyring: KeyRing, platform: str, household_id: str) -> str:
    """The household's topic id and MQTT user name (equal to its ``household_pseudo``)."""
    return pseudonym(keyring.key, platform, household_id)


def provision(
    registry: Sequence[str | Path], keyring: KeyRing, provisioning_file: Path
) -> list[Credentials]:
    """Credentials for every household of the registry files (the ``households`` contract),
    written with their raw IDs to ``provisioning_file``; returns them without raw IDs.

    A blank platform or household ID is an error naming the file and row."""
    rows: dict[tuple[str, str], Credentials] = {}
    for path in expand_paths(registry):
        for chunk, malformed in iter_chunks(path, HOUSEHOLDS.columns, True):
            if malformed.num_rows:
                first = malformed.to_pylist()[0]
                raise RawFileError(f"{path}: row {first['row_number']}: {first['reason']}")
            platforms = _texts(chunk["platform"])
            ids = _texts(chunk["household_id"])
            numbers = chunk[ROW_NUMBER].to_pylist()
            for platform, household, row in zip(platforms, ids, numbers, strict=True):
                if not NAME_PATTERN.fullmatch(platform):
                    raise RawFileError(
                        f"{path}: row {row}, column platform: expected a platform name like thinq "
                        "(a letter, then letters, digits or _)"
                    )
                if not household:
                    raise RawFileError(f"{path}: row {row}, column household_id: blank")
                if (platform, household) not in rows:
                    rows[platform, household] = Credentials(
                        household_topic_id(keyring, platform, household),
                        secrets.token_urlsafe(18),
                    )
    provisioning_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(provisioning_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(PROVISIONING_COLUMNS)
        for (platform, household), cred in rows.items():
            writer.writerow([platform, household, cred.username, cred.password])
    return list(rows.values())


def _texts(column: pa.ChunkedArray) -> list[str]:
    return [v.strip() for v in pc.cast(column, pa.string()).fill_null("").to_pylist()]
