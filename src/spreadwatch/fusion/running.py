"""Daily fusion tables counted while location events are ingested, not re-read afterwards.

The ingest of location events hands each chunk's kept rows to :class:`RunningFlows`, which
counts what the kernels of :mod:`spreadwatch.fusion.kernels` count over all events (same
definitions, tested equal) and carries per subscriber what later rows need:

* **trips**: the subscriber's last event, which a later chunk's first event follows;
* **presence**: an event covers the hours up to its subscriber's next event, unknown until
  that event arrives. So a subscriber's hours are counted only before their *watermark*, the
  hour of their last event so far; the events whose hours reach it stay in the *tail* and are
  counted again, from the watermark on, with the subscriber's next rows (or at the end);
* **commuting**: per subscriber, night-time events per region, and daytime events per date and
  region; the modal regions are taken when the tables are asked for.

Each subscriber's events must arrive in order: a chunk's rows must all follow (by time, then
cell) the subscriber's events of earlier chunks, as one carrier's deliveries day after day do.
When they do not, counting stops (:attr:`RunningFlows.broken`) and ``spreadwatch flows``
recomputes from the store. The state is kept in the store (``running-flows.npz``: carrier
names with pseudonyms, cell IDs, region codes, the tail events' times, cells and regions, and
counts; what the parts hold, no raw identifier) with the content hashes of the files it counted;
``flows`` uses it only when those are exactly the store's location files (an ingest killed
midway leaves an older state behind: then flows recompute, and ingest stops counting).
"""

from __future__ import annotations

import logging
import zipfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch import durable
from spreadwatch.fusion.kernels import (
    commuting_table,
    last_hours,
    modal,
    pairs_table,
    presence_changes,
    presence_table,
    subscriber_slices,
)
from spreadwatch.fusion.mobility import (
    DAY_HOURS,
    DEFAULT_MAX_GAP_HOURS,
    NIGHT_HOURS,
    SCHEMAS,
    TIMEZONE_OFFSET_HOURS,
)
from spreadwatch.fusion.sweeps import (
    Layout,
    chained_counts,
    distinct_groups,
    grouped_rows,
    last_dates,
    moved_down,
    spans_rows,
)
from spreadwatch.fusion.tallies import (
    ClosedDays,
    Counts,
    coded,
    no_keys,
    numbered_values,
    runs,
    string_array,
    string_buffers,
)
from spreadwatch.interning import SEPARATOR, PairIds, StringIds, grown
from spreadwatch.ordering import (
    dense_unique,
    lexical_order,
    value_ranks,
    whole_seconds,
)

if TYPE_CHECKING:
    from spreadwatch.ingest.sources import Source
    from spreadwatch.ingest.store import Store

STATE_FILE = "running-flows.npz"
_log = logging.getLogger(__name__)
_HOUR_US = 3_600_000_000
_GAP_US = DEFAULT_MAX_GAP_HOURS * _HOUR_US

# packed keys: region indices in 16 bits, KST days since 1970 in 20, subscribers in 27
_REGION_BITS, _DAY_BITS, _WHO_BITS = 16, 20, 27
_REGION_MASK, _DAY_MASK = (1 << _REGION_BITS) - 1, (1 << _DAY_BITS) - 1
_DAY_REGION_BITS = _DAY_BITS + _REGION_BITS
#: (hour, region) cells of a round's presence counted in one dense table, at least (more when
#: the round has many rows); hours further apart are counted sparsely.
DENSE_CELLS = 2_000_000
#: Rows (new and carried) counted at once, at most (whole subscribers; bounds memory).
ROUND_ROWS = 500_000
#: Daytime tallies held before the closed dates' are reduced to their modal region.
OPEN_DAY_TALLIES = 2_000_000
#: Daytime tallies closed at a time, about (see ``RunningFlows._close_days``).
CLOSE_SLICE = 1 << 21
_LAYOUT = Layout(
    hour_us=_HOUR_US,
    gap_us=_GAP_US,
    offset_hours=TIMEZONE_OFFSET_HOURS,
    region_bits=_REGION_BITS,
    day_region_bits=_DAY_REGION_BITS,
    night_from=NIGHT_HOURS[0],
    night_until=NIGHT_HOURS[1],
    day_from=DAY_HOURS[0],
    day_until=DAY_HOURS[1],
)


