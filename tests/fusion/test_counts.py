"""Counts merged as they come against one sum over everything added."""

import numpy as np
import pytest

from spreadwatch.fusion import tallies
from spreadwatch.fusion.tallies import Counts


@pytest.mark.parametrize("merge_keys", [1, 7, 10_000])
def test_counts_sum_every_batch(monkeypatch, merge_keys):
    monkeypatch.setattr(tallies, "MERGE_KEYS", merge_keys)
    rng = np.random.default_rng(merge_keys)
    counts, keys_seen, counts_seen = Counts(), [], []
    handed_out = []  # totals handed out stay as they were while later batches merge
    for batch in range(60):
        keys = rng.integers(0, 40 + 30 * batch, rng.integers(0, 50))  # new keys keep coming
        weights = None if batch % 3 else rng.integers(1, 5, keys.size)
        counts.add(keys, weights)
        keys_seen.append(keys)
        counts_seen.append(np.ones(keys.size, np.int64) if weights is None else weights)
        if batch % 20 == 19:
            got_keys, got_counts = counts.total()
            all_keys = np.concatenate(keys_seen)
            expected_keys, inverse = np.unique(all_keys, return_inverse=True)
            expected = np.bincount(inverse, weights=np.concatenate(counts_seen))
            assert np.array_equal(got_keys, expected_keys)
            assert np.array_equal(got_counts, expected.astype(np.int64))
            handed_out.append((got_keys, got_counts, got_keys.copy(), got_counts.copy()))
    for keys, counted, keys_then, counted_then in handed_out:
        assert np.array_equal(keys, keys_then) and np.array_equal(counted, counted_then)
