"""value_ranks of many strings (by their bytes eight at a time) against Arrow's sort."""

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spreadwatch.ordering import PREFIX_RANKED, value_ranks


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