class _Tail:
    """Events still needed by later rows, each subscriber's contiguous and in order.

    Where each subscriber's rows start and how many there are is kept per subscriber, so a
    chunk reads and replaces only the rows of its own subscribers, whatever the number of
    others: replaced rows stay behind, unused, until they come to a quarter of the rows in
    use, and then the rows in use are moved down over them, in place. A row holds its time, cell
    and region (14 bytes); its subscriber is known from the index. The columns grow in place,
    by a quarter (``ndarray.resize``: the allocator remaps large blocks rather than copying
    them), so neither packing nor growing holds two copies of them: at ten million subscribers
    the tail holds some fifty million rows, and each tenth of its room is 70 MB."""

    def __init__(self, *arrays: np.ndarray) -> None:
        who, micros, cell, region = arrays or (no_keys(),) * 4
        self._columns = [
            np.array(micros, np.int64),  # copies: each column owns its memory (resized)
            np.array(cell, np.int32),
            np.array(region, np.uint16),
        ]
        self._used = self._live = who.size
        self._starts = np.zeros(0, np.int32)  # rows in use stay below 2**31
        self._counts = np.zeros(0, np.int32)
        self._index(who.astype(np.int64), 0)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Subscriber, time, cell and region of the rows in use, each subscriber's together
        (as held: 32-bit subscribers, cells and 16-bit regions). The last three are views of
        the held rows, valid until the tail changes."""
        self._pack()
        by_place = self._by_place()
        who = np.repeat(by_place.astype(np.int32), self._counts[by_place])
        return who, *(column[: self._used] for column in self._columns)

    def last_dates(self, size: int) -> np.ndarray:
        """Per subscriber below ``size``, the local date of their last row (-1 without)."""
        return last_dates(self._starts, self._counts, self._columns[0], size, _LAYOUT)

    def of(self, subscribers: np.ndarray) -> tuple[np.ndarray, ...]:
        """The rows of ``subscribers``, one subscriber's after another's."""
        known = subscribers[subscribers < self._starts.size]
        rows = spans_rows(self._starts, self._counts, known)
        who = np.repeat(known, self._counts[known])
        return who, *(column[rows].astype(np.int64) for column in self._columns)

    def replace(self, subscribers: np.ndarray, *rows: np.ndarray) -> None:
        """Drop the rows of ``subscribers`` and add ``rows`` (subscriber, time, cell, region;
        theirs, each subscriber's contiguous)."""
        known = subscribers[subscribers < self._starts.size]
        self._live -= int(self._counts[known].sum())
        self._counts[known] = 0
        who, *values = rows
        added = who.size
        room = self._columns[0].size
        if self._used + added > room:
            self._pack()
            if self._used + added > room:
                for column in self._columns:  # only the list refers to them: resized in place
                    column.resize(max(self._used + added, room + room // 4), refcheck=False)
        for column, column_values in zip(self._columns, values, strict=True):
            column[self._used : self._used + added] = column_values
        self._index(who, self._used)
        self._used += added
        self._live += added
        if self._used > self._live + self._live // 4 + (1 << 20):
            self._pack()

    def _index(self, who: np.ndarray, begin: int) -> None:
        """Record where the subscribers ``who`` of the rows from ``begin`` on start, and their
        counts."""
        if not who.size:
            return
        size = int(who.max()) + 1
        if size > self._starts.size:
            self._starts = grown(self._starts, size)
            self._counts = grown(self._counts, size)
        _, first, last = runs(who[1:] == who[:-1])
        self._starts[who[first]] = first + begin
        self._counts[who[first]] = last - first + 1

    def _by_place(self) -> np.ndarray:
        """The subscribers with rows, in the order their rows lie."""
        held = np.flatnonzero(self._counts).astype(np.int32)
        return held[np.argsort(self._starts[held], kind="stable")]

    def _pack(self) -> None:
        """Move the rows in use down over the replaced ones, in place, in the order they lie
        (each subscriber's staying together)."""
        if self._used == self._live:
            return
        columns = (self._columns[0], self._columns[1], self._columns[2])
        self._used = self._live = moved_down(columns, self._starts, self._counts, self._by_place())


class RunningFlows:
    """Running counts of the daily fusion tables over the location events added so far."""

    def __init__(self) -> None:
        #: content hashes of the files whose rows were added (as the store's manifest has them)
        self.files: list[str] = []
        #: why counting stopped, if it did
        self.broken: str | None = None
        self._subscribers = PairIds()
        #: per number of the ingest run's own (see :meth:`add`), the subscriber's; -1: not yet
        self._of_run_number = np.empty(0, np.int32)  # numbers below 2**27
        self._cells = StringIds()
        self._ranked: np.ndarray | None = None  # of the cells
        self._groups = np.zeros(0, np.int64)  # see _scratch
        self._regions = StringIds()
        self._tail = _Tail()
        self._trips = Counts()
        self._presence = Counts()
        self._nights = Counts()
        self._days = Counts()  # daytime events per subscriber, KST date and region
        #: the modal daytime region of the dates closed by ``_close_days``
        self._closed = ClosedDays()
        self._open_after_close = 0

    # --- counting -------------------------------------------------------------------------------

    def add(self, rows: pa.Table, subscribers: np.ndarray | None = None) -> None:
        """Count kept location events (``carrier``, ``subscriber_pseudo``, ``ts``, ``cell_id``,
        ``region_code``), which must follow their subscribers' events added before.

        ``subscribers``, when given, numbers each row's carrier and pseudonym as the ingest run
        does (the same pair, the same number, in every call of one run): each pair is then
        looked up once a run, not once a chunk."""
        if self.broken is None and rows.num_rows:
            numbered = self._numbered(rows, subscribers)
            if numbered is not None:
                self._count(*numbered)

    def _stop(self, reason: str) -> None:
        self.broken = reason

    def _numbered(
        self, rows: pa.Table, subscribers: np.ndarray | None
    ) -> tuple[np.ndarray, ...] | None:
        """Subscriber, time (microseconds), cell and region of each row, as integers."""
        if any(rows[c].null_count for c in _COLUMNS):
            return self._stop("events with missing values")
        carriers = coded(rows["carrier"])[0]
        if pc.any(pc.match_substring(carriers.cast(pa.string()), SEPARATOR)).as_py():
            return self._stop("a carrier name holding the separator")
        if subscribers is None:
            who = self._subscribers_of(rows, np.arange(rows.num_rows))
        else:
            who = self._by_run_number(rows, subscribers)
        cell = numbered_values(self._cells, rows["cell_id"])
        region = numbered_values(self._regions, rows["region_code"])
        ts = rows["ts"].cast(pa.timestamp("us", "UTC")).cast(pa.int64())
        micros = ts.to_numpy() if isinstance(ts, pa.Array) else ts.combine_chunks().to_numpy()
        if len(self._subscribers) >= 1 << _WHO_BITS or len(self._regions) > _REGION_MASK:
            return self._stop("too many subscribers or regions for the packed keys")
        if micros.min() < 0 or (micros.max() // _HOUR_US + TIMEZONE_OFFSET_HOURS) // 24 > _DAY_MASK:
            return self._stop("events before 1970 or after the packed dates")
        return who, micros.astype(np.int64), cell, region

    def _subscribers_of(self, rows: pa.Table, at: np.ndarray) -> np.ndarray:
        """The subscriber numbers of rows ``at``."""
        carriers, carrier = coded(rows["carrier"].take(pa.array(at)))
        pseudos, pseudo = coded(rows["subscriber_pseudo"].take(pa.array(at)))
        pair = carrier.astype(np.int64) * len(pseudos) + pseudo
        pairs, where = dense_unique(pair, len(carriers) * len(pseudos))
        carrier, pseudo = np.divmod(pairs, len(pseudos))
        return self._subscribers.ids(
            carriers.take(pa.array(carrier)).cast(pa.string()),
            pseudos.take(pa.array(pseudo)).cast(pa.string()),
        )[where]

    def _by_run_number(self, rows: pa.Table, subscribers: np.ndarray) -> np.ndarray:
        """The subscriber numbers of rows numbered ``subscribers`` by the ingest run: looked
        up for numbers not seen before in this run, then kept."""
        known = self._of_run_number
        if subscribers.size and int(subscribers.max()) >= known.size:
            bigger = grown(known, int(subscribers.max()) + 1)
            bigger[known.size :] = -1
            known = self._of_run_number = bigger
        unseen = np.flatnonzero(known[subscribers] < 0)
        if unseen.size:
            numbers, first = np.unique(subscribers[unseen], return_index=True)
            known[numbers] = self._subscribers_of(rows, unseen[first])
        return known[subscribers].astype(np.int64)

    def _count(
        self, who: np.ndarray, micros: np.ndarray, cell: np.ndarray, region: np.ndarray
    ) -> None:
        """Count new rows with the tail of their subscribers (see the module doc), by slices of
        whole subscribers (bounding the temporary arrays)."""
        subscribers = distinct_groups(who, self._scratch())
        carried = self._tail.of(subscribers)
        new = (a.astype(np.int64, copy=False) for a in (who, micros, cell, region))
        *rows, is_new, ordered = grouped_rows(*carried, *new, self._cell_ranks(), self._scratch())
        del carried
        if not ordered:  # rows usually come in order but for the subscriber: else sort them
            rows, is_new = self._ordered(*rows, is_new)
            who = rows[0]
            if (is_new[:-1] & ~is_new[1:] & (who[1:] == who[:-1])).any():
                return self._stop("events of a subscriber arrived after later ones")
        who, micros, cell, region = rows
        keep = np.zeros(who.size, dtype=bool)
        for part in subscriber_slices(who, ROUND_ROWS):
            keep[part] = self._count_ordered(who[part], micros[part], region[part], is_new[part])
        self._tail.replace(subscribers, *(a[keep] for a in (who, micros, cell, region)))
        open_after = self._open_after_close
        if self._days.held > open_after + max(OPEN_DAY_TALLIES, open_after // 2):
            self._close_days()
            self._open_after_close = self._days.held
        return None

    def _count_ordered(
        self, who: np.ndarray, micros: np.ndarray, region: np.ndarray, is_new: np.ndarray
    ) -> np.ndarray:
        """Count whole subscribers' rows ordered by subscriber, time and cell (their tail
        first); returns which rows are still needed later."""
        begin, final, keep, trips, nights, night_counts, days, day_counts = chained_counts(
            who, micros, region, is_new, _LAYOUT
        )
        self._trips.add(trips)
        self._count_presence(who, region, begin, final)
        self._nights.add(nights, night_counts)
        self._days.add(days, day_counts)
        return keep

    def _close_days(self) -> None:
        """Keep only the modal region of each subscriber's dates before the date of their last
        event (no later event can fall on them). The tallies are taken in slices of whole
        subscriber-dates (:data:`CLOSE_SLICE` keys) and the open ones moved to the front in
        place: the temporary arrays are a slice's, not the tallies' (tens of millions)."""
        last_date = self._tail.last_dates(len(self._subscribers))
        keys, events = self._days.total()
        if not (keys.flags.writeable and events.flags.writeable):
            keys, events = keys.copy(), events.copy()
        self._days = Counts()
        rank = value_ranks(self._regions.values)
        back = np.argsort(rank)  # from ranks (which new regions change) back to numbers
        kept = 0
        for start, stop in _whole_group_slices(keys, _REGION_BITS, CLOSE_SLICE):
            part, counted = keys[start:stop], events[start:stop]
            closed = ((part >> _REGION_BITS) & _DAY_MASK) < last_date[part >> _DAY_REGION_BITS]
            done = part[closed]
            groups, top = modal(done >> _REGION_BITS, rank[done & _REGION_MASK], counted[closed])
            self._closed.add(groups >> _DAY_BITS, groups & _DAY_MASK, back[top])
            still_open = ~closed
            opened = int(still_open.sum())
            # kept <= start: the open keys move down over slices already read
            keys[kept : kept + opened] = part[still_open]
            events[kept : kept + opened] = counted[still_open]
            kept += opened
        self._days = Counts(keys[:kept], events[:kept])

    def _ordered(
        self,
        who: np.ndarray,
        micros: np.ndarray,
        cell: np.ndarray,
        region: np.ndarray,
        is_new: np.ndarray,
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Rows grouped by subscriber (:func:`grouped_rows`) ordered by subscriber, time and
        cell (kept rows never share all three), the carried ones first where they tie."""
        rank = self._cell_ranks()[cell]
        low = int(micros.min())
        seconds = whole_seconds(micros)
        time = micros - low if seconds is None else seconds
        order = lexical_order(who, time, rank)
        return [a[order] for a in (who, micros, cell, region)], is_new[order]

    def _scratch(self) -> np.ndarray:
        """-1 per subscriber: the compiled groupings number the subscribers of a chunk in it
        (and leave it as they found it)."""
        if self._groups.size < len(self._subscribers):
            self._groups = np.full(len(self._subscribers) * 3 // 2, -1, np.int32)
        return self._groups

    def _cell_ranks(self) -> np.ndarray:
        """The rank of each numbered cell among all cells' IDs (kept until new cells come)."""
        if self._ranked is None or len(self._ranked) != len(self._cells):
            self._ranked = value_ranks(self._cells.values)
        return self._ranked

    def _count_presence(
        self, who: np.ndarray, region: np.ndarray, begin: np.ndarray, last: np.ndarray
    ) -> None:
        """Add the people of spans of hours ``begin..last`` (empty when ``last < begin``)."""
        self._presence.add(*self._presence_of(who, region, begin, last))

    def _presence_of(
        self, who: np.ndarray, region: np.ndarray, begin: np.ndarray, last: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Packed (hour, region) keys and people of spans of hours (rows ordered by subscriber
        and time; a span holds at most ``DEFAULT_MAX_GAP_HOURS + 1`` hours)."""
        spans = begin <= last
        if not spans.any():
            return no_keys(), no_keys()
        first = int(begin[spans].min())
        regions = len(self._regions)
        hours = int(last[spans].max()) - first + 2
        if hours * regions > max(DENSE_CELLS, 4 * who.size):  # hours far apart: count sparsely
            return _sparse_presence(who[spans], region[spans], begin[spans], last[spans])
        changes = presence_changes(
            who, region, begin - first, last - first, regions, hours * regions
        )
        people = np.cumsum(changes.reshape(hours, regions), axis=0)
        hour, region = np.nonzero(people)
        return ((hour + first) << _REGION_BITS) | region, people[hour, region]

    # --- the tables ---------------------------------------------------------------------------

    def tables(self, k: int) -> dict[str, pa.Table]:
        """``od_flows``, ``presence`` and ``commuting`` of every event added, as the kernels
        count them over those events."""
        if self.broken is not None:
            raise ValueError(f"the running flows stopped counting: {self.broken}")
        rank = value_ranks(self._regions.values)
        codes = self._regions.values.take(pa.array(np.argsort(rank)))
        return {
            "od_flows": self._od_flows(rank, codes, k),
            "presence": self._presence_table(rank, codes, k),
            "commuting": self._commuting(rank, codes, k),
        }

    def _od_flows(self, rank: np.ndarray, codes: pa.Array, k: int) -> pa.Table:
        keys, trips = self._trips.total()
        day = keys >> 2 * _REGION_BITS
        origin = rank[(keys >> _REGION_BITS) & _REGION_MASK]
        dest = rank[keys & _REGION_MASK]
        order = lexical_order(day, origin, dest)
        return pairs_table(
            day[order], origin[order], dest[order], trips[order], codes, "od_flows", k
        )

    def _presence_table(self, rank: np.ndarray, codes: pa.Array, k: int) -> pa.Table:
        """Presence counted so far, and that of the tail's hours from each subscriber's
        watermark on."""
        counted = Counts(*self._presence.total())
        who, micros, _, region = (column.astype(np.int64) for column in self._tail.arrays())
        if who.size:
            hour = micros // _HOUR_US
            group, _, final = runs(who[1:] == who[:-1])
            begin = np.maximum(hour, hour[final][group])
            counted.add(*self._presence_of(who, region, begin, last_hours(who, micros, _GAP_US)))
        keys, people = counted.total()
        if not keys.size:
            return SCHEMAS["presence"].empty_table()
        return presence_table(keys >> _REGION_BITS, rank[keys & _REGION_MASK], people, codes, k)

    def _commuting(self, rank: np.ndarray, codes: pa.Array, k: int) -> pa.Table:
        keys, nights = self._nights.total()
        home_who, homes = modal(keys >> _REGION_BITS, rank[keys & _REGION_MASK], nights)
        keys, events = self._days.total()
        groups = keys >> _REGION_BITS  # subscriber and date
        groups, open_regions = modal(groups, rank[keys & _REGION_MASK], events)
        open_who, open_date = groups >> _DAY_BITS, groups & _DAY_MASK
        tables = []  # date by date: the counts of one date never mix with another's
        for date in sorted(set(self._closed.dates()) | set(np.unique(open_date).tolist())):
            closed_who, closed_regions = self._closed.of(date)  # the same subscribers' are open
            on = open_date == date  # on other dates
            who = np.concatenate([closed_who, open_who[on]])
            regions = np.concatenate([rank[closed_regions], open_regions[on]])
            dates = np.full(who.size, date, np.int64)
            tables.append(commuting_table(home_who, homes, who, dates, regions, codes, k))
        if not tables:
            return SCHEMAS["commuting"].empty_table()
        return pa.concat_tables(tables)

    # --- in the store --------------------------------------------------------------------------

    def save(self, store_root: Path) -> None:
        """Keep the state in the store (atomically); a stopped count removes it instead. The
        arrays are written one after another, each made only when its turn comes (an ``.npz``
        archive, as :func:`numpy.savez` writes it), so saving holds little beside the state."""
        path = Path(store_root) / STATE_FILE
        if self.broken is not None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
            for name, array in self._state():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.asarray(array), allow_pickle=False)
                del array
        durable.replace(tmp, path)

    def _state(self) -> Iterator[tuple[str, np.ndarray]]:
        """The state's named arrays, one at a time (see :meth:`_from_arrays`)."""
        strings = self._strings()
        pairs = self._subscribers.arrays()
        if pairs is None:  # held as text
            strings["subscribers"] = self._subscribers.keys()
        else:
            yield from ((f"subscriber_{name}", array) for name, array in pairs.items())
        del pairs
        for name, values in strings.items():
            offsets, data = string_buffers(values)
            yield f"{name}_offsets", offsets
            yield f"{name}_data", data
        del strings
        for name, counts in self._counted().items():
            keys, counted = counts.total()
            yield f"{name}_keys", keys
            yield f"{name}_counts", counted
        yield from zip((f"tail_{name}" for name in _TAIL), self._tail.arrays(), strict=True)
        yield from self._closed.arrays().items()

    @classmethod
    def load(cls, store_root: Path) -> RunningFlows | None:
        """The state kept in the store, if any (``None`` also when it cannot be read)."""
        path = Path(store_root) / STATE_FILE
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None
        try:
            return cls._from_arrays(arrays)
        except (KeyError, ValueError):  # not a state this version wrote
            return None

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> RunningFlows:
        running = cls()
        if "subscribers_offsets" in arrays:  # pairs held as text
            keys = string_array(arrays["subscribers_offsets"], arrays["subscribers_data"])
            running._subscribers = PairIds.from_keys(keys)
        else:
            prefix = "subscriber_"
            running._subscribers = PairIds.from_arrays(
                {n[len(prefix) :]: a for n, a in arrays.items() if n.startswith(prefix)}
            )
        strings = {
            name: string_array(arrays[f"{name}_offsets"], arrays[f"{name}_data"])
            for name in running._strings()
        }
        running.files = strings.pop("files").to_pylist()
        for name, values in strings.items():
            setattr(running, f"_{name}", StringIds(values))
        for name in running._counted():
            setattr(running, f"_{name}", Counts(arrays[f"{name}_keys"], arrays[f"{name}_counts"]))
        running._tail = _Tail(*(arrays[f"tail_{name}"] for name in _TAIL))
        running._closed = ClosedDays.from_arrays(arrays)
        return running

    def _strings(self) -> dict[str, pa.Array]:
        """The state's strings but the subscribers' (see :meth:`_state`)."""
        files = pa.array(self.files, pa.string())
        return {"files": files, "cells": self._cells.values, "regions": self._regions.values}

    def _counted(self) -> dict[str, Counts]:
        return {
            "trips": self._trips,
            "presence": self._presence,
            "nights": self._nights,
            "days": self._days,
        }


_COLUMNS = ("carrier", "subscriber_pseudo", "ts", "cell_id", "region_code")
_TAIL = ("who", "micros", "cell", "region")


def _sparse_presence(
    who: np.ndarray, region: np.ndarray, begin: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Packed (hour, region) keys and people of non-empty spans of hours, each subscriber
    counted once per hour and region, without a table of every hour between them."""
    lengths = last - begin + 1
    span = np.repeat(np.arange(who.size), lengths)
    offset = np.arange(span.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cell = ((begin[span] + offset) << _REGION_BITS) | region[span]
    present = np.unique(np.stack([who[span], cell], axis=1), axis=0)  # (subscriber, cell)
    keys, people = np.unique(present[:, 1], return_counts=True)
    return keys, people.astype(np.int64)


def _whole_group_slices(keys: np.ndarray, low_bits: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive slices of ``keys`` (sorted) of about ``size`` keys,
    never splitting the keys equal but for their ``low_bits`` lowest bits."""
    slices, start = [], 0
    while start < keys.size:
        stop = start + size
        if stop < keys.size:  # on to the first key of the next group
            group = int(keys[stop - 1]) >> low_bits
            stop = int(np.searchsorted(keys, (group + 1) << low_bits))
        stop = min(stop, keys.size)
        slices.append((start, stop))
        start = stop
    return slices


#: Chunks handed to the counting thread and not counted yet, at most.
BACKGROUND_CHUNKS = 2


class Background:
    """Counts running flows (if any) in a thread of their own, chunks in the order added, so
    the ingest reads and checks the next chunk meanwhile (NumPy and Arrow release the GIL): an
    ingest's follower (:class:`spreadwatch.ingest.run.Follower`)."""

    def __init__(self, flows: RunningFlows | None, store_root: Path) -> None:
        self.flows = flows
        self.store_root = Path(store_root)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="spreadwatch-flows")
        self._pending: deque[Future] = deque()

    def add(self, rows: pa.Table, subscribers: np.ndarray | None = None) -> None:
        if self.flows is not None:
            while len(self._pending) >= BACKGROUND_CHUNKS:  # bounds memory: wait for the oldest
                self._pending.popleft().result()
            self._pending.append(self._pool.submit(self._add, rows, subscribers))

    def _add(self, rows: pa.Table, subscribers: np.ndarray | None) -> None:
        """Count ``rows``; a failure stops the count (flows then recount), not the ingest."""
        flows = self.flows
        assert flows is not None
        try:
            flows.add(rows, subscribers)
        except Exception as exc:  # a defect: reported, and the store stays right
            _log.warning("counting daily flows stopped: %r; spreadwatch flows will recount", exc)
            flows.broken = f"counting failed: {exc!r}"

    def file_done(self, sha256: str) -> None:
        """Every row of the file with content hash ``sha256`` was added."""
        if self.flows is not None:
            self._pending.append(self._pool.submit(self.flows.files.append, sha256))

    def finish(self) -> None:
        """Wait for the counts and keep them in the store (removed if counting stopped)."""
        while self._pending:
            self._pending.popleft().result()
        if self.flows is not None:
            self.flows.save(self.store_root)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def follow(store: Store, source: Source) -> Background | None:
    """The follower of an ingest that counts daily flows as location events are kept (pass
    it as ``ingest(..., follow=follow)``); ``None`` for other sources."""
    if source.name != "location":
        return None
    stored = {record.sha256 for record in store.records(source.name)}
    return Background(resumed(store.root, stored), store.root)


def current(store_root: Path, files: set[str]) -> RunningFlows | None:
    """The store's running flows when they counted exactly ``files`` (its location files)."""
    running = RunningFlows.load(store_root)
    return running if running is not None and set(running.files) == files else None


def resumed(store_root: Path, files: set[str]) -> RunningFlows | None:
    """The running flows an ingest of location events adds to: the store's, when they counted
    exactly its location files ``files``; new ones when it has none; else ``None`` (they
    cannot be caught up: the stale state is removed and flows recompute from the store)."""
    running = current(store_root, files)
    if running is not None or not files:
        return running or RunningFlows()
    (Path(store_root) / STATE_FILE).unlink(missing_ok=True)
    return None
