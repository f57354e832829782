"""The fast path of location events: clean rows in Arrow and NumPy, the rest in SQL.

A chunk's rows that the source's SQL would keep unchanged are typed, pseudonymised and
deduplicated here, with checks evaluated once per distinct value instead of once per row. Every
other row goes through :func:`spreadwatch.ingest.chunks.process_chunk`, whose SQL stays the
definition of the checks, the quarantine and its reasons. A row is *clean*, and taken here, when:

* its carrier is a name (``NAME_PATTERN``) and its subscriber ID is not blank, both without
  surrounding white space and not null;
* its ``ts`` is a typed timestamp (seconds to microseconds) of the years 1000-2999, or the
  canonical text ``2020-02-01T08:15:42Z`` with every field in range, and falls in the
  plausible window (``PLAUSIBLE_FROM`` to ``PLAUSIBLE_UNTIL``);
* its ``(carrier, cell_id)`` is a placed cell of the store.

Pseudonyms come from the keyring's SQL (:meth:`KeyRing.pseudonym_sql`), one HMAC per distinct
subscriber, kept across chunks. Keys that rotate send every row to the SQL path. Then
the clean rows and the SQL path's kept rows are deduplicated together (identical rows: one kept,
the others counted as duplicates) and against the store's earlier rows of the same carriers and
time span, and ordered by time as the SQL path orders them. Tested equal to the SQL path on
messy synthetic deliveries, quarantine and row accounting included.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from spreadwatch.ingest.raw import QUARANTINE_SCHEMA
from spreadwatch.ingest.repeats import RunRows
from spreadwatch.ingest.sources import LOCATION, NAME_PATTERN, PLAUSIBLE_FROM, PLAUSIBLE_UNTIL
from spreadwatch.ingest.store import Store
from spreadwatch.interning import PairIds, grown
from spreadwatch.ordering import (
    combined,
    dense_unique,
    distinct_lexical_order,
    ranks,
    time_key,
    value_ranks,
)
from spreadwatch.privacy.pseudonym import KeyRing

#: The canonical text of a time, fields in range (years 1000-2999: DuckDB reads no others alike).
_CANONICAL_TS = (
    r"^[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ$"
)
_TS_UNITS = ("s", "ms", "us")
_UTC_US = pa.timestamp("us", tz="UTC")
_SEPARATOR = "\x1f"  # never in a carrier name
_EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)
#: Pseudonyms kept across chunks before starting afresh (bounds memory).
CACHE_ROWS = 5_000_000

ChunkResult = tuple[pa.Table, pa.Table, int]
#: Per row, the ranks of its carrier, pseudonym and cell in their values' sorted order.
Ranks = tuple[np.ndarray, np.ndarray, np.ndarray]
#: A string column as distinct values and, per row, the position of its value.
Coded = tuple[pa.Array, np.ndarray]
#: The SQL path of some rows: checked against the store's rows unless told not to.
SlowPath = Callable[[pa.Table, bool], ChunkResult]
#: The SQL path of some rows, not checked against the store's rows, safe to run in another
#: thread than the run's other SQL (a connection of its own).
UnstoredPath = Callable[[pa.Table], ChunkResult]


def _encoded(column: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray | None:
    """A string column as one dictionary array of distinct values (``None`` for other types);
    one read dictionary-encoded is kept as it is."""
    column = combined(column)
    if pa.types.is_dictionary(column.type):
        values = column.dictionary
        if (
            pa.types.is_string(values.type)
            and not values.null_count
            and len(pc.unique(values)) == len(values)
        ):
            return column
        column = column.cast(column.type.value_type)
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return None
    return pc.dictionary_encode(column.cast(pa.string()))


def _indices(encoded: pa.DictionaryArray) -> np.ndarray:
    """Dictionary indices, -1 for nulls."""
    indices = encoded.indices
    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    return indices.to_numpy().astype(np.int64)


def _untrimmed_ok(values: pa.Array) -> np.ndarray:
    """Per distinct value: not blank and without surrounding white space."""
    trimmed = pc.utf8_trim_whitespace(values)
    return np.asarray(pc.and_(pc.equal(trimmed, values), pc.greater(pc.utf8_length(values), 0)))


def _decoded(rows: pa.Table) -> pa.Table:
    """``rows`` (the unclean rows of a chunk, usually a few) with their dictionary-encoded
    columns as plain values: DuckDB would convert the whole dictionaries of the chunk they
    were taken from."""
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in rows.columns
    ]
    return pa.table(columns, names=rows.column_names)


def _with_null(ok: np.ndarray) -> np.ndarray:
    """``ok`` indexable by dictionary indices with -1 (null) mapping to False."""
    return np.append(ok, False)


class _Checked(NamedTuple):
    """A chunk's clean-row mask and what its clean rows' output is made of."""

    ok: np.ndarray
    instants: pa.Array
    carrier: pa.DictionaryArray
    subscriber: pa.DictionaryArray
    cell: pa.DictionaryArray
    c_idx: np.ndarray
    s_idx: np.ndarray
    cell_idx: np.ndarray
    region: np.ndarray


class _Identified(NamedTuple):
    """The clean rows' subscribers, looked up in the pseudonym cache ahead (in the reader's
    thread, chunk after chunk), with the pseudonyms of those not in it."""

    #: the clean rows, and per clean row the position of its pair among ``at``
    rows: np.ndarray
    where: np.ndarray
    #: per distinct ``(carrier, subscriber)`` pair, its number in the cache
    at: np.ndarray
    #: the cache numbers, carriers and pseudonyms of the pairs new to the cache
    new_at: np.ndarray
    new_carriers: pa.Array
    new_pseudonyms: pa.Array
    #: whether the cache started afresh (full) before this chunk
    restarted: bool


class Prepared(NamedTuple):
    """A chunk checked ahead (:meth:`LocationFastPath.prepare`)."""

    chunk: pa.Table
    #: ``None`` when the chunk's column types leave every row to the SQL path
    checked: _Checked | None
    #: the SQL path's result for the unclean rows, when handed over ahead
    others: Future[ChunkResult] | None
    #: the clean rows' pseudonyms (``None`` with ``checked``)
    identified: _Identified | None


class LocationFastPath:
    """The fast path of one ingest run: the store's placed cells and a pseudonym cache."""

    def __init__(
        self, cells: pa.Table, keyring: KeyRing, store: Store, con: duckdb.DuckDBPyConnection
    ) -> None:
        self.keyring = keyring
        self._con = con.cursor()  # its own connection, for the hashing in the reader's thread
        self._sql_path = ThreadPoolExecutor(1, thread_name_prefix="spreadwatch-sql-path")
        self.store = store
        self.region_codes = pc.unique(cells["region_code"]).sort()
        # placed cells by ``carrier<US>cell_id`` (a carrier the fast path takes has no <US>, so
        # the key is unambiguous for it), and the index of each one's region
        named = pc.invert(pc.match_substring(cells["carrier"], _SEPARATOR))
        placed = cells.filter(pc.and_(named, pc.is_valid(cells["region_code"])))
        self._cell_keys = pc.binary_join_element_wise(
            placed["carrier"], placed["cell_id"], _SEPARATOR
        ).combine_chunks()
        self._cell_region = np.asarray(
            pc.index_in(placed["region_code"], value_set=self.region_codes), dtype=np.int64
        )
        #: the pseudonym cache: ``(carrier, subscriber)`` pairs numbered (subscriber numbers
        #: held as such; the reader's thread's, see :meth:`prepare`), and each one's
        #: pseudonym's number among the run's rows (the taker's, see :meth:`process`)
        self._known = PairIds("decimal")
        self._pseudonym_of = np.empty(0, np.int32)
        self._stored = RunRows()
        self._before = store.parts(LOCATION.name)  # parts of earlier runs
        self._spans = PartSpans()
        #: per row of the last chunk's output, its carrier and pseudonym's number in the run
        self.kept_subscribers = np.empty(0, np.int64)

    @staticmethod
    def applies(keyring: KeyRing) -> bool:
        return keyring.rotation == "none"

    def prepare(self, chunk: pa.Table, unstored: UnstoredPath) -> Prepared:
        """The checks of a chunk, with its unclean rows handed to ``unstored`` (the SQL path
        without the store's rows, on a connection of its own) in a thread of the run's, and
        its clean rows' subscribers looked up in the pseudonym cache (hashing those not in it).
        Called ahead of :meth:`process`, from one other thread (the reader's) and in the
        chunks' order, so that the SQL path and the hashing of the next chunks run while this
        one's clean rows are taken."""
        checked = self._checked(chunk)
        if checked is None:
            return Prepared(chunk, None, None, None)
        others = None
        if not checked.ok.all():
            others = self._sql_path.submit(unstored, _decoded(chunk.filter(pa.array(~checked.ok))))
        return Prepared(chunk, checked, others, self._identified(checked))

    def process(
        self, prepared: Prepared, slow: SlowPath, settle: Callable[[], None] = lambda: None
    ) -> ChunkResult:
        """``(output rows, quarantine rows, duplicates removed)`` of a chunk :meth:`prepare`
        made, as :func:`spreadwatch.ingest.chunks.process_chunk` gives them; ``slow`` takes
        the chunks the fast path leaves whole to SQL. ``settle()`` runs before the store is
        read (parts still being written must be in place)."""
        checked, others = prepared.checked, prepared.others
        if checked is None:
            output, quarantine, duplicates = slow(prepared.chunk, True)
            numbered = self._numbered(output)
            self._stored.add(*numbered)
            self.kept_subscribers = numbered[0]
            return output, quarantine, duplicates
        # the unclean rows' repeats of stored rows are found with the clean rows' below
        quarantine, duplicates = QUARANTINE_SCHEMA.empty_table(), 0
        assert prepared.identified is not None
        ts, coded, numbers = self._clean_rows(checked, prepared.identified)
        who = numbers[coded["subscriber_pseudo"][1]]
        if others is not None:
            slow_output, quarantine, duplicates = others.result()
            if slow_output.num_rows:  # the rows it keeps join the clean ones
                slow_output = slow_output.cast(LOCATION.schema)
                ts = pa.concat_arrays([ts, *slow_output["ts"].chunks])
                coded = {name: _appended(c, slow_output[name]) for name, c in coded.items()}
                who = np.concatenate([who, self._numbered(slow_output)[0]])
        rows = pa.table(
            {
                name: ts if name == "ts" else _dictionary(*coded[name])
                for name in LOCATION.schema.names
            }
        )
        kept, repeats = _distinct_order(
            rows, tuple(value_ranks(coded[n][0])[coded[n][1]] for n in _RANKED)
        )
        rows = rows.take(pa.array(kept))
        who = who[kept]
        cells = coded["cell_id"]
        cell = self._stored.cell_numbers(cells[0])[cells[1][kept]]
        settle()
        rows, earlier = self._new_to_store(rows, who, cell)
        return rows, quarantine, duplicates + repeats + earlier

    def close(self) -> None:
        """Stop the SQL path's thread (work handed to it and not started is dropped)."""
        self._sql_path.shutdown(cancel_futures=True)

    def _numbered(self, rows: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row its pseudonym's number, its time and its cell's number (for
        :class:`RunRows`)."""
        carriers, pseudonyms = (
            rows[name].combine_chunks().cast(pa.string())
            for name in ("carrier", "subscriber_pseudo")
        )
        who = self._stored.numbers(carriers, pseudonyms)
        cell = self._stored.cell_numbers(rows["cell_id"].combine_chunks().cast(pa.string()))
        return who, _micros_of(rows), cell

    # --- the clean rows ---------------------------------------------------------------------

    def _checked(self, chunk: pa.Table) -> _Checked | None:
        """Which rows are clean, and what their output needs; ``None`` when the chunk's column
        types leave everything to the SQL path."""
        carrier, subscriber, cell = (
            _encoded(chunk[c]) for c in ("carrier", "subscriber_id", "cell_id")
        )
        ts = combined(chunk["ts"])
        if carrier is None or subscriber is None or cell is None:
            return None
        if pa.types.is_dictionary(ts.type):  # text times, as read from Parquet
            ts = ts.cast(ts.type.value_type)
        if pa.types.is_timestamp(ts.type):
            if ts.type.unit not in _TS_UNITS:
                return None
            zoned = pa.timestamp(ts.type.unit, tz="UTC")
            typed = ts.cast(zoned)
            # the SQL path renders and re-reads the time: only years 1000-2999 come back alike
            in_range = pc.and_(
                pc.greater_equal(typed, pa.scalar(_EARLIEST, zoned)),
                pc.less(typed, pa.scalar(_LATEST, zoned)),
            )
            ts_ok = np.asarray(pc.fill_null(in_range, False))
            instants = typed.cast(_UTC_US, safe=False)  # read only where ts_ok: no overflow
        elif pa.types.is_string(ts.type):
            shaped = pc.fill_null(pc.match_substring_regex(ts, _CANONICAL_TS), False)
            parsed = pc.strptime(ts, format="%Y-%m-%dT%H:%M:%SZ", unit="us", error_is_null=True)
            instants = parsed.cast(_UTC_US)
            # Arrow rolls 2020-02-30 over to March 1; SQL refuses it: the day must survive
            day_text = pc.if_else(shaped, pc.utf8_slice_codeunits(ts, 8, 10), "0")
            day = pc.cast(day_text, pa.int64())
            same_day = pc.fill_null(pc.equal(pc.day(parsed), day), False)
            ts_ok = np.asarray(pc.and_(pc.and_(shaped, parsed.is_valid()), same_day))
        else:
            return None
        plausible = pc.and_(
            pc.greater_equal(instants, pa.scalar(PLAUSIBLE_FROM, _UTC_US)),
            pc.less(instants, pa.scalar(PLAUSIBLE_UNTIL, _UTC_US)),
        )
        ts_ok &= np.asarray(pc.fill_null(plausible, False))  # the rest: SQL names the reason
        c_idx, s_idx, cell_idx = _indices(carrier), _indices(subscriber), _indices(cell)
        carriers = carrier.dictionary.to_pylist()
        carrier_ok = np.array([bool(NAME_PATTERN.fullmatch(c)) for c in carriers], dtype=bool)
        ok = _with_null(carrier_ok)[c_idx] & _with_null(_untrimmed_ok(subscriber.dictionary))[s_idx]
        ok &= ts_ok & (cell_idx >= 0)
        region = self._regions(carrier.dictionary, cell.dictionary, c_idx, cell_idx, ok)
        ok &= region >= 0
        return _Checked(ok, instants, carrier, subscriber, cell, c_idx, s_idx, cell_idx, region)

    def _clean_rows(
        self, checked: _Checked, identified: _Identified
    ) -> tuple[pa.Array, dict[str, Coded], np.ndarray]:
        """The clean rows' times, their other output columns as distinct values and
        positions (no strings copied), and the run's number of each distinct pseudonym."""
        c, rows = checked, identified.rows
        numbers = self._pseudonym_numbers(identified)
        names = self._stored.pseudonyms(numbers)
        coded = {
            "carrier": (c.carrier.dictionary, c.c_idx[rows]),
            "subscriber_pseudo": (names, identified.where),
            "region_code": (self.region_codes, c.region[rows]),
            "cell_id": (c.cell.dictionary, c.cell_idx[rows]),
        }
        return c.instants.take(pa.array(rows)), coded, numbers

    def _regions(
        self,
        carriers: pa.Array,
        cells: pa.Array,
        c_idx: np.ndarray,
        cell_idx: np.ndarray,
        ok: np.ndarray,
    ) -> np.ndarray:
        """Per row, the region index of its placed cell (-1 when unknown or not ``ok``); rows
        that are ``ok`` have a carrier name, so without <US>."""
        region = np.full(len(c_idx), -1, dtype=np.int64)
        rows = np.flatnonzero(ok)
        if not rows.size:
            return region
        pair = c_idx[rows] * len(cells) + cell_idx[rows]
        pairs, where = dense_unique(pair, len(carriers) * len(cells))
        carrier, cell = np.divmod(pairs, len(cells))
        keys = pc.binary_join_element_wise(
            carriers.take(pa.array(carrier)), cells.take(pa.array(cell)), _SEPARATOR
        )
        at = np.asarray(pc.fill_null(pc.index_in(keys, value_set=self._cell_keys), -1))
        region[rows] = np.append(self._cell_region, -1)[at][where]
        return region

    def _identified(self, checked: _Checked) -> _Identified:
        """The clean rows' distinct ``(carrier, subscriber)`` pairs numbered in the cache, and
        the pseudonyms of those not in it: one HMAC each."""
        c = checked
        rows = np.flatnonzero(c.ok)
        carriers, subscribers = c.carrier.dictionary, c.subscriber.dictionary
        pair = c.c_idx[rows] * len(subscribers) + c.s_idx[rows]
        pairs, where = dense_unique(pair, len(carriers) * len(subscribers))
        restarted = len(self._known) > CACHE_ROWS
        if restarted:
            self._known = PairIds("decimal")
        carrier, sub = np.divmod(pairs, len(subscribers))
        carriers, subscribers = carriers.take(pa.array(carrier)), subscribers.take(pa.array(sub))
        known = len(self._known)
        at = self._known.ids(carriers, subscribers)
        new = np.flatnonzero(at >= known)  # numbered in the order first seen: after the known
        new_carriers = carriers.take(pa.array(new))
        fresh = pa.array([], pa.string())
        if new.size:
            fresh = self._hmac(new_carriers, subscribers.take(pa.array(new)))
        return _Identified(rows, where, at, at[new], new_carriers, fresh, restarted)

    def _pseudonym_numbers(self, identified: _Identified) -> np.ndarray:
        """The run's number of the pseudonym of each of the chunk's distinct pairs: the
        cache's, numbering the pseudonyms of pairs new to it."""
        if identified.restarted:
            self._pseudonym_of = np.empty(0, np.int32)
        new_at = identified.new_at
        if new_at.size:
            self._pseudonym_of = grown(self._pseudonym_of, int(new_at.max()) + 1)
            self._pseudonym_of[new_at] = self._stored.numbers(
                identified.new_carriers, identified.new_pseudonyms
            )
        return self._pseudonym_of[identified.at].astype(np.int64)

    def _hmac(self, carriers: pa.Array, subscribers: pa.Array) -> pa.Array:
        """Pseudonyms of ``carrier:subscriber`` pairs by the keyring's SQL (in DuckDB)."""
        self._con.register("new_identifiers", pa.table({"c": carriers, "s": subscribers}))
        sql = self.keyring.pseudonym_sql("c || ':' || s")
        names = self._con.sql(f"SELECT {sql} AS pseudo FROM new_identifiers").to_arrow_table()
        self._con.unregister("new_identifiers")
        return names["pseudo"].combine_chunks().cast(pa.string())

    # --- repeats ----------------------------------------------------------------------------

    def _new_to_store(
        self, rows: pa.Table, who: np.ndarray, cell: np.ndarray
    ) -> tuple[pa.Table, int]:
        """``rows`` (distinct, in order; ``who`` and ``cell`` their pseudonyms' and cells'
        numbers) without those the store holds already. The run's own rows are told apart by
        :class:`RunRows`; of the store's parts, only those of earlier runs overlapping the rows'
        carriers and time span are read, and of this run's, those overlapping the rows it
        leaves unsure. Only rows sharing a time with a stored row are compared whole."""
        if not rows.num_rows:
            self.kept_subscribers = who
            return rows, 0
        micros = _micros_of(rows)
        sorted_out = self._stored.sort_out(who, micros, cell)
        repeat = sorted_out.repeat
        parts = self._overlapping(rows, self._before)
        if sorted_out.unsure.any():
            before = set(self._before)
            ran = [p for p in self.store.parts(LOCATION.name) if p not in before]
            parts += self._overlapping(rows.filter(pa.array(sorted_out.unsure)), ran)
        if parts:
            repeat |= _stored_in(rows, parts)
        new = ~repeat
        self._stored.add(who[new], micros[new], cell[new])
        self.kept_subscribers = who[new]
        return rows.filter(pa.array(new)), int(repeat.sum())

    def _overlapping(self, rows: pa.Table, parts: list[Path]) -> list[Path]:
        """Of ``parts``, those that may hold rows of the carriers and time span of ``rows``."""
        if not parts or not rows.num_rows:
            return []
        low, high = pc.min_max(rows["ts"]).values()
        return self._spans.overlapping(parts, low.value, high.value, _carriers(rows))


def _stored_in(rows: pa.Table, parts: list[Path]) -> np.ndarray:
    """Which of ``rows`` the ``parts`` hold (reading only their rows of the same carriers
    and time span; comparing whole only the rows sharing a time with one of them)."""
    repeat = np.zeros(rows.num_rows, dtype=bool)
    low, high = pc.min_max(rows["ts"]).values()
    span = (ds.field("ts") >= low) & (ds.field("ts") <= high)
    carriers = pa.array(sorted(_carriers(rows)), pa.string())
    earlier = ds.dataset(parts, format="parquet").to_table(
        columns=list(LOCATION.key), filter=span & ds.field("carrier").isin(carriers)
    )
    maybe = np.asarray(pc.is_in(rows["ts"], value_set=earlier["ts"].combine_chunks()))
    if not maybe.any():
        return repeat
    candidates = rows.filter(pa.array(maybe)).select(LOCATION.key).cast(_KEY_SCHEMA)
    candidates = candidates.append_column("_row", pa.array(np.flatnonzero(maybe)))
    stored = candidates.join(earlier.cast(_KEY_SCHEMA), list(LOCATION.key), join_type="left semi")
    repeat[stored["_row"].to_numpy()] = True
    return repeat


def _carriers(rows: pa.Table) -> set[str]:
    carriers = pc.unique(rows["carrier"])
    if pa.types.is_dictionary(carriers.type):
        carriers = carriers.cast(carriers.type.value_type)
    return set(carriers.to_pylist())


def _micros_of(rows: pa.Table) -> np.ndarray:
    """The rows' times as microseconds since 1970."""
    ts = rows["ts"].combine_chunks().cast(_UTC_US).cast(pa.int64())
    return ts.to_numpy(zero_copy_only=False)


#: The key columns as the store holds them (compared by their strings).
_KEY_SCHEMA = pa.schema([LOCATION.schema.field(name) for name in LOCATION.key])


class PartSpans:
    """The time span and carriers of each location part, read once from its footer's
    statistics: a chunk opens only the parts it may repeat rows of."""

    def __init__(self) -> None:
        self._known: dict[Path, tuple[int, int, set[str] | None] | None] = {}

    def overlapping(self, parts: list[Path], low: int, high: int, carriers: set[str]) -> list[Path]:
        """The parts that may hold rows of ``carriers`` between ``low`` and ``high``
        (microseconds, inclusive)."""
        chosen = []
        for part in parts:
            if part not in self._known:
                self._known[part] = _span_of(part)
            span = self._known[part]
            if span is None:  # no statistics: it may hold anything
                chosen.append(part)
                continue
            first, last, held = span
            if first <= high and last >= low and (held is None or held & carriers):
                chosen.append(part)
        return chosen


def _span_of(part: Path) -> tuple[int, int, set[str] | None] | None:
    """``(first, last, carriers)`` of a part from its row groups' statistics (carriers
    ``None`` when they are not all known); ``None`` without time statistics."""
    metadata = pq.ParquetFile(part).metadata
    names = metadata.schema.to_arrow_schema().names
    ts, carrier = names.index("ts"), names.index("carrier")
    first, last, carriers = None, None, set()
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        times, held = group.column(ts).statistics, group.column(carrier).statistics
        if times is None or not times.has_min_max:
            return None
        low, high = _micros(times.min), _micros(times.max)
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
        if carriers is not None and held is not None and held.has_min_max and held.min == held.max:
            carriers.add(held.min)
        else:
            carriers = None
    if first is None:
        return None
    return first, last, carriers


def _micros(value: datetime | int) -> int:
    """A timestamp statistic as microseconds since 1970 (UTC)."""
    if isinstance(value, datetime):
        return int(pa.scalar(value, _UTC_US).value)
    return int(value)


#: The columns ordered by their strings' ranks, after the time.
_RANKED = ("carrier", "subscriber_pseudo", "cell_id")


def _dictionary(values: pa.Array, at: np.ndarray) -> pa.DictionaryArray:
    """The column whose row ``i`` is ``values[at[i]]``, dictionary-encoded (nothing copied)."""
    return pa.DictionaryArray.from_arrays(pa.array(at, pa.int32()), values)


def _appended(coded: Coded, more: pa.ChunkedArray) -> Coded:
    """``coded``'s rows followed by the strings of ``more`` (a few rows), as distinct values
    and positions: the values of ``more`` not among ``coded``'s are added after them."""
    values, at = coded
    more = more.combine_chunks().cast(values.type)
    extra = pc.unique(more)
    # where each distinct string of ``more`` is among the values, or after them when new
    found = pc.index_in(values, value_set=extra)  # per value: its place in ``extra``
    hit = np.flatnonzero(np.asarray(found.is_valid()))
    place = np.full(len(extra), -1, dtype=np.int64)
    place[np.asarray(found.take(pa.array(hit))).astype(np.int64)] = hit
    new = np.flatnonzero(place < 0)
    place[new] = len(values) + np.arange(new.size)
    values = pa.concat_arrays([values, extra.take(pa.array(new))])
    rows = place[np.asarray(pc.index_in(more, value_set=extra)).astype(np.int64)]
    return values, np.concatenate([at, rows])


def _distinct_order(rows: pa.Table, known: Ranks | None = None) -> tuple[np.ndarray, int]:
    """The distinct rows ordered by time, then carrier, pseudonym and cell (the store's
    order), as positions; and how many repeats that drops. ``known``: those three columns'
    ranks, when known."""
    if not rows.num_rows:
        return np.zeros(0, np.int64), 0
    ts = time_key(rows["ts"].combine_chunks().cast(pa.int64()).to_numpy())
    carrier, who, cell = known or (ranks(rows[c])[0] for c in _RANKED)
    kept = distinct_lexical_order(ts, carrier, who, cell)
    return kept, rows.num_rows - kept.size
