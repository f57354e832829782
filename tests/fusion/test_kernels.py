"""The counting kernels beyond the shared suite (tests/fusion/test_implementations.py): row
order and chunks, empty input, dictionary columns, globs, and what they leave to the
expressions."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadwatch import fusion
from spreadwatch.fusion import kernels
from tests.fusion.events import make_events

BUILDERS = {
    "od_flows": (fusion.od_flows, kernels.od_flows),
    "presence": (fusion.presence, kernels.presence),
    "commuting": (fusion.commuting, kernels.commuting),
}


@pytest.fixture(scope="module")
def duckdb_con():
    with fusion.connected("duckdb") as con:
        yield con


def test_row_order_and_chunks_do_not_matter(duckdb_con):
    events = make_events(200, 2, seed=3)
    shuffled = events.take(pa.array(list(range(events.num_rows))[::-1]))
    chunked = pa.Table.from_batches(shuffled.to_batches(max_chunksize=997))
    for name, (_, kernel) in BUILDERS.items():
        assert kernel(chunked, k=1).equals(kernel(events, k=1)), name


def test_no_events_give_empty_tables():
    empty = make_events(10, 1, seed=4).slice(0, 0)
    for name, (_, kernel) in BUILDERS.items():
        table = kernel(empty, k=1)
        assert table.num_rows == 0 and table.schema == fusion.SCHEMAS[name]


def test_build_flows_counts_by_expression_when_events_do_not_fit(
    small_events, tmp_path, monkeypatch
):
    from spreadwatch.fusion import flows as planner

    by_kernels = planner.build_flows(small_events, tmp_path / "kernels", k=3)
    monkeypatch.setattr(planner, "WINDOW_EVENTS", 10)  # the file holds thousands of events

    def refuse(*args, **kwargs):
        raise AssertionError("events that do not fit must not be loaded for the kernels")

    monkeypatch.setattr(kernels, "Events", refuse)
    by_expressions = planner.build_flows(small_events, tmp_path / "expressions", k=3)
    for name in planner.FLOW_TABLES:
        a, b = pq.read_table(by_kernels[name]), pq.read_table(by_expressions[name])
        assert a.num_rows > 0 and a.equals(b), name


def test_dictionary_columns_from_parquet_give_the_same_tables(tmp_path):
    events = make_events(300, 2, seed=6)
    paths = []
    for n, part in enumerate([events.slice(0, 4000), events.slice(4000)]):  # own dictionaries
        paths.append(tmp_path / f"part-{n}.parquet")
        pq.write_table(part, paths[-1])
    strings = ["carrier", "subscriber_pseudo", "region_code", "cell_id"]
    read = pq.read_table(paths, read_dictionary=strings)
    assert pa.types.is_dictionary(read.schema.field("subscriber_pseudo").type)
    for name, (_, kernel) in BUILDERS.items():
        assert kernel(read, k=1).equals(kernel(events, k=1)), name


def _flows(source, out, monkeypatch=None, expressions=False) -> dict[str, pa.Table]:
    from spreadwatch.fusion import flows as planner

    if expressions:
        monkeypatch.setattr(planner, "WINDOW_EVENTS", 0)  # nothing fits: the expressions count
    paths = planner.build_flows(source, out, k=1)
    return {name: pq.read_table(paths[name]) for name in planner.FLOW_TABLES}


def test_a_recursive_glob_is_read_whole(tmp_path, monkeypatch):
    events = make_events(200, 2, seed=1)
    (tmp_path / "ev" / "b").mkdir(parents=True)
    pq.write_table(events.slice(0, events.num_rows // 2), tmp_path / "ev" / "x.parquet")
    pq.write_table(events.slice(events.num_rows // 2), tmp_path / "ev" / "b" / "y.parquet")
    source = str(tmp_path / "ev" / "**" / "*.parquet")
    by_kernels = _flows(source, tmp_path / "k")
    by_expressions = _flows(source, tmp_path / "e", monkeypatch, expressions=True)
    assert by_kernels == by_expressions


def test_events_before_1970_and_long_spans_are_left_to_the_expressions(tmp_path, monkeypatch):
    import datetime as dt

    events = make_events(100, 2, seed=2)
    early = events.slice(0, 3).set_column(
        2, "ts", pa.array([dt.datetime(1969, 12, 31, 20, tzinfo=dt.UTC)] * 3, events["ts"].type)
    )
    for name, table in {"before-1970": early, "a-century": early}.items():
        if name == "a-century":
            table = table.set_column(
                2, "ts", pa.array([dt.datetime(1900, 1, 1, tzinfo=dt.UTC)] * 3, events["ts"].type)
            )
        with pytest.raises(kernels.NotCountable):
            kernels.presence(pa.concat_tables([events, table]), k=1)
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.concat_tables([events, table]), path)
        got = _flows(path, tmp_path / name)
        assert got == _flows(path, tmp_path / f"{name}-e", monkeypatch, expressions=True)
        monkeypatch.undo()
