"""A tamper-evident privacy-budget ledger: every differentially private release, charged per
data set, in a chain of MACs only the key holder can extend.

One SQLite file holds one append-only table, ``log``; each row is one event, in order:

* ``dataset``: a data set's first charge opens its budget (``dataset_id``, ``total_budget``);
* ``charge``: one released table (``release_id``, ``dataset_id``, ``table_name``, ``epsilon``,
  ``note``, ``output``, ``params``);
* ``published``: a charged release's files became visible (``release_id``);
* ``budget``: a change of a data set's total (``old_budget``, ``new_budget``, ``reason``,
  ``by``): raising it is an administrator's explicit act (:meth:`Ledger.set_budget`, the
  ``spreadwatch budget raise`` command), never a side effect of a release.

Every row carries ``mac = HMAC-SHA256(ledger key, previous mac | seq | kind | body)``; the
ledger key is derived from the pseudonymisation key, so only its holder can write rows that
verify. The latest ``(seq, mac)``, the head, is also recorded outside the file: in the store's
manifest when the ledger is a store's (``STORE/privacy-ledger.sqlite``), else in
``<ledger>.head``. The ledger verifies when every MAC matches and the chain reaches the recorded
head (it may go beyond it: a crash between a charge and the head's update leaves rows that only
the key holder could have written). A row changed or removed, an older copy of the file, a
deleted file whose head is still recorded, the wrong key: the ledger does not verify
(:class:`LedgerTampered`, naming the first bad row), and nothing is released.

Spent budget is the sum of ``epsilon`` over the data set's charges, published or not
(sequential composition; a charged but unpublished release may have been seen in part, and
counting it is the safe side). A charge verifies, checks and appends under an exclusive lock
(``<ledger>.lock``) held until the head is recorded: concurrent releases never overspend.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from spreadwatch.release.chain import (
    LEDGER_NAME,
    Head,
    LedgerError,
    LedgerTampered,
    _canonical,
    _HeadRecord,
)

#: Total epsilon per data set unless a budget is given.
DEFAULT_TOTAL_BUDGET = 5.0
#: Slack for floating-point sums (0.1 + 0.2 must fit a budget of 0.3).
_TOLERANCE = 1e-9

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    seq  INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    mac  TEXT NOT NULL
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
    """One charged table of one release; ``id`` is its row in the log."""

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
class BudgetChange:
    """One change of a data set's total: who, when and why."""

    id: int
    dataset_id: str
    old_budget: float | None
    new_budget: float
    changed_at: str
    reason: str
    by: str


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


@dataclass(frozen=True)
class _Row:
    seq: int
    kind: str
    body: dict
    mac: str


