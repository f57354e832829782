"""Flows counted while events arrive equal the kernels' count over all events at once."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from spreadwatch.fusion import kernels, running
from spreadwatch.fusion.flows import FLOW_TABLES, build_flows
from spreadwatch.fusion.running import RunningFlows
from spreadwatch.ingest import Store, ingest
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate
from tests.fusion.events import make_events

TABLES = ("od_flows", "presence", "commuting")
RING = KeyRing(bytes(range(32)))


def _time_ordered_chunks(events: pa.Table, pieces: int, seed: int) -> list[pa.Table]:
    """``events`` by time, cut into ``pieces`` at instants where the time changes (so each
    subscriber's later events come in later chunks), in shuffled row order within a chunk."""
    events = events.sort_by([("ts", "ascending")])
    micros = pc.cast(events["ts"], pa.int64()).to_numpy()
    changes = np.flatnonzero(micros[1:] != micros[:-1]) + 1
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(changes, pieces - 1, replace=False))
    edges = [0, *cuts.tolist(), events.num_rows]
    chunks = []
    for low, high in itertools.pairwise(edges):
        chunk = events.slice(low, high - low)
        chunks.append(chunk.take(pa.array(rng.permutation(chunk.num_rows))))
    return chunks


def _run_numbers(events: pa.Table, seed: int):
    """Numbers an ingest run might give the events' (carrier, pseudonym) pairs: any numbers,
    the same for the same pair."""
    pairs = pc.binary_join_element_wise(events["carrier"], events["subscriber_pseudo"], "|")
    distinct = pc.unique(pairs)
    numbers = np.random.default_rng(seed).permutation(3 * len(distinct))[: len(distinct)]

    def of(chunk: pa.Table) -> np.ndarray:
        keys = pc.binary_join_element_wise(chunk["carrier"], chunk["subscriber_pseudo"], "|")
        return numbers[pc.index_in(keys, value_set=distinct).to_numpy()]

    return of


@pytest.mark.parametrize(("subscribers", "days", "seed", "pieces", "k", "small", "numbered"), [
    (400, 3, 1, 2, 1, False, False),
    (600, 4, 2, 9, 1, False, False),
    # dates closed to their modal region again and again; chunks counted in slices
    (300, 5, 3, 30, 4, True, False),
    # subscribers numbered by the ingest run (another run after the state is read back)
    (600, 4, 2, 9, 1, False, True),
])  # fmt: skip
def test_counts_over_chunks_equal_the_kernels_over_all_events(
    tmp_path, monkeypatch, subscribers, days, seed, pieces, k, small, numbered
):
    if small:
        monkeypatch.setattr(running, "OPEN_DAY_TALLIES", 200)
        monkeypatch.setattr(running, "ROUND_ROWS", 50)
        monkeypatch.setattr(running, "CLOSE_SLICE", 7)  # dates closed in slices of tallies
        monkeypatch.setattr(running, "DENSE_CELLS", 1)  # presence counted sparsely
    events = make_events(subscribers, days, seed=seed, regions=12)
    flows = RunningFlows()
    run_numbers = _run_numbers(events, seed)
    for n, chunk in enumerate(_time_ordered_chunks(events, pieces, seed)):
        flows.add(chunk, run_numbers(chunk) if numbered else None)
        if n == pieces // 2:  # kept in the store and read back midway
            flows.save(tmp_path)
            flows = RunningFlows.load(tmp_path)
            run_numbers = _run_numbers(events, seed + 1)
    assert flows.broken is None
    counted = flows.tables(k)
    for name in TABLES:
        expected = getattr(kernels, name)(events, k=k)
        assert expected.num_rows > 50
        assert counted[name].equals(expected), name


@pytest.mark.parametrize("size", [1, 3, 50, 1000])
def test_slices_cover_the_keys_in_order_and_never_split_a_group(size):
    rng = np.random.default_rng(size)
    keys = np.unique(rng.integers(0, 1 << 12, 400)) << 3 | rng.integers(0, 8, 1)
    keys = np.unique(np.concatenate([keys, keys + 1, keys + 5]))
    slices = running._whole_group_slices(keys, 3, size)
    assert [b for _, b in slices[:-1]] == [a for a, _ in slices[1:]]
    assert slices[0][0] == 0 and slices[-1][1] == keys.size
    for start, stop in slices:
        assert stop > start
        assert stop - start >= min(size, keys.size - start)  # never smaller than asked
        if stop < keys.size:
            assert keys[stop - 1] >> 3 != keys[stop] >> 3


