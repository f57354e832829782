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
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import durable
from spreadwatch.fusion import mobility
from spreadwatch.release.ledger import (
    Ledger,
    check_epsilon,
    default_ledger_path,
    is_store,
    ledger_key,
    store_ledger_path,
)

Table = Literal["od_flows", "presence"]
TABLES: tuple[Table, ...] = ("od_flows", "presence")

#: Default bound on a subscriber's trips per KST date (the synthetic subscribers make ~2-3).
DEFAULT_MAX_TRIPS_PER_DAY = 4
#: Default bound on a subscriber's (hour, region) presence cells per KST date.
DEFAULT_MAX_HOURS_PER_DAY = 24
#: Parquet metadata key holding the release description (JSON).
METADATA_KEY = b"spreadwatch.dp"
MECHANISM = "discrete Laplace (OpenDP make_laplace, i64 vectors, L1 distance)"
UNIT_OF_PRIVACY = "subscriber-day"
HOURS = 24
#: Cells per call into OpenDP when noise is drawn on several threads.
_CHUNK = 65_536


# --------------------------------------------------------------------------------------------
# Key set


@dataclass(frozen=True)
class KeySpace:
    """The public key set of a release: region codes and an inclusive range of KST dates.

    OD cells are every ordered pair of distinct regions per date (trips never stay in a
    region); presence cells every (date, hour, region).
    """

    regions: tuple[str, ...]
    start: date
    end: date

    def __post_init__(self) -> None:
        if not self.regions:
            raise ValueError("the key set needs at least one region")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("region codes of the key set must be unique")
        if self.end < self.start:
            raise ValueError(f"the date range ends ({self.end}) before it starts ({self.start})")
        object.__setattr__(self, "regions", tuple(sorted(self.regions)))

    @classmethod
    def korea(cls, start: date, end: date) -> KeySpace:
        """Korea's 229 si-gun-gu (2020) over ``start..end``."""
        from spreadwatch.model.geography import load_regions

        return cls(load_regions().codes, start, end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def od_size(self) -> int:
        n = len(self.regions)
        return self.days * n * (n - 1)

    @property
    def presence_size(self) -> int:
        return self.days * HOURS * len(self.regions)

    def _od_mask(self) -> np.ndarray:
        n = len(self.regions)
        return np.tile(~np.eye(n, dtype=bool).ravel(), self.days)

    def od_keys(self) -> pa.Table:
        """``date, origin, dest`` of every OD cell, in release order (date, origin, dest)."""
        n = len(self.regions)
        codes = np.asarray(self.regions, dtype=object)
        full = np.arange(self.days * n * n)
        keep = full[self._od_mask()]
        return pa.table(
            {
                "date": pa.array(np.asarray(self.dates)[keep // (n * n)], pa.date32()),
                "origin": pa.array(codes[(keep // n) % n], pa.string()),
                "dest": pa.array(codes[keep % n], pa.string()),
            }
        )

    def presence_keys(self) -> pa.Table:
        """``date, hour, region_code`` of every presence cell, in release order."""
        n = len(self.regions)
        codes = np.asarray(self.regions, dtype=object)
        full = np.arange(self.presence_size)
        return pa.table(
            {
                "date": pa.array(np.asarray(self.dates)[full // (HOURS * n)], pa.date32()),
                "hour": pa.array(((full // n) % HOURS).astype(np.int8), pa.int8()),
                "region_code": pa.array(codes[full % n], pa.string()),
            }
        )

    def _region_index(self, codes: pa.ChunkedArray | pa.Array) -> np.ndarray:
        lookup = {code: i for i, code in enumerate(self.regions)}
        return np.fromiter((lookup[c] for c in codes.to_pylist()), np.int64, len(codes))

    def _day_index(self, dates: pa.ChunkedArray | pa.Array) -> np.ndarray:
        days = np.asarray(dates.to_numpy(zero_copy_only=False), dtype="datetime64[D]")
        return (days - np.datetime64(self.start, "D")).astype(np.int64)

    def dense_od(self, counts: pa.Table, column: str) -> np.ndarray:
        """``counts`` (date, origin, dest, column) as a vector in :meth:`od_keys` order."""
        n = len(self.regions)
        vector = np.zeros(self.days * n * n, dtype=np.int64)
        if counts.num_rows:
            index = (
                self._day_index(counts["date"]) * n + self._region_index(counts["origin"])
            ) * n + self._region_index(counts["dest"])
            vector[index] = counts[column].to_numpy()
        return vector[self._od_mask()]

    def dense_presence(self, counts: pa.Table, column: str) -> np.ndarray:
        """``counts`` (date, hour, region_code, column) as a vector in presence-key order."""
        n = len(self.regions)
        vector = np.zeros(self.presence_size, dtype=np.int64)
        if counts.num_rows:
            hours = counts["hour"].to_numpy().astype(np.int64)
            index = (self._day_index(counts["date"]) * HOURS + hours) * n + self._region_index(
                counts["region_code"]
            )
            vector[index] = counts[column].to_numpy()
        return vector


# --------------------------------------------------------------------------------------------
# Contribution bounding (ibis, on the definitions of spreadwatch.fusion.mobility)


def _in_range(table: ir.Table, keys: KeySpace) -> ir.BooleanValue:
    return table.date.between(ibis.literal(keys.start), ibis.literal(keys.end))


def bounded_trips(events: ir.Table, keys: KeySpace, max_trips_per_day: int) -> ir.Table:
    """Trips in the key set with ``rank``, their 0-based order among the subscriber's trips of
    that date (by time, cell, region, origin), and ``kept = rank < max_trips_per_day``."""
    _check_bound("max_trips_per_day", max_trips_per_day)
    ordered = mobility._ordered(events)
    moves = ordered.filter(
        ordered.prev_region.notnull() & (ordered.prev_region != ordered.region_code)
    )
    moves = moves.mutate(
        **mobility._local_date_hour(mobility._epoch_hour(moves.ts.epoch_seconds()))
    )
    regions = list(keys.regions)
    moves = moves.filter(
        _in_range(moves, keys) & moves.prev_region.isin(regions) & moves.region_code.isin(regions)
    )
    rank = ibis.row_number().over(
        group_by=[moves.carrier, moves.subscriber_pseudo, moves.date],
        order_by=[moves.ts, moves.cell_id, moves.region_code, moves.prev_region],
    )
    trips = moves.select(
        "carrier",
        "subscriber_pseudo",
        "date",
        origin=moves.prev_region,
        dest=moves.region_code,
        rank=rank,
    )
    return trips.mutate(kept=trips["rank"] < max_trips_per_day)


def od_counts(events: ir.Table, keys: KeySpace, max_trips_per_day: int) -> ir.Table:
    """Observed OD cells: ``date, origin, dest, trips`` (bounded) and ``trips_unbounded``."""
    trips = bounded_trips(events, keys, max_trips_per_day)
    return trips.group_by(["date", "origin", "dest"]).agg(
        trips=trips.kept.cast("int64").sum(), trips_unbounded=trips.count()
    )


def presence_cells(
    events: ir.Table, keys: KeySpace, max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS
) -> ir.Table:
    """Distinct ``carrier, subscriber_pseudo, date, hour, region_code`` where a subscriber is
    present (the definition of :func:`spreadwatch.fusion.mobility.presence`), in the key set, with
    ``entered``: the first second of the hour they were there (the hour's start when carried
    over from an earlier event, else the event's time)."""
    ordered = mobility._ordered(events)
    start = ordered.ts.epoch_seconds()
    limit = start + max_gap_hours * 3600
    end = ibis.coalesce(ibis.least(ordered.next_ts.epoch_seconds(), limit), limit)
    first_hour = mobility._epoch_hour(start)
    last_hour = mobility._epoch_hour(ibis.greatest(start, end - 1))
    hours = ordered.select(
        "carrier",
        "subscriber_pseudo",
        "region_code",
        start=start,
        epoch_hour=ibis.range(first_hour, last_hour + 1).unnest(),
    )
    hours = hours.mutate(
        entered=ibis.greatest(hours.start, hours.epoch_hour * 3600),
        **mobility._local_date_hour(hours.epoch_hour),
    )
    hours = hours.filter(_in_range(hours, keys) & hours.region_code.isin(list(keys.regions)))
    return hours.group_by(["carrier", "subscriber_pseudo", "date", "hour", "region_code"]).agg(
        entered=hours.entered.min()
    )


def bounded_presence(
    events: ir.Table,
    keys: KeySpace,
    max_hours_per_day: int,
    max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS,
) -> ir.Table:
    """Presence cells with ``kept``: among the subscriber's first ``max_hours_per_day`` cells of
    the date, where cells are ordered first by their order within the hour (by ``entered``, then
    region code), then by hour, then region code. So the region each subscriber is in at the start
    of each hour is kept before any second region of an hour: a bound of 24 keeps one region per
    hour all day instead of dropping the evening of subscribers who moved.

    Only the subscriber-days with more cells than the bound are ranked (two window sorts); the
    others keep every cell, which makes this about three times faster on synthetic Korea."""
    _check_bound("max_hours_per_day", max_hours_per_day)
    cells = presence_cells(events, keys, max_gap_hours)
    who = ["carrier", "subscriber_pseudo", "date"]
    columns = [*who, "hour", "region_code"]
    per_day = cells.group_by(who).agg(cells_that_day=cells.count())
    busy = per_day.filter(per_day.cells_that_day > max_hours_per_day).select(*who)
    under = cells.anti_join(busy, who).select(*columns, kept=ibis.literal(True))
    over = cells.semi_join(busy, who)
    over = over.mutate(
        within_hour=ibis.row_number().over(
            group_by=[over.carrier, over.subscriber_pseudo, over.date, over.hour],
            order_by=[over.entered, over.region_code],
        )
    )
    rank = ibis.row_number().over(
        group_by=[over.carrier, over.subscriber_pseudo, over.date],
        order_by=[over.within_hour, over.hour, over.region_code],
    )
    over = over.select(*columns, kept=rank < max_hours_per_day)
    return under.union(over, distinct=False)


def presence_counts(
    events: ir.Table,
    keys: KeySpace,
    max_hours_per_day: int,
    max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS,
) -> ir.Table:
    """Observed presence cells: ``date, hour, region_code, people`` (bounded) and
    ``people_unbounded``."""
    cells = bounded_presence(events, keys, max_hours_per_day, max_gap_hours)
    return cells.group_by(["date", "hour", "region_code"]).agg(
        people=cells.kept.cast("int64").sum(), people_unbounded=cells.count()
    )


def _check_bound(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")


@dataclass(frozen=True)
class ExactCounts:
    """Exact counts over the whole key set, in key order: bounded and unbounded."""

    table: Table
    keys: KeySpace
    bound: int
    bounded: np.ndarray
    unbounded: np.ndarray

    def key_table(self) -> pa.Table:
        return self.keys.od_keys() if self.table == "od_flows" else self.keys.presence_keys()


def exact_counts(
    events: ir.Table,
    keys: KeySpace,
    table: Table,
    bound: int,
    max_gap_hours: int = mobility.DEFAULT_MAX_GAP_HOURS,
) -> ExactCounts:
    """Bounded and unbounded exact counts of ``table`` for every key of ``keys``."""
    if table == "od_flows":
        counts = od_counts(events, keys, bound).to_pyarrow()
        bounded = keys.dense_od(counts, "trips")
        unbounded = keys.dense_od(counts, "trips_unbounded")
    elif table == "presence":
        counts = presence_counts(events, keys, bound, max_gap_hours).to_pyarrow()
        bounded = keys.dense_presence(counts, "people")
        unbounded = keys.dense_presence(counts, "people_unbounded")
    else:
        raise ValueError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    return ExactCounts(table, keys, bound, bounded, unbounded)


# --------------------------------------------------------------------------------------------
# Noise (OpenDP)


def _opendp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@dataclass(frozen=True)
class Mechanism:
    """An OpenDP discrete Laplace measurement on i64 count vectors, and its parameters."""

    sensitivity: int
    epsilon: float
    scale: float
    name: str = MECHANISM

    @classmethod
    def calibrate(cls, sensitivity: int, epsilon: float) -> Mechanism:
        """The smallest scale whose OpenDP privacy map gives at most ``epsilon`` at
        ``d_in = sensitivity`` (L1 distance between neighbouring count vectors)."""
        _check_bound("sensitivity", sensitivity)
        check_epsilon(epsilon)
        dp = _opendp()
        scale = dp.binary_search_param(
            lambda s: _make_laplace(dp, s), d_in=sensitivity, d_out=float(epsilon)
        )
        mechanism = cls(sensitivity=sensitivity, epsilon=float(epsilon), scale=float(scale))
        spent = mechanism.measurement().map(sensitivity)
        if spent > epsilon:  # pragma: no cover - binary_search_param guarantees this
            raise RuntimeError(f"calibration failed: map({sensitivity}) = {spent} > {epsilon}")
        return mechanism

    def measurement(self):
        """The OpenDP measurement (vector of i64 counts -> noisy vector)."""
        return _make_laplace(_opendp(), self.scale)

    @property
    def variance(self) -> float:
        """Variance of one cell's noise: ``2 p / (1 - p)^2`` with ``p = exp(-1 / scale)``."""
        p = math.exp(-1.0 / self.scale)
        return 2.0 * p / (1.0 - p) ** 2

    @property
    def mean_absolute_noise(self) -> float:
        """``E|noise| = 2 p / ((1 - p)(1 + p))`` for the discrete Laplace."""
        p = math.exp(-1.0 / self.scale)
        return 2.0 * p / ((1.0 - p) * (1.0 + p))

    def add_noise(self, counts: np.ndarray, threads: int | None = None) -> np.ndarray:
        """``counts`` plus independent discrete Laplace noise, drawn by OpenDP.

        The measurement is applied to chunks of the vector on several threads (OpenDP releases
        the GIL); noise is independent per cell, so this has exactly the distribution of one
        call on the whole vector. Not seedable: OpenDP draws from the OS's secure generator.
        """
        values = np.ascontiguousarray(counts, dtype=np.int64)
        if values.size == 0:
            return values.copy()
        measurement = self.measurement()
        chunks = [values[i : i + _CHUNK] for i in range(0, values.size, _CHUNK)]
        workers = max(1, min(threads or os.cpu_count() or 1, len(chunks)))

        def noisy(chunk: np.ndarray) -> np.ndarray:
            return np.asarray(measurement(chunk.tolist()), dtype=np.int64)

        if workers == 1:
            parts = [noisy(c) for c in chunks]
        else:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(noisy, chunks))
        return np.concatenate(parts)


def _make_laplace(dp, scale: float):
    return dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale=scale
    )


def post_process(noisy: np.ndarray) -> np.ndarray:
    """Round to integers (a no-op for the discrete mechanism) and clamp at 0."""
    return np.maximum(np.rint(noisy).astype(np.int64), 0)


# --------------------------------------------------------------------------------------------
# Release tables


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
    from spreadwatch.ingest.store import events_source

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
    budget for the same subscribers)."""
    if not is_store(Path(events)):
        return (Path(ledger_path) if ledger_path else default_ledger_path(out_dir)), dataset
    own = store_ledger_path(Path(events))
    if dataset is not None:
        raise ValueError(
            f"--dataset: {events} is an ingest store, whose budget is the store's own "
            f"(data set {STORE_DATASET!r} in {own}); --dataset names loose Parquet files"
        )
    if ledger_path is not None and Path(ledger_path).resolve() != own.resolve():
        raise ValueError(
            f"--ledger: {events} is an ingest store, whose budget is kept in the store ({own}); "
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
) -> ReleaseResult:
    """Release ``tables`` of ``events`` into ``out_dir`` for ``epsilon`` in total, charged to the
    privacy-budget ledger.

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

    con = mobility.connect()
    table = con.read_parquet([str(f) for f in files])
    release_id = uuid.uuid4().hex
    created = datetime.now(UTC).isoformat(timespec="seconds")
    made_folder = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    temps: dict[Table, Path] = {}
    mechanisms: dict[str, Mechanism] = {}
    try:
        for name, share in shares.items():
            exact = exact_counts(table, keys, name, bounds.of(name), bounds.max_gap_hours)
            released, mechanism = release_counts(exact, share)
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
