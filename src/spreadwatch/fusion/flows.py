"""``spreadwatch flows``: the fusion tables of a store (or of any location events), planned
window by window and updated incrementally; the orchestration of :mod:`spreadwatch.fusion`."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spreadwatch import duck, durable, fusion
from spreadwatch.fusion import incremental, kernels, running, signals
from spreadwatch.ingest.sources import PLAUSIBLE_FROM, PLAUSIBLE_UNTIL
from spreadwatch.ingest.store import Store, events_source, holds, is_store
from spreadwatch.privacy.kanon import DEFAULT_K
from spreadwatch.progress import track
from spreadwatch.spark_sessions import is_uri

FLOW_TABLES = ("od_flows", "presence", "commuting")
SIGNAL_TABLES = ("importations", "household_signals")


INCREMENTAL_TABLES = {
    "od_flows": ["date", "origin", "dest"],
    "presence": ["date", "hour", "region_code"],
}
STATE_FILE = "flows-state.json"
#: Events per window when daily flows of a store are computed window by window: smaller when
#: DuckDB's memory is capped (100 million events fit 1.5 GB with 5 million per window).
WINDOW_EVENTS = int(
    os.environ.get(
        "SPREADWATCH_FLOWS_WINDOW_EVENTS",
        "5000000" if os.environ.get(duck.MEMORY_ENV) else "20000000",
    )
)


def build_flows(
    events_parquet: Path | str,
    out_dir: Path,
    k: int = DEFAULT_K,
    engine: fusion.Engine = "duckdb",
    spark_remote: str | None = None,
) -> dict[str, Path]:
    """Write ``od_flows``, ``presence`` and ``commuting`` Parquet files from location events,
    and, when ``events_parquet`` is an ingest store holding them, ``importations`` (from roaming)
    and ``household_signals`` (from telemetry and the households registry).

    From a store on DuckDB, ``od_flows``, ``presence`` and ``commuting`` are those its ingest
    counted (:mod:`spreadwatch.fusion.running`), written whole, when it counted every location
    file of the store. Otherwise outputs are updated incrementally: when ``out_dir`` already
    holds the flows of an earlier state of the same store (same ``k``), ``od_flows`` and
    ``presence`` are recomputed only from the first date of the newly ingested location files
    on (see :mod:`spreadwatch.fusion.incremental`); the other tables are recomputed whole.

    ``engine`` runs the fusion on DuckDB (default) or Spark: local mode, or the Spark Connect
    server ``spark_remote`` (``sc://host:port``), which must be able to read ``events_parquet``
    (a URI such as ``s3a://...`` is passed to it unchecked). Every engine writes the same single
    Parquet file per table, with the schemas of ``fusion.SCHEMAS``.

    Returns the written path of each table by name.
    """
    remote = is_uri(str(events_parquet))
    source = str(events_parquet) if remote else events_source(events_parquet)
    store = None if remote or not is_store(Path(events_parquet)) else Path(events_parquet)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _FlowsPlan.for_store(store, out_dir, k) if store is not None else None
    paths: dict[str, Path] = {}
    with _Session(engine, spark_remote, source) as session:

        def table(name: str) -> ir.Table:
            return session.con.read_parquet(str(store / name / "*.parquet"))  # type: ignore[operator]

        counter = _Counter(session, k, "" if remote else source)
        counted = (
            _counted_tables(store, plan, k)
            if store is not None and plan is not None and engine == "duckdb"
            else None
        )
        builders: dict[str, Callable[[], ir.Table | pa.Table]] = {
            "commuting": (
                (lambda: counted()["commuting"])
                if counted is not None
                else (lambda: counter.table(None, "commuting"))
            ),
        }
        if store is not None and holds(store, "roaming"):
            builders["importations"] = lambda: signals.importations(
                table("roaming"), session.events, k=k
            )
        if store is not None and holds(store, "telemetry") and holds(store, "households"):
            builders["household_signals"] = lambda: signals.household_signals(
                table("telemetry"), table("households"), k=k
            )
        schemas = {**fusion.SCHEMAS, **signals.SCHEMAS}
        windows = plan.windows() if plan is not None else [None]
        whole = plan is not None and plan.whole(windows)  # its scope: the events themselves
        labels = ["daily flows and presence", *builders] if windows else list(builders)
        try:
            for label in track(labels, "Computing flows, presence, commuting and signals"):
                if label in builders:
                    built = builders[label]()
                    is_table = isinstance(built, pa.Table)
                    result = (
                        built if is_table else fusion.collect(session.con, built, schemas[label])
                    )
                    paths[label] = out_dir / f"{label}.parquet"
                    _write_atomically(result, paths[label])
                    continue
                daily = (
                    _counted_daily_tables(counted(), plan.dates)
                    if counted is not None and plan is not None and plan.dates is not None
                    else _daily_tables(counter, session, windows, whole)
                )
                for name, result in daily.items():
                    paths[name] = out_dir / f"{name}.parquet"
                    if counted is None and plan is not None and plan.start is not None:
                        previous = pq.read_table(paths[name])
                        result = incremental.merge_from(
                            previous, result, plan.start, INCREMENTAL_TABLES[name]
                        )
                    _write_atomically(result, paths[name])
        finally:
            counter.forget()
        if plan is not None and not windows:
            paths |= {name: out_dir / f"{name}.parquet" for name in INCREMENTAL_TABLES}
    if plan is not None:
        plan.save()
    return paths


def _counted_tables(
    store: Path, plan: _FlowsPlan, k: int
) -> Callable[[], dict[str, pa.Table]] | None:
    """The daily fusion tables the ingest counted (:mod:`spreadwatch.fusion.running`), made on
    first call, when it counted exactly the store's location files (``plan.files``)."""
    flows = running.current(store, set(plan.files)) if plan.files else None
    return None if flows is None else functools.cache(lambda: flows.tables(k))


def _counted_daily_tables(
    counted: dict[str, pa.Table], dates: tuple[dt.date, dt.date]
) -> dict[str, pa.Table]:
    """The daily tables of the running counts, kept to the KST dates of the events (presence
    runs on past the last event)."""
    end = dates[1] + dt.timedelta(days=1)
    return {name: _dated(counted[name], dates[0], end) for name in INCREMENTAL_TABLES}


def _dated(table: pa.Table, first: dt.date, end: dt.date) -> pa.Table:
    """The rows of ``table`` dated from ``first`` to before ``end``."""
    in_window = pc.and_(
        pc.greater_equal(table["date"], pa.scalar(first, pa.date32())),
        pc.less(table["date"], pa.scalar(end, pa.date32())),
    )
    return table.filter(in_window)


def _daily_tables(
    counter: _Counter,
    session: _Session,
    windows: list[tuple[dt.date, dt.date] | None],
    whole: bool = False,
) -> dict[str, pa.Table]:
    """The daily fusion tables (``INCREMENTAL_TABLES``) computed window by window (``None``:
    all events at once), both tables of a window from the same events. ``whole``: the one
    window holds every event, so its scope is all the events (shared with commuting); its
    rows are still kept to the window's dates."""
    parts: dict[str, list[pa.Table]] = {name: [] for name in INCREMENTAL_TABLES}
    for window in windows:
        if window is None:
            for name in parts:
                parts[name].append(counter.table(None, name))
            continue
        first, end = window
        scope = None
        if not whole:
            scope = incremental.events_since(
                session.events, incremental.cutoff_for(first), incremental.kst_midnight(end)
            )
        for name in parts:
            parts[name].append(_dated(counter.table(scope, name, fits=True), first, end))
    return {
        name: pa.concat_tables(tables) if tables else fusion.SCHEMAS[name].empty_table()
        for name, tables in parts.items()
    }


class _Session:
    """An engine's connection and the events table, opened on first use: what the kernels
    count from local Parquet needs neither (nor the import of the engine's ibis backend).
    Spark is connected at once (its errors come first)."""

    def __init__(self, engine: fusion.Engine, spark_remote: str | None, source: str) -> None:
        self.engine = engine
        self._remote = spark_remote
        self._source = source
        self._opened = contextlib.ExitStack()

    @functools.cached_property
    def con(self) -> ibis.BaseBackend:
        return self._opened.enter_context(fusion.connected(self.engine, self._remote))

    @functools.cached_property
    def events(self) -> ir.Table:
        return fusion.read_events(self.con, self._source)

    def __enter__(self) -> _Session:
        if self.engine != "duckdb":
            try:
                _ = self.events
            except BaseException:
                self._opened.close()  # a session that fails to read is still stopped
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._opened.close()


class _Counter:
    """Counts fusion tables: on DuckDB by the counting kernels of
    :mod:`spreadwatch.fusion.kernels` when the events fit in memory (at most
    :data:`WINDOW_EVENTS`, or ``fits``: a window already sized so), else by the expressions.
    The events of the last expression counted stay prepared, so the tables of one window (or of
    all events) share one ordered copy. Events are an expression, or ``None`` for all of the
    session's, which the kernels read straight from ``files`` (a local Parquet file or glob)
    with dictionary-encoded strings (no re-encoding)."""

    def __init__(self, session: _Session, k: int, files: str = "") -> None:
        self.session = session
        self.k = k
        self.files = files
        self._last: tuple[ir.Table | None, kernels.Events | None] | None = None

    def table(self, events: ir.Table | None, name: str, fits: bool = False) -> pa.Table:
        if self.session.engine == "duckdb":
            prepared = self._prepared(events, fits)
            if prepared is not None:
                with contextlib.suppress(kernels.NotCountable):  # then the expression counts
                    return getattr(kernels, name)(prepared, k=self.k)
        expression = getattr(fusion, name)(self._expression(events), k=self.k)
        return fusion.collect(self.session.con, expression, fusion.SCHEMAS[name])

    def _expression(self, events: ir.Table | None) -> ir.Table:
        return self.session.events if events is None else events

    def _prepared(self, events: ir.Table | None, fits: bool) -> kernels.Events | None:
        if self._last is not None and self._last[0] is events:
            return self._last[1]
        self.forget()  # one window at a time in memory
        prepared = None
        with contextlib.suppress(kernels.NotCountable):  # then the expressions count
            table = self._arrow(events, fits)
            prepared = None if table is None else kernels.Events(table)
        self._last = (events, prepared)
        return prepared

    def forget(self) -> None:
        self._last = None

    def _arrow(self, events: ir.Table | None, fits: bool) -> pa.Table | None:
        """``events`` in memory; ``None`` when they are more than :data:`WINDOW_EVENTS`
        (unless ``fits``)."""
        if events is None and self.files:
            paths, rows = self._listed()
            if not fits and rows > WINDOW_EVENTS:
                return None
            with contextlib.suppress(pa.ArrowException, OSError, KeyError):
                table = pq.read_table(
                    paths, columns=list(EVENT_COLUMNS), read_dictionary=EVENT_STRINGS
                )
                if table.num_rows == rows:  # the files DuckDB reads
                    return table
        expression = self._expression(events)
        if not fits and int(expression.count().execute()) > WINDOW_EVENTS:
            return None
        return self.session.con.to_pyarrow(expression)

    def _listed(self) -> tuple[list[str], int]:
        """The files DuckDB reads for ``files``, and how many rows it reads from them."""
        con = duck.connect()
        try:
            listed = con.execute(f"SELECT file FROM glob({duck.quote(self.files)})").fetchall()
            ((rows,),) = con.execute(
                f"SELECT count(*) FROM read_parquet({duck.quote(self.files)})"
            ).fetchall()
        finally:
            con.close()
        return sorted(row[0] for row in listed), int(rows)


#: The columns of location events the fusion reads, and those that are strings.
EVENT_COLUMNS = ("carrier", "subscriber_pseudo", "ts", "region_code", "cell_id")
EVENT_STRINGS = ["carrier", "subscriber_pseudo", "region_code", "cell_id"]


def _kst_dates(part: Path) -> tuple[dt.date, dt.date]:
    """The first and last KST date of the events in a part (from its row groups' statistics
    when every one has them), within ingest's plausible window (a store written before ingest
    kept to it may hold a row of 2120 or 9999: planning around it would not end)."""
    span = _ts_span(pq.ParquetFile(part))
    if span is None:
        ts = pq.read_table(part, columns=["ts"])["ts"]
        ts = ts.cast(pa.timestamp("us", "UTC")).cast(pa.int64())
        span = tuple(v.as_py() for v in pc.min_max(ts).values())

    low = int(PLAUSIBLE_FROM.timestamp() * 1_000_000)
    high = int(PLAUSIBLE_UNTIL.timestamp() * 1_000_000) - 1

    def date(micros: int) -> dt.date:
        micros = min(max(micros, low), high)
        local = dt.timedelta(microseconds=micros, hours=fusion.TIMEZONE_OFFSET_HOURS)
        return (dt.datetime(1970, 1, 1) + local).date()

    return date(span[0]), date(span[1])


def _ts_span(file: pq.ParquetFile) -> tuple[int, int] | None:
    """The earliest and latest ``ts`` (microseconds) by the statistics of every row group;
    ``None`` when a row group has none."""
    kind = file.schema_arrow.field("ts").type
    column = file.schema_arrow.get_field_index("ts")
    per_us = {"s": 10**6, "ms": 10**3, "us": 1}
    if not pa.types.is_timestamp(kind) or kind.unit not in per_us:
        return None
    lows, highs = [], []
    for group in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min_raw * per_us[kind.unit])
        highs.append(stats.max_raw * per_us[kind.unit])
    return (min(lows), max(highs)) if lows else None


def _write_atomically(table: pa.Table, path: Path) -> None:
    with durable.written(path) as tmp:
        pq.write_table(table, tmp)


@dataclass
class _FlowsPlan:
    """What the daily flows of a store need: everything, nothing new, or dates from ``start`` on,
    computed in windows of at most about :data:`WINDOW_EVENTS` events to bound memory."""

    state_path: Path
    k: int
    files: list[str]
    dates: tuple[dt.date, dt.date] | None
    events: int
    start: dt.date | None = None
    unchanged: bool = False

    @classmethod
    def for_store(cls, store: Path, out_dir: Path, k: int) -> _FlowsPlan:
        with Store(store) as opened:
            records = opened.records("location")
        spans = {p: _kst_dates(p) for p in (store / "location").glob("*.parquet")}
        dates = (min(a for a, _ in spans.values()), max(b for _, b in spans.values()))
        plan = cls(out_dir / STATE_FILE, k, [r.sha256 for r in records], dates if spans else None,
                   sum(r.rows_kept for r in records))  # fmt: skip
        try:
            state = json.loads(plan.state_path.read_text())
        except (OSError, ValueError):
            return plan
        done = set(state.get("location_files", []))
        outputs = all((out_dir / f"{n}.parquet").exists() for n in INCREMENTAL_TABLES)
        if state.get("k") != k or not outputs or not done <= set(plan.files):
            return plan
        new = {sha[:16] for sha in plan.files if sha not in done}
        firsts = [a for p, (a, _) in spans.items() if p.name.split("-")[0] in new]
        if firsts:
            plan.start = min(firsts)
        else:
            plan.unchanged = True
        return plan

    def windows(self) -> list[tuple[dt.date, dt.date] | None]:
        """The date windows ``[first, end)`` to compute (none when nothing changed)."""
        if self.unchanged or self.dates is None:
            return []
        first, last = self.start or self.dates[0], self.dates[1]
        days = (last - self.dates[0]).days + 1
        per_window = max(1, WINDOW_EVENTS * days // max(self.events, 1))
        edges = list(range(0, (last - first).days + 1, per_window))
        return [
            (
                first + dt.timedelta(days=a),
                min(first + dt.timedelta(days=a + per_window), last + dt.timedelta(days=1)),
            )
            for a in edges
        ]

    def whole(self, windows: list[tuple[dt.date, dt.date] | None]) -> bool:
        """Whether ``windows`` is one window holding every event of the store."""
        if self.dates is None or len(windows) != 1 or windows[0] is None:
            return False
        first, end = windows[0]
        return first <= self.dates[0] and end > self.dates[1]

    def save(self) -> None:
        state = {"k": self.k, "location_files": self.files}
        durable.write_text(self.state_path, json.dumps(state, indent=1) + "\n")
