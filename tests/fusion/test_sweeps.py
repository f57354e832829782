"""The compiled passes against brute force."""

from collections import Counter

import numpy as np

from spreadwatch.fusion.sweeps import grouped_order, presence_changes


def test_grouped_order_is_a_stable_sort():
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 50, 3000)
    assert np.array_equal(grouped_order(groups, 60), np.argsort(groups, kind="stable"))
    assert grouped_order(np.empty(0, np.int64), 4).size == 0


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
