"""Differentially private release of OD flows and presence, with OpenDP.

What is protected, and how (see ``docs/privacy.md`` for the full argument):

* **Contribution bounding.** Each subscriber (a ``(carrier, subscriber_pseudo)`` pair) adds at most
  ``max_trips_per_day`` trips to the OD table per KST date (their first trips that date, ordered by
  time, then cell, region and origin) and at most ``max_hours_per_day`` cells to the presence
  table per date (their ``(hour, region)`` cells ranked by order within the hour, then hour, then
  region: the region of the start of each hour comes before any second region of an hour).
  Trips and presence follow the definitions of :mod:`spreadwatch.fusion.mobility` exactly; with
  bounds large enough the counts equal ``fusion.od_flows`` / ``fusion.presence`` with ``k = 1``.
* **Unit of privacy: a subscriber-day.** Adding or removing one subscriber's trips (or presence
  cells) of one date changes the released count vector by at most the bound in L1 norm, so the
  sensitivity of the OD vector is ``max_trips_per_day`` and of the presence vector
  ``max_hours_per_day``.
* **Mechanism.** OpenDP's ``make_laplace`` on ``vector_domain(atom_domain(T="i64"))`` with
  ``l1_distance(T="i64")``, which samples the discrete Laplace (two-sided geometric) distribution
  ``P(k) ∝ exp(-|k| / scale)``; ``scale`` is the smallest that OpenDP's privacy map proves
  ``epsilon``-DP for ``d_in = sensitivity`` (it is ``sensitivity / epsilon``).
* **Composition.** Dates are disjoint in a subscriber-day, so one release over many dates is
  ``epsilon``-DP per subscriber-day; a subscriber seen on ``D`` dates of the release has ``D *
  epsilon`` as a whole. The OD and presence tables of one release, and successive releases of one
  data set, compose sequentially: their epsilons add up (that is what the ledger sums). A release's
  ``epsilon`` is split evenly over its tables.
* **Key set.** Every ordered pair of distinct regions of a public region list, for every date of
  a public date range (and every hour for presence), is released, whether observed or not; trips
  and presence outside that key set are dropped before bounding. Nothing about the keys depends on
  the data.
* **Post-processing.** The noisy counts are integers; negative ones are set to 0. ``suppressed``
  is always false (noise replaces k-anonymity suppression).
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import durable
from spreadwatch.fusion import engines, mobility
from spreadwatch.fusion.engines import Engine
from spreadwatch.ingest.store import events_source
from spreadwatch.release.bounding import (
    TABLES,
    ExactCounts,
    KeySpace,
    Table,
    _check_bound,
    exact_counts,
)
from spreadwatch.release.chain import ledger_key, store_holding, store_ledger_path
from spreadwatch.release.ledger import Ledger, check_epsilon, default_ledger_path
from spreadwatch.release.mechanism import (
    Mechanism,
    post_process,
)

#: Default bound on a subscriber's trips per KST date (the synthetic subscribers make ~2-3).
DEFAULT_MAX_TRIPS_PER_DAY = 4


#: Default bound on a subscriber's (hour, region) presence cells per KST date.
DEFAULT_MAX_HOURS_PER_DAY = 24


#: Parquet metadata key holding the release description (JSON).
METADATA_KEY = b"spreadwatch.dp"


UNIT_OF_PRIVACY = "subscriber-day"


@dataclass(frozen=True)
class Bounds:
    """Contribution bounds per subscriber and KST date."""

    max_trips_per_day: int = DEFAULT_MAX_TRIPS_PER_DAY
    max_hours_per_day: int = DEFAULT_MAX_HOURS_PER_DAY
    max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS

    def __post_init__(self) -> None:
        _check_bound("max_trips_per_day", self.max_trips_per_day)
        _check_bound("max_hours_per_day", self.max_hours_per_day)
        _check_bound("max_gap_hours", self.max_gap_hours)

    def of(self, table: Table) -> int:
        return self.max_trips_per_day if table == "od_flows" else self.max_hours_per_day


def released_table(exact: ExactCounts, mechanism: Mechanism, noisy: np.ndarray) -> pa.Table:
    """The released table in its fusion contract, plus the ``epsilon`` column."""
    keys = exact.key_table()
    count_name = "trips" if exact.table == "od_flows" else "people"
    n = keys.num_rows
    return (
        keys.append_column(count_name, pa.array(post_process(noisy), pa.int64()))
        .append_column("suppressed", pa.array(np.zeros(n, dtype=bool), pa.bool_()))
        .append_column("epsilon", pa.array(np.full(n, mechanism.epsilon), pa.float64()))
    )


def release_counts(exact: ExactCounts, epsilon: float) -> tuple[pa.Table, Mechanism]:
    """Noise ``exact`` for ``epsilon`` per subscriber-day; the table and its mechanism."""
    mechanism = Mechanism.calibrate(exact.bound, epsilon)
    noisy = mechanism.add_noise(exact.bounded)
    return released_table(exact, mechanism, noisy), mechanism


def dataset_id(paths: Sequence[Path]) -> str:
    """``sha256:<hex>`` of the input files' contents (in the order given by sorted path names).

    It names the data, not where it lies: a copied or moved file keeps its budget.
    """
    outer = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                inner.update(block)
        outer.update(inner.digest())
    return f"sha256:{outer.hexdigest()}"


def event_files(path: Path | str) -> list[Path]:
    """The location-event Parquet files of an ingest store, a folder, a file or a glob (sorted)."""
    source = events_source(path)
    if glob.has_magic(source):
        return sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
    return [Path(source)]


def split_epsilon(epsilon: float, tables: Sequence[Table]) -> dict[Table, float]:
    """The epsilon of each table: ``epsilon`` split evenly (tables compose sequentially)."""
    check_epsilon(epsilon)
    if not tables:
        raise ValueError("no table to release")
    if len(set(tables)) != len(tables) or not set(tables) <= set(TABLES):
        raise ValueError(f"tables must be distinct and among {', '.join(TABLES)}, got {tables}")
    return {t: epsilon / len(tables) for t in tables}


@dataclass
class ReleaseResult:
    """What a release wrote and charged."""

    release_id: str
    dataset_id: str
    out_dir: Path
    paths: dict[str, Path]
    epsilon_by_table: dict[str, float]
    mechanisms: dict[str, Mechanism]
    spent: float
    total_budget: float
    ledger: Path
    manifest: dict = field(default_factory=dict)


#: The data set a store's own ledger charges: the store, whatever it holds or will hold.
STORE_DATASET = "store"


def release_ledger(
    events: Path | str, out_dir: Path, ledger_path: Path | None, dataset: str | None
) -> tuple[Path, str | None]:
    """The ledger a release of ``events`` charges, and the data set (``None``: the hash of the
    input files). A store's budget is the store's: its own ledger and one data set, whatever
    ``--ledger`` or ``--dataset`` would say (both refused, so no new name starts a fresh
    budget for the same subscribers). Files inside a store (its ``location`` folder, a glob of
    its parts) are the store's too."""
    store = store_holding(Path(events))
    if store is None:
        return (Path(ledger_path) if ledger_path else default_ledger_path(out_dir)), dataset
    own = store_ledger_path(store)
    where = "an ingest store" if store == Path(events).resolve() else f"in the ingest store {store}"
    if dataset is not None:
        raise ValueError(
            f"--dataset: {events} is {where}, whose budget is the store's own "
            f"(data set {STORE_DATASET!r} in {own}); --dataset names loose Parquet files"
        )
    if ledger_path is not None and Path(ledger_path).resolve() != own.resolve():
        raise ValueError(
            f"--ledger: {events} is {where}, whose budget is kept in the store ({own}); "
            "another ledger would start a fresh budget for the same subscribers"
        )
    return own, STORE_DATASET