def test_the_tail_keeps_each_subscribers_last_rows_as_a_dict_would():
    """Rows replaced subscriber by subscriber, packed in place and grown as they come, against
    a dict of each subscriber's last rows."""
    rng = np.random.default_rng(1)
    tail, expected = running._Tail(), {}
    for step in range(400):
        chosen = np.unique(rng.integers(0, 60, rng.integers(1, 12)))
        who = np.repeat(chosen, rng.integers(0, 5, chosen.size))  # none: the rows dropped
        rows = [rng.integers(0, 1 << 40, who.size), rng.integers(0, 99, who.size)]
        rows.append(rng.integers(0, 9, who.size))
        tail.replace(chosen, who, *rows)
        for subscriber in chosen.tolist():
            held = who == subscriber
            expected[subscriber] = [r[held].tolist() for r in rows] if held.any() else None
        if step % 50 == 49:
            tail._pack()
        got_who, *got = tail.of(np.arange(60))
        for subscriber in range(60):
            held = got_who == subscriber
            assert ([g[held].tolist() for g in got] if held.any() else None) == expected.get(
                subscriber
            )
    who, *columns = tail.arrays()  # each subscriber's rows together, as held
    restored, everyone = running._Tail(who, *columns).of(np.arange(60)), tail.of(np.arange(60))
    assert all(np.array_equal(a, b) for a, b in zip(restored, everyone, strict=True))


def test_a_dictionary_holding_a_value_twice_counts_it_as_one():
    events = make_events(200, 2, seed=6)
    column = pc.dictionary_encode(events["subscriber_pseudo"]).combine_chunks()
    values = column.dictionary
    doubled = pa.concat_arrays([values, values])  # each pseudonym twice: two positions
    indices = column.indices.to_numpy() + len(values) * (np.arange(len(column)) % 2)
    repeated = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), doubled)
    chunks = _time_ordered_chunks(events.set_column(1, "subscriber_pseudo", repeated), 4, 6)
    flows = RunningFlows()
    for chunk in chunks:
        flows.add(chunk)
    counted = flows.tables(1)
    for name in TABLES:
        assert counted[name].equals(getattr(kernels, name)(events, k=1)), name


def test_no_events_give_empty_tables():
    counted = RunningFlows().tables(15)
    assert all(counted[name].num_rows == 0 for name in TABLES)
    assert all(counted[name].schema == kernels.SCHEMAS[name] for name in TABLES)


