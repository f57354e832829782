"""The compiled passes against brute force."""

from collections import Counter

import numpy as np

from spreadwatch.fusion.sweeps import (
    distinct_groups,
    grouped_order,
    presence_changes,
    spans_rows,
)


def test_grouped_order_groups_rows_stably_in_the_order_groups_first_appear():
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 50, 3000)
    scratch = np.full(60, -1, np.int64)
    order = grouped_order(groups, scratch)
    first_seen = {g: i for i, g in reversed(list(enumerate(groups.tolist())))}
    expected = sorted(range(groups.size), key=lambda i: (first_seen[groups[i]], i))
    assert order.tolist() == expected
    assert (scratch == -1).all()  # left as found
    assert distinct_groups(groups, scratch).tolist() == list(dict.fromkeys(groups.tolist()))
    assert grouped_order(np.empty(0, np.int64), scratch).size == 0


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