def release(
    events: Path,
    out_dir: Path,
    epsilon: float,
    keys: KeySpace,
    key: bytes,
    tables: Sequence[Table] = TABLES,
    bounds: Bounds | None = None,
    ledger_path: Path | None = None,
    budget: float | None = None,
    note: str = "",
    dataset: str | None = None,
    engine: Engine = "duckdb",
    spark_remote: str | None = None,
) -> ReleaseResult:
    """Release ``tables`` of ``events`` into ``out_dir`` for ``epsilon`` in total, charged to the
    privacy-budget ledger.

    The bounded counts are computed by ``engine``: DuckDB in this process, or Spark (local, or
    the cluster of the Spark Connect URL ``spark_remote``), where each subscriber's
    contribution is bounded next to the events and only the bounded aggregates come back to
    this process, which adds the noise and charges the ledger.

    Order of operations (crash-safe: a crash can waste budget, never release uncharged data):

    1. check the request against the ledger (read only) and that ``out_dir`` holds no release;
    2. compute the bounded counts and draw the noise in memory;
    3. write each table to a hidden temporary file in ``out_dir``;
    4. charge the ledger in one SQLite transaction, re-checking the budget; on refusal the
       temporary files are deleted and :class:`~spreadwatch.release.ledger.BudgetExceeded` is
       raised;
    5. rename the temporary files to their final names (atomic), write ``release.json``, and mark
       the release published in the ledger.

    ``key`` is the pseudonymisation key: the ledger's entries are signed with a key derived
    from it, and a ledger that does not verify refuses the release. A store's release is
    charged to the store's own ledger (:func:`release_ledger`); loose files to ``dataset``
    when given (a name for files that grow), else to the hash of their contents.
    """
    bounds = bounds or Bounds()
    shares = split_epsilon(epsilon, list(tables))
    files = event_files(events)
    out_dir = Path(out_dir)
    finals = {t: out_dir / f"{t}.parquet" for t in shares}
    manifest_path = out_dir / "release.json"
    existing = [p for p in [*finals.values(), manifest_path] if p.exists()]
    if existing:
        raise FileExistsError(
            f"{out_dir} already holds a release ({', '.join(p.name for p in existing)}); "
            "choose another output folder"
        )
    ledger_path, dataset = release_ledger(events, out_dir, ledger_path, dataset)
    ledger = Ledger(ledger_path, ledger_key(key))
    data_id = dataset or dataset_id(files)
    ledger.check(data_id, epsilon, budget)

    release_id = uuid.uuid4().hex
    created = datetime.now(UTC).isoformat(timespec="seconds")
    made_folder = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    temps: dict[Table, Path] = {}
    mechanisms: dict[str, Mechanism] = {}
    try:
        counted = exact_counts_on(engine, spark_remote, events, keys, shares, bounds)
        for name, share in shares.items():
            released, mechanism = release_counts(counted[name], share)
            mechanisms[name] = mechanism
            meta = _metadata(release_id, data_id, name, mechanism, keys, bounds, created, note)
            released = released.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
            temps[name] = out_dir / f".{name}.{release_id}.tmp"
            pq.write_table(released, temps[name])
        params = {"keys": _keys_meta(keys), "bounds": asdict(bounds)}
        entries = ledger.charge(
            data_id,
            dict(shares),
            budget=budget,
            note=note,
            release_id=release_id,
            output=str(out_dir.resolve()),
            params=params,
        )
    except BaseException:
        for path in temps.values():
            path.unlink(missing_ok=True)
        if made_folder and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    for name, temp in temps.items():
        durable.replace(temp, finals[name])
    manifest = {
        "release_id": release_id,
        "dataset_id": data_id,
        "created_at": created,
        "note": note,
        "epsilon_total": epsilon,
        "tables": {
            name: _metadata(
                release_id, data_id, name, mechanisms[name], keys, bounds, created, note
            )
            for name in shares
        },
        "ledger": str(ledger.path.resolve()),
    }
    durable.write_text(manifest_path, json.dumps(manifest, indent=2))
    ledger.mark_published(release_id)
    status = ledger.status(data_id)
    return ReleaseResult(
        release_id=release_id,
        dataset_id=data_id,
        out_dir=out_dir,
        paths={n: finals[n] for n in shares},
        epsilon_by_table=dict(shares),
        mechanisms=mechanisms,
        spent=status.spent,
        total_budget=status.total_budget,
        ledger=ledger.path,
        manifest=manifest | {"entries": [e.id for e in entries]},
    )