def test_an_event_before_a_counted_one_stops_the_count(tmp_path):
    events = make_events(100, 2, seed=4).sort_by([("ts", "ascending")])
    late, early = events.slice(events.num_rows // 2), events.slice(0, events.num_rows // 2)
    flows = RunningFlows()
    flows.add(late)
    assert flows.broken is None
    flows.add(early)
    assert flows.broken is not None
    with pytest.raises(ValueError, match="stopped counting"):
        flows.tables(1)
    flows.save(tmp_path)  # a stopped count is not kept
    assert not (tmp_path / running.STATE_FILE).exists()


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(SynthConfig(seed=12, subscribers=1500, days=4), out)
    return out / "raw"


def _ingest(store_dir, raw, dates):
    files = sorted(p for d in dates for p in (raw / "location_events").glob(f"*/{d}.csv"))
    with Store(store_dir) as store:
        ingest("cells", [raw / "cells.csv"], store, RING)
        ingest("location", files, store, RING, follow=running.follow)


def _recomputed(store_dir):
    events = pq.read_table(sorted((store_dir / "location").glob("*.parquet")))
    return {name: getattr(kernels, name)(events) for name in TABLES}


@pytest.mark.parametrize(
    ("batches", "counted"),
    [
        ([["2020-02-01", "2020-02-02"], ["2020-02-03", "2020-02-04"]], True),
        ([["2020-02-01", "2020-02-03"], ["2020-02-02", "2020-02-04"]], False),  # a late day
    ],
)
def test_flows_of_an_ingested_store_equal_a_recount(raw, tmp_path, batches, counted):
    store_dir = tmp_path / "store"
    for batch in batches:
        _ingest(store_dir, raw, batch)
        paths = build_flows(store_dir, tmp_path / "flows")
        expected = _recomputed(store_dir)
        for name in TABLES:
            assert pq.read_table(paths[name]).equals(expected[name]), name
    # a late day cannot be counted on: the stale counts are gone, flows recount the store
    assert (store_dir / running.STATE_FILE).exists() == counted
    assert set(FLOW_TABLES) <= set(paths)


def test_counts_left_by_an_interrupted_run_are_not_used(raw, tmp_path):
    store_dir = tmp_path / "store"
    _ingest(store_dir, raw, ["2020-02-01"])
    state = (store_dir / running.STATE_FILE).read_bytes()
    _ingest(store_dir, raw, ["2020-02-02"])
    (store_dir / running.STATE_FILE).write_bytes(state)  # as if killed before its save
    with Store(store_dir) as store:
        files = {r.sha256 for r in store.records("location")}
    assert running.current(store_dir, files) is None
    paths = build_flows(store_dir, tmp_path / "flows")
    expected = _recomputed(store_dir)
    assert all(pq.read_table(paths[name]).equals(expected[name]) for name in TABLES)
    _ingest(store_dir, raw, ["2020-02-03"])  # the next ingest drops them and stops counting
    assert not (store_dir / running.STATE_FILE).exists()


def test_subscribers_back_after_years_are_counted_without_a_table_of_every_hour(monkeypatch):
    sparse = []
    counted_sparsely = running._sparse_presence
    monkeypatch.setattr(
        running, "_sparse_presence", lambda *spans: sparse.append(1) or counted_sparsely(*spans)
    )
    events = make_events(150, 2, seed=9, regions=12)
    back = pc.is_in(events["subscriber_pseudo"], events["subscriber_pseudo"].unique()[:20])
    years = pa.scalar(25 * 365 * 86_400_000_000, pa.duration("us"))
    later = events.filter(back)
    later = later.set_column(2, "ts", pc.add(later["ts"], years))
    events = pa.concat_tables([events, later])
    hours = 25 * 365 * 24
    assert hours * 12 > running.DENSE_CELLS  # so the sparse count is the one tested
    flows = RunningFlows()
    for chunk in _time_ordered_chunks(events, 5, 9):
        flows.add(chunk)
    counted = flows.tables(1)
    for name in TABLES:
        assert counted[name].equals(getattr(kernels, name)(events, k=1)), name
    assert sparse


def test_an_unreadable_state_is_not_used_and_ingest_starts_afresh(raw, tmp_path):
    store_dir = tmp_path / "store"
    _ingest(store_dir, raw, ["2020-02-01"])
    state = store_dir / running.STATE_FILE
    assert running.current(store_dir, {"not the store's files"}) is None
    for damaged in (state.read_bytes()[:1000], b"not a state", _other_npz(tmp_path)):
        state.write_bytes(damaged)
        assert running.RunningFlows.load(store_dir) is None
    paths = build_flows(store_dir, tmp_path / "flows")  # recounted
    expected = _recomputed(store_dir)
    assert all(pq.read_table(paths[name]).equals(expected[name]) for name in TABLES)


def _other_npz(folder):
    path = folder / "other.npz"
    np.savez(path, numbers=np.arange(3))
    return path.read_bytes()


def test_a_counting_failure_leaves_the_ingest_whole_and_flows_recount(raw, tmp_path, monkeypatch):
    def fail(self, rows):
        raise RuntimeError("a defect")

    monkeypatch.setattr(RunningFlows, "add", fail)
    store_dir = tmp_path / "store"
    _ingest(store_dir, raw, ["2020-02-01", "2020-02-02"])
    with Store(store_dir) as store:
        assert len(store.records("location")) == 6
    assert not (store_dir / running.STATE_FILE).exists()
    paths = build_flows(store_dir, tmp_path / "flows")
    expected = _recomputed(store_dir)
    assert all(pq.read_table(paths[name]).equals(expected[name]) for name in TABLES)
