"""A persistent privacy-budget ledger: every differentially private release, charged per data set.

One SQLite file holds:

* ``datasets``: ``dataset_id`` (hash of the input files' contents), ``total_budget`` (epsilon per
  subscriber-day over all releases of the data set), ``created_at``;
* ``releases``: one row per released table: ``release_id``, ``dataset_id``, ``table_name``,
  ``epsilon``, ``created_at`` (UTC), ``note``, ``output``, ``params`` (JSON), ``status``
  (``charged``, then ``published`` once the files are visible);
* ``budget_changes``: every change of a data set's total budget (audit trail).

Spent budget is the sum of ``epsilon`` over every row of the data set, published or not
(sequential composition; a charged but unpublished release may have been seen in part, and
counting it is the safe side). A charge runs in one ``BEGIN IMMEDIATE`` transaction: the budget
check and the insert are atomic against other processes, and a release that would take the spent
budget over the total is refused with nothing written.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: Total epsilon per data set unless a budget is given.
DEFAULT_TOTAL_BUDGET = 5.0
#: File name of the default ledger, in the folder that holds the release folder.
LEDGER_NAME = "privacy-ledger.sqlite"
#: Slack for floating-point sums (0.1 + 0.2 must fit a budget of 0.3).
_TOLERANCE = 1e-9

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id   TEXT PRIMARY KEY,
    total_budget REAL NOT NULL CHECK (total_budget > 0),
    created_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id  TEXT NOT NULL,
    dataset_id  TEXT NOT NULL REFERENCES datasets(dataset_id),
    table_name  TEXT NOT NULL,
    epsilon     REAL NOT NULL CHECK (epsilon > 0),
    created_at  TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    output      TEXT NOT NULL DEFAULT '',
    params      TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL DEFAULT 'charged'
);
CREATE INDEX IF NOT EXISTS releases_dataset ON releases(dataset_id);
CREATE TABLE IF NOT EXISTS budget_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id  TEXT NOT NULL,
    old_budget  REAL,
    new_budget  REAL NOT NULL,
    changed_at  TEXT NOT NULL
);
"""


class BudgetExceeded(Exception):
    """A release would take a data set's spent budget over its total."""

    def __init__(self, dataset_id: str, spent: float, requested: float, total: float, ledger: Path):
        self.dataset_id = dataset_id
        self.spent = spent
        self.requested = requested
        self.total = total
        self.ledger = ledger
        super().__init__(
            f"privacy budget exceeded for data set {dataset_id}: spent {spent:g} + requested "
            f"{requested:g} = {spent + requested:g} > total {total:g} (ledger {ledger}); "
            "nothing was released"
        )


@dataclass(frozen=True)
class Entry:
    """One charged table of one release."""

    id: int
    release_id: str
    dataset_id: str
    table_name: str
    epsilon: float
    created_at: str
    note: str
    output: str
    params: dict
    status: str


@dataclass(frozen=True)
class Status:
    """A data set's budget: total, spent and what is left."""

    dataset_id: str
    total_budget: float
    spent: float
    releases: int

    @property
    def remaining(self) -> float:
        return max(self.total_budget - self.spent, 0.0)


def default_ledger_path(out_dir: Path) -> Path:
    """The ledger next to a release folder: ``<parent of out_dir>/privacy-ledger.sqlite``, so that
    release folders side by side share one ledger."""
    return Path(out_dir).resolve().parent / LEDGER_NAME


def _check_budget(budget: float) -> float:
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        raise ValueError(f"budget must be a number, got {budget!r}")
    if not math.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a finite number greater than 0, got {budget}")
    return float(budget)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class LedgerError(ValueError):
    """The ledger file cannot be used (not a ledger, unreadable)."""