class Ledger:
    """The privacy-budget ledger in the SQLite file ``path`` (created on the first charge),
    signed with ``key`` (see :func:`ledger_key`)."""

    def __init__(self, path: Path, key: bytes, timeout: float = 60.0):
        if len(key) < 16:
            raise ValueError("the ledger key must have at least 16 bytes")
        self.path = Path(path)
        self.key = key
        self.timeout = timeout
        self.head_record = _HeadRecord(self.path, key)

    # ---- the chain

    def _mac(self, previous: str, seq: int, kind: str, body: str) -> str:
        message = f"{previous}|{seq}|{kind}|{body}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            try:
                con.execute("PRAGMA synchronous = FULL")
                if write:
                    con.executescript(_SCHEMA)
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            except sqlite3.DatabaseError as exc:
                raise LedgerError(f"{self.path}: not a privacy-budget ledger ({exc})") from None
            if not tables and not write:  # created and never written: an empty ledger
                yield None
                return
            if "log" not in tables:
                raise LedgerError(
                    f"{self.path}: not a privacy-budget ledger of this version (no signed log"
                    + (
                        "; it has unsigned release rows of an earlier version, which cannot be "
                        "verified: keep it as a record and release with a new ledger)"
                        if "releases" in tables
                        else ")"
                    )
                )
            yield con
        finally:
            con.close()

    def _rows(self) -> list[_Row]:
        """Every row, verified: :class:`LedgerTampered` unless the chain is whole and reaches
        the recorded head."""
        head = self.head_record.read()
        if not self.path.exists() or self.path.stat().st_size == 0:
            if head is not None and head.seq > 0:
                raise LedgerTampered(
                    f"{self.path}: the ledger is missing, but {self.head_record.where()} records "
                    f"{head.seq} entries in it; nothing is released until it is restored"
                )
            return []
        with self._connect(write=False) as con:
            raw = (
                []
                if con is None
                else con.execute("SELECT seq, kind, body, mac FROM log ORDER BY seq").fetchall()
            )
        return self._verified(raw, head)

    def _verified(self, raw: list[tuple], head: Head | None) -> list[_Row]:
        rows, previous = [], ""
        for expected, (seq, kind, body, mac) in enumerate(raw, start=1):
            if seq != expected:
                raise LedgerTampered(
                    f"{self.path}: entry {expected} is missing (the next is {seq}); "
                    "the ledger was changed outside spreadwatch"
                )
            if not hmac.compare_digest(self._mac(previous, seq, kind, body), str(mac)):
                raise LedgerTampered(
                    f"{self.path}: entry {seq} ({kind}) does not verify: it was changed outside "
                    "spreadwatch, or the key is not the one that signed the ledger"
                )
            rows.append(_Row(seq, kind, json.loads(body), mac))
            previous = mac
        if rows and head is None:
            raise LedgerTampered(
                f"{self.path}: the ledger holds {len(rows)} entries but no head is recorded in "
                f"{self.head_record.where()}: it was removed; nothing is released until it is "
                "restored"
            )
        if head is not None:
            if head.seq > len(rows):
                raise LedgerTampered(
                    f"{self.path}: {self.head_record.where()} records {head.seq} entries, the "
                    f"ledger holds {len(rows)}: entries were removed or an older copy restored"
                )
            if head.seq and not hmac.compare_digest(rows[head.seq - 1].mac, head.mac):
                raise LedgerTampered(
                    f"{self.path}: entry {head.seq} differs from the one "
                    f"{self.head_record.where()} records: the ledger was replaced"
                )
        return rows

    def verify(self) -> int:
        """The number of entries, after checking every MAC and the recorded head;
        :class:`LedgerTampered` names the first problem."""
        return len(self._rows())

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The ledger's write lock (``<ledger>.lock``), waited for up to ``timeout`` seconds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LedgerError(
                            f"{self.path}: another release has held the ledger for more than "
                            f"{self.timeout:g} s; try again when it is done"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _append(self, rows: list[_Row], events: list[tuple[str, dict]]) -> list[int]:
        """Append ``events`` after the verified ``rows`` (under :meth:`_exclusive`), then record
        the new head."""
        previous = rows[-1].mac if rows else ""
        seq = len(rows)
        if not rows:  # the head exists before the first entry: a ledger never lacks one
            self.head_record.write(Head(0, ""))
        written = []
        with self._connect(write=True) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("SELECT count(*) FROM log").fetchone()[0] != len(rows):
                    raise LedgerError(
                        f"{self.path}: written by another release meanwhile (a second name for "
                        "the same file?); nothing was charged, try again"
                    )
                for kind, body in events:
                    seq += 1
                    text = _canonical(body)
                    previous = self._mac(previous, seq, kind, text)
                    con.execute("INSERT INTO log VALUES (?, ?, ?, ?)", (seq, kind, text, previous))
                    written.append(seq)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        try:
            self.head_record.write(Head(seq, previous))
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(
                f"{self.path}: charged (entries {written[0]}-{written[-1]}), but its head could "
                f"not be recorded in {self.head_record.where()} ({exc}); the next release "
                "records it"
            ) from None
        return written

    # ---- reading

    @staticmethod
    def _fold(rows: list[_Row]) -> tuple[dict[str, float], dict[str, list[_Row]], set[str]]:
        """Totals by data set, charge rows by data set, published release ids."""
        totals: dict[str, float] = {}
        charges: dict[str, list[_Row]] = {}
        published: set[str] = set()
        for row in rows:
            body = row.body
            if row.kind == "dataset":
                totals[body["dataset_id"]] = float(body["total_budget"])
                charges.setdefault(body["dataset_id"], [])
            elif row.kind == "budget":
                totals[body["dataset_id"]] = float(body["new_budget"])
            elif row.kind == "charge":
                charges.setdefault(body["dataset_id"], []).append(row)
            elif row.kind == "published":
                published.add(body["release_id"])
        return totals, charges, published

    @staticmethod
    def _status_of(dataset_id: str, totals: dict, charges: dict) -> Status:
        rows = charges.get(dataset_id, [])
        spent = math.fsum(float(r.body["epsilon"]) for r in rows)
        return Status(dataset_id, totals.get(dataset_id, DEFAULT_TOTAL_BUDGET), spent, len(rows))

    def status(self, dataset_id: str) -> Status:
        """Total, spent and number of charged tables of ``dataset_id`` (verified)."""
        totals, charges, _ = self._fold(self._rows())
        return self._status_of(dataset_id, totals, charges)

    def spent(self, dataset_id: str) -> float:
        return self.status(dataset_id).spent

    def entries(self, dataset_id: str | None = None) -> list[Entry]:
        """Every charged table, oldest first (of one data set when ``dataset_id`` is given)."""
        rows = self._rows()
        published = self._fold(rows)[2]
        out = []
        for row in rows:
            b = row.body
            if row.kind != "charge" or dataset_id not in (None, b["dataset_id"]):
                continue
            status = "published" if b["release_id"] in published else "charged"
            out.append(
                Entry(
                    row.seq,
                    b["release_id"],
                    b["dataset_id"],
                    b["table_name"],
                    float(b["epsilon"]),
                    b["created_at"],
                    b["note"],
                    b["output"],
                    b["params"],
                    status,
                )
            )
        return out

    def budget_changes(self, dataset_id: str | None = None) -> list[BudgetChange]:
        """Every change of a total, oldest first: who, when and why."""
        return [
            BudgetChange(
                r.seq,
                r.body["dataset_id"],
                r.body["old_budget"],
                float(r.body["new_budget"]),
                r.body["changed_at"],
                r.body["reason"],
                r.body["by"],
            )
            for r in self._rows()
            if r.kind == "budget" and dataset_id in (None, r.body["dataset_id"])
        ]

    def datasets(self) -> list[Status]:
        """The budget of every data set in the ledger, in the order they were opened."""
        totals, charges, _ = self._fold(self._rows())
        return [self._status_of(d, totals, charges) for d in charges]

    def check(self, dataset_id: str, epsilon: float, budget: float | None = None) -> Status:
        """Raise :class:`BudgetExceeded` if ``epsilon`` more would exceed the budget (the stored
        total, or ``budget`` for a new data set or a lower total), :class:`LedgerError` for a
        raise or a ledger that does not verify. Writes nothing, creates no file."""
        requested = check_epsilon(epsilon)
        totals, charges, _ = self._fold(self._rows())
        status = self._status_of(dataset_id, totals, charges)
        total = self._release_total(dataset_id, totals, budget)
        if status.spent + requested > total + _TOLERANCE:
            raise BudgetExceeded(dataset_id, status.spent, requested, total, self.path)
        return status

    def _release_total(self, dataset_id: str, totals: dict, budget: float | None) -> float:
        """The total a release may use: the stored one; ``budget`` for a new data set or when
        lower; a higher ``budget`` is refused (raising is an administrator's act)."""
        stored = totals.get(dataset_id)
        if budget is None:
            return DEFAULT_TOTAL_BUDGET if stored is None else stored
        budget = _check_budget(budget)
        if stored is not None and budget > stored + _TOLERANCE:
            raise LedgerError(
                f"data set {dataset_id} has a total budget of {stored:g} in {self.path}; a release "
                f"cannot raise it to {budget:g}. Raising a budget is an administrator's recorded "
                f"act: spreadwatch budget raise {self.path} --dataset {dataset_id} --to "
                f"{budget:g} --reason '...'"
            )
        return budget if stored is None else min(budget, stored)

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

        ``budget`` sets a new data set's total (else :data:`DEFAULT_TOTAL_BUDGET`) or lowers
        the stored one (recorded); it cannot raise it (:class:`LedgerError`). Raises
        :class:`BudgetExceeded` and writes nothing when the sum would exceed the total, and
        :class:`LedgerTampered` when the ledger does not verify.
        """
        if not epsilons:
            raise ValueError("nothing to charge")
        charges = {table: check_epsilon(eps) for table, eps in epsilons.items()}
        requested = math.fsum(charges.values())
        created = _now()
        params = json.loads(json.dumps(params or {}, sort_keys=True))
        with self._exclusive():
            rows = self._rows()
            totals, charged, _ = self._fold(rows)
            total = self._release_total(dataset_id, totals, budget)
            spent = self._status_of(dataset_id, totals, charged).spent
            if spent + requested > total + _TOLERANCE:
                raise BudgetExceeded(dataset_id, spent, requested, total, self.path)
            events: list[tuple[str, dict]] = []
            stored = totals.get(dataset_id)
            if stored is None:
                events.append(
                    ("dataset", {"dataset_id": dataset_id, "total_budget": total, "at": created})
                )
            elif total != stored:
                events.append(
                    ("budget", _change(dataset_id, stored, total, created, "lowered at a release"))
                )
            base = {"release_id": release_id, "dataset_id": dataset_id, "created_at": created}
            extra = {"note": note, "output": output, "params": params}
            for table, eps in charges.items():
                events.append(("charge", base | extra | {"table_name": table, "epsilon": eps}))
            seqs = self._append(rows, events)
        ids = seqs[-len(charges) :]
        return [
            Entry(i, release_id, dataset_id, t, e, created, note, output, params, "charged")
            for i, (t, e) in zip(ids, charges.items(), strict=True)
        ]

    def mark_published(self, release_id: str) -> None:
        """Record that a charged release's files are now visible."""
        with self._exclusive():
            rows = self._rows()
            self._append(rows, [("published", {"release_id": release_id, "at": _now()})])

    def set_budget(self, dataset_id: str, total: float, reason: str, by: str) -> BudgetChange:
        """An administrator's change of ``dataset_id``'s total (raise or lower), recorded with
        ``reason`` and ``by``; the data set must be in the ledger."""
        total = _check_budget(total)
        if not reason.strip():
            raise LedgerError("a budget change needs a reason (it is kept in the ledger)")
        if not by.strip():
            raise LedgerError("a budget change needs the name of who makes it")
        with self._exclusive():
            rows = self._rows()
            totals, _, _ = self._fold(rows)
            if dataset_id not in totals:
                known = ", ".join(totals) or "none"
                raise LedgerError(
                    f"{self.path}: no data set {dataset_id} (data sets: {known}); a new data "
                    "set's budget is set by its first release (--budget)"
                )
            body = _change(dataset_id, totals[dataset_id], total, _now(), reason.strip(), by)
            (seq,) = self._append(rows, [("budget", body)])
        return BudgetChange(
            seq, dataset_id, body["old_budget"], total, body["changed_at"], body["reason"], by
        )


def _change(
    dataset_id: str, old: float | None, new: float, at: str, reason: str, by: str = "release"
) -> dict:
    return {
        "dataset_id": dataset_id,
        "old_budget": old,
        "new_budget": new,
        "changed_at": at,
        "reason": reason,
        "by": by,
    }


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