def exact_counts_on(
    engine: Engine,
    spark_remote: str | None,
    events: Path | str,
    keys: KeySpace,
    tables: Sequence[Table],
    bounds: Bounds,
) -> dict[Table, ExactCounts]:
    """The exact bounded (and unbounded) counts of ``tables`` of the location ``events`` (a
    store, folder, file or glob), computed by ``engine``."""
    with engines.connected(engine, spark_remote) as con:
        table = engines.read_events(con, events_source(events))
        return {
            name: exact_counts(table, keys, name, bounds.of(name), bounds.max_gap_hours)
            for name in tables
        }


def _keys_meta(keys: KeySpace) -> dict:
    return {
        "start": keys.start.isoformat(),
        "end": keys.end.isoformat(),
        "regions": len(keys.regions),
        "regions_sha256": hashlib.sha256("\n".join(keys.regions).encode()).hexdigest(),
    }


def _metadata(
    release_id: str,
    data_id: str,
    table: Table,
    mechanism: Mechanism,
    keys: KeySpace,
    bounds: Bounds,
    created: str,
    note: str,
) -> dict:
    return {
        "release_id": release_id,
        "dataset_id": data_id,
        "table": table,
        "created_at": created,
        "note": note,
        "epsilon": mechanism.epsilon,
        "mechanism": mechanism.name,
        "scale": mechanism.scale,
        "sensitivity_l1": mechanism.sensitivity,
        "noise_std": math.sqrt(mechanism.variance),
        "unit_of_privacy": UNIT_OF_PRIVACY,
        "bound": {
            "od_flows": {"max_trips_per_day": bounds.max_trips_per_day},
            "presence": {
                "max_hours_per_day": bounds.max_hours_per_day,
                "max_gap_hours": bounds.max_gap_hours,
            },
        }[table],
        "keys": _keys_meta(keys),
        "post_processing": "negative counts set to 0; suppressed is always false",
    }


def read_metadata(path: Path) -> dict:
    """The release description stored in a released Parquet file."""
    meta = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in meta:
        raise ValueError(f"{path}: not a differentially private release of spreadwatch")
    return json.loads(meta[METADATA_KEY])