class Ledger:
    """The privacy-budget ledger in the SQLite file ``path`` (created on the first charge)."""

    def __init__(self, path: Path, timeout: float = 60.0):
        self.path = Path(path)
        self.timeout = timeout

    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(self.path)
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            try:
                con.execute("PRAGMA synchronous = FULL")
                if write:
                    con.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:
                raise LedgerError(f"{self.path}: not a privacy-budget ledger ({exc})") from None
            yield con
        finally:
            con.close()

    # ---- reading

    def _status(self, con: sqlite3.Connection, dataset_id: str) -> tuple[float | None, float, int]:
        row = con.execute(
            "SELECT total_budget FROM datasets WHERE dataset_id = ?", (dataset_id,)
        ).fetchone()
        epsilons = [
            r[0]
            for r in con.execute("SELECT epsilon FROM releases WHERE dataset_id = ?", (dataset_id,))
        ]
        return (row[0] if row else None), math.fsum(epsilons), len(epsilons)

    def status(self, dataset_id: str) -> Status:
        """Total, spent and number of charged tables of ``dataset_id``."""
        if not self.path.exists():
            return Status(dataset_id, DEFAULT_TOTAL_BUDGET, 0.0, 0)
        with self._connect(write=False) as con:
            total, spent, count = self._status(con, dataset_id)
        return Status(dataset_id, DEFAULT_TOTAL_BUDGET if total is None else total, spent, count)

    def spent(self, dataset_id: str) -> float:
        return self.status(dataset_id).spent

    def entries(self, dataset_id: str | None = None) -> list[Entry]:
        """Every charged table, oldest first (of one data set when ``dataset_id`` is given)."""
        if not self.path.exists():
            return []
        query = (
            "SELECT id, release_id, dataset_id, table_name, epsilon, created_at, note, output, "
            "params, status FROM releases"
        )
        args: tuple = ()
        if dataset_id is not None:
            query += " WHERE dataset_id = ?"
            args = (dataset_id,)
        with self._connect(write=False) as con:
            rows = con.execute(query + " ORDER BY id", args).fetchall()
        return [Entry(*r[:8], json.loads(r[8]), r[9]) for r in rows]  # type: ignore[misc]

    def datasets(self) -> list[Status]:
        """The budget of every data set in the ledger."""
        if not self.path.exists():
            return []
        with self._connect(write=False) as con:
            ids = [r[0] for r in con.execute("SELECT dataset_id FROM datasets ORDER BY created_at")]
            out = []
            for dataset_id in ids:
                total, spent, count = self._status(con, dataset_id)
                out.append(Status(dataset_id, total or DEFAULT_TOTAL_BUDGET, spent, count))
        return out

    def check(self, dataset_id: str, epsilon: float, budget: float | None = None) -> Status:
        """Raise :class:`BudgetExceeded` if ``epsilon`` more would exceed the budget (the stored
        total, or ``budget`` when given). Writes nothing, creates no file."""
        requested = check_epsilon(epsilon)
        status = self.status(dataset_id)
        total = status.total_budget if budget is None else _check_budget(budget)
        if status.spent + requested > total + _TOLERANCE:
            raise BudgetExceeded(dataset_id, status.spent, requested, total, self.path)
        return status

    # ---- writing

    def charge(
        self,
        dataset_id: str,
        epsilons: Mapping[str, float],
        budget: float | None = None,
        note: str = "",
        release_id: str = "",
        output: str = "",
        params: dict | None = None,
    ) -> list[Entry]:
        """Charge one release (``epsilons`` by table) to ``dataset_id`` atomically.

        ``budget`` sets the data set's total (recorded in ``budget_changes`` when it changes);
        without it the stored total applies, or :data:`DEFAULT_TOTAL_BUDGET` for a new data set.
        Raises :class:`BudgetExceeded` and writes nothing when the sum would exceed the total.
        """
        if not epsilons:
            raise ValueError("nothing to charge")
        charges = {table: check_epsilon(eps) for table, eps in epsilons.items()}
        requested = math.fsum(charges.values())
        new_total = None if budget is None else _check_budget(budget)
        created = _now()
        params_json = json.dumps(params or {}, sort_keys=True)
        with self._connect(write=True) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                stored, spent, _ = self._status(con, dataset_id)
                total = new_total if new_total is not None else stored
                if total is None:
                    total = DEFAULT_TOTAL_BUDGET
                if spent + requested > total + _TOLERANCE:
                    raise BudgetExceeded(dataset_id, spent, requested, total, self.path)
                if stored is None:
                    con.execute(
                        "INSERT INTO datasets VALUES (?, ?, ?)", (dataset_id, total, created)
                    )
                if stored != total:
                    con.execute(
                        "UPDATE datasets SET total_budget = ? WHERE dataset_id = ?",
                        (total, dataset_id),
                    )
                    con.execute(
                        "INSERT INTO budget_changes (dataset_id, old_budget, new_budget, "
                        "changed_at) VALUES (?, ?, ?, ?)",
                        (dataset_id, stored, total, created),
                    )
                ids = []
                for table, eps in charges.items():
                    cursor = con.execute(
                        "INSERT INTO releases (release_id, dataset_id, table_name, epsilon, "
                        "created_at, note, output, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (release_id, dataset_id, table, eps, created, note, output, params_json),
                    )
                    ids.append(cursor.lastrowid)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return [
            Entry(
                i,
                release_id,
                dataset_id,
                t,
                e,
                created,
                note,
                output,
                json.loads(params_json),
                "charged",
            )
            for i, (t, e) in zip(ids, charges.items(), strict=True)
        ]

    def mark_published(self, release_id: str) -> None:
        """Record that a charged release's files are now visible."""
        with self._connect(write=True) as con:
            con.execute(
                "UPDATE releases SET status = 'published' WHERE release_id = ?", (release_id,)
            )


#: The smallest epsilon a release may charge: below it the noise (scale bound / epsilon) is
#: millions of trips on every count, nothing of the data is left, and OpenDP's arithmetic
#: overflows.
MIN_EPSILON = 1e-6


def check_epsilon(epsilon: float) -> float:
    """``epsilon`` as a float; ``ValueError`` unless it is a finite number of at least
    :data:`MIN_EPSILON`."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise ValueError(f"epsilon must be a number, got {epsilon!r}")
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be a finite number greater than 0, got {epsilon}")
    if epsilon < MIN_EPSILON:
        raise ValueError(
            f"epsilon must be at least {MIN_EPSILON:g} (below it the noise would drown every "
            f"count), got {epsilon:g}"
        )
    return float(epsilon)
