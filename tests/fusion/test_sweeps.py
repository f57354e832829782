"""The compiled passes against brute force."""

import itertools
from collections import Counter

import numpy as np

from spreadwatch.fusion.kernels import modal
from spreadwatch.fusion.sweeps import (
    distinct_groups,
    grouped_modal,
    grouped_rows,
    presence_changes,
    spans_rows,
)


def _grouped_by_brute_force(rows: list[tuple], cell_rank: np.ndarray):
    """Rows ``(who, micros, cell, region, is_new)`` ordered stably by the position where their
    subscriber first appears, and whether each subscriber's rows are by time and cell rank."""
    first_seen = {}
    for i, row in enumerate(rows):
        first_seen.setdefault(row[0], i)
    ordered_rows = sorted(rows, key=lambda row: first_seen[row[0]])  # stable
    in_order = all(
        a[0] != b[0] or (a[1], cell_rank[a[2]]) < (b[1], cell_rank[b[2]])
        for a, b in itertools.pairwise(ordered_rows)
    )
    return ordered_rows, in_order


def test_grouped_rows_group_carried_then_new_rows_stably_by_first_seen_subscriber():
    rng = np.random.default_rng(5)
    cell_rank = rng.permutation(40)
    scratch = np.full(60, -1, np.int64)
    for sorted_times in (True, False):
        columns = []
        for size in (700, 3000):  # carried, new
            who = rng.integers(0, 50, size)
            micros = rng.integers(0, 10**6, size)
            if sorted_times:  # each subscriber's rows by time, the new after the carried
                micros = np.sort(micros) + (0 if size == 700 else 10**6)
            columns.append((who, micros, rng.integers(0, 40, size), rng.integers(0, 9, size)))
        (c_who, c_micros, c_cell, c_region), (who, micros, cell, region) = columns
        *got, is_new, ordered = grouped_rows(
            c_who, c_micros, c_cell, c_region, who, micros, cell, region, cell_rank, scratch
        )
        rows = [(*r, False) for r in zip(c_who, c_micros, c_cell, c_region, strict=True)]
        rows += [(*r, True) for r in zip(who, micros, cell, region, strict=True)]
        expected, in_order = _grouped_by_brute_force([tuple(map(int, r)) for r in rows], cell_rank)
        as_rows = list(zip(*(a.tolist() for a in got), is_new.tolist(), strict=True))
        assert as_rows == [(*r[:4], bool(r[4])) for r in expected]
        assert ordered == in_order
        assert ordered == sorted_times  # random times are out of order, sorted ones in it
        assert (scratch == -1).all()  # left as found
    all_new = rng.integers(0, 50, 300)
    assert distinct_groups(all_new, scratch).tolist() == list(dict.fromkeys(all_new.tolist()))
    empty = np.empty(0, np.int64)
    assert grouped_rows(*[empty] * 8, cell_rank, scratch)[0].size == 0


def test_spans_rows_lists_each_groups_rows_in_turn():
    starts, counts = np.array([5, 0, 9]), np.array([2, 3, 0])
    assert spans_rows(starts, counts, np.array([1, 2, 0])).tolist() == [0, 1, 2, 5, 6]


def _chains(rng: np.random.Generator, subscribers: int, regions: int):
    """Per subscriber, spans chained as events ordered by time make them: each begins at or
    after the hour where the one before ends; some empty, many within one hour."""
    rows = []
    for who in range(subscribers):
        hour = int(rng.integers(0, 5))
        for _ in range(int(rng.integers(1, 12))):
            length = int(rng.choice([0, 0, 0, 1, 2, 5])) - int(rng.random() < 0.1) * 3
            rows.append((who, int(rng.integers(0, regions)), hour, hour + length))
            hour += max(length, 0) if rng.random() < 0.5 else max(length, 0) + 1
    return np.array(rows, dtype=np.int64).T


def test_presence_changes_count_each_subscriber_once_per_hour_and_region():
    rng = np.random.default_rng(11)
    for _ in range(20):
        regions = int(rng.integers(1, 4))
        who, region, begin, last = _chains(rng, 30, regions)
        hours = int(last.max(initial=0)) + 2
        changes = presence_changes(who, region, begin, last, regions, hours * regions)
        people = np.cumsum(changes.reshape(hours, regions), axis=0)
        present = {
            (w, h, r)
            for w, r, b, e in zip(who, region, begin, last, strict=True)
            for h in range(b, e + 1)
        }
        expected = Counter((h, r) for _, h, r in present)
        cells = [(h, r) for h in range(hours) for r in range(regions)]
        assert {c: int(people[c]) for c in cells} == {c: expected.get(c, 0) for c in cells}


def test_subscriber_slices_keep_whole_subscribers_in_any_order():
    from spreadwatch.fusion.kernels import subscriber_slices

    who = np.array([3, 3, 1, 1, 1, 2, 0, 0, 0, 0])
    slices = list(subscriber_slices(who, 2))
    assert [(s.start, s.stop) for s in slices] == [(0, 2), (2, 5), (5, 10)]


def test_grouped_modal_takes_the_region_with_most_rows_ties_to_the_smallest():
    rng = np.random.default_rng(9)
    groups = np.sort(rng.integers(0, 300, 5000))
    region = rng.integers(0, 12, 5000)
    rows = rng.integers(1, 4, 5000)  # small counts: many ties
    best = {}
    for g, r, n in zip(groups.tolist(), region.tolist(), rows.tolist(), strict=True):
        if g not in best or (n, -r) > (best[g][1], -best[g][0]):
            best[g] = (r, n)
    got_groups, got_region = grouped_modal(groups, region, rows)
    assert got_groups.tolist() == sorted(best)
    assert got_region.tolist() == [best[g][0] for g in sorted(best)]
    # the sort that takes unsorted groups agrees
    shuffled = rng.permutation(5000)
    unsorted = modal(groups[shuffled], region[shuffled], rows[shuffled])
    assert [a.tolist() for a in unsorted] == [got_groups.tolist(), got_region.tolist()]
