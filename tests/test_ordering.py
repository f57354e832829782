"""value_ranks of many strings (by their bytes eight at a time) against Arrow's sort."""

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spreadwatch.ordering import PREFIX_RANKED, distinct_lexical_order, value_ranks


@pytest.mark.parametrize(
    "alphabet",
    ["ab", "ab\x00c", "0123456789abcdef", "가나ab", "x"],
)
def test_value_ranks_of_many_strings_match_arrows_sort(alphabet):
    rng = random.Random(alphabet)
    for _ in range(4):
        n = PREFIX_RANKED + rng.randint(0, 3000)
        prefix = rng.choice(["", "SKT-00", "a" * 31, "b" * 40])  # ties past 8 and 32 bytes
        values = {
            prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            for _ in range(n)
        }
        array = pa.array(["pad", *values]).slice(1)
        expected = np.empty(len(values), np.int64)
        expected[np.asarray(pc.sort_indices(array))] = np.arange(len(values))
        assert np.array_equal(value_ranks(array), expected)


@pytest.mark.parametrize("wide", [False, True])
def test_distinct_lexical_order_keeps_the_first_of_equal_rows_in_order(wide):
    """Against Python's sort of tuples; ``wide``: keys needing more than 63 bits in all."""
    rng = np.random.default_rng(8)
    top = 2**40 if wide else 50
    keys = [rng.integers(0, top, 4000) for _ in range(2)] + [rng.integers(0, 3, 4000)]
    copies = rng.integers(600, 4000, 600)
    for key in keys:  # many rows equal to another in every key
        key[copies] = key[:600]
    rows = list(zip(*(k.tolist() for k in keys), strict=True))
    first = {}
    for i, row in enumerate(rows):
        first.setdefault(row, i)
    expected = [first[row] for row in sorted(first)]
    assert len(expected) < 3600  # repeats were dropped
    assert distinct_lexical_order(*keys).tolist() == expected
    assert distinct_lexical_order(np.empty(0, np.int64)).size == 0
