"""StringIds against a dict numbering strings as first seen."""

import random

import numpy as np
import pyarrow as pa
import pytest

from spreadwatch.interning import PairIds, StringIds, grown


def _words(rng: random.Random, n: int) -> list[str]:
    alphabet = "ab\x1fé한글 "  # separators, multi-byte UTF-8 and white space
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(n)]


def test_numbers_as_a_dict_would_across_batches():
    rng = random.Random(3)
    words = _words(rng, 5000)
    ids, expected = StringIds(), {}
    for batch in range(40):  # the table and buffers grow many times on the way
        chosen = [rng.choice(words) for _ in range(rng.randint(0, 3000))]
        values = pa.array(["pad", *chosen], pa.string()).slice(1)  # an offset into its buffers
        if batch % 4 == 0:
            values = pa.chunked_array([values.slice(0, 7), values.slice(7)])
        got = ids.ids(values)
        assert got.tolist() == [expected.setdefault(w, len(expected)) for w in chosen]
    assert len(ids) == len(expected)
    assert ids.values.to_pylist() == list(expected)


def test_colliding_prefixes_and_lengths_stay_apart():
    values = ["", "a", "a\x00", "aa", "a" * 1000, "a" * 999 + "b"]
    ids = StringIds(pa.array(values))
    assert ids.ids(pa.array(values[::-1])).tolist() == [5, 4, 3, 2, 1, 0]
    assert np.array_equal(ids.ids(pa.array(["aa", "new"], pa.large_string())), [3, 6])


def test_nulls_are_refused():
    with pytest.raises(ValueError, match="must not be null"):
        StringIds().ids(pa.array(["a", None]))


def test_take_gives_the_strings_of_numbers():
    rng = random.Random(4)
    words = list(dict.fromkeys(_words(rng, 3000)))
    ids = StringIds(pa.array(words))
    chosen = np.array([rng.randrange(len(words)) for _ in range(5000)], np.int64)
    assert ids.take(chosen).to_pylist() == [words[i] for i in chosen]
    assert ids.take(np.zeros(0, np.int64)).to_pylist() == []


def test_grown_doubles_only_when_short_of_room():
    array = np.arange(4)
    assert grown(array, 3) is array
    assert grown(array, 5).tolist() == [0, 1, 2, 3, 0, 0]
    assert grown(array, 20).size == 20


def _identifier(rng: random.Random, form: str) -> str:
    if form == "hex":
        return "".join(rng.choice("0123456789abcdef") for _ in range(16))
    return "".join(rng.choice("0123456789") for _ in range(rng.choice([1, 2, 15, 19])))


_ODD = {
    "hex": [("KT", "p1"), ("SKT", "ABCDEF0123456789"), ("KT", "한글"), ("KT", "0123")],
    "decimal": [("KT", "12345678901234567890"), ("SKT", " 12"), ("KT", ""), ("KT", "1e5")],
}


@pytest.mark.parametrize("form", ["hex", "decimal"])
@pytest.mark.parametrize("odd_after", [None, 7])
def test_pairs_number_as_a_dict_would(form, odd_after):
    """Pairs of carriers and identifiers of the form; with ``odd_after``, identifiers of other
    text come in that batch, and every pair is held as text from then on, numbers unchanged."""
    rng = random.Random(6)
    pool = [(rng.choice(["SKT", "KT", "LGU"]), _identifier(rng, form)) for _ in range(3000)]
    pool += [("KT", pool[0][1]), ("SKT", pool[0][1])]  # one identifier, two carriers
    if form == "decimal":  # leading zeros and the largest
        pool += [("KT", "0"), ("KT", "00"), ("KT", "007"), ("KT", "7"), ("KT", "9" * 19)]
    else:
        pool += [("SKT", "0" * 16), ("KT", "f" * 16)]
    pairs, expected = PairIds(form), {}
    for batch in range(15):
        chosen = [rng.choice(pool) for _ in range(rng.randint(0, 800))]
        if batch == odd_after:
            chosen += _ODD[form]
        got = pairs.ids(pa.array([c for c, _ in chosen]), pa.array([p for _, p in chosen]))
        assert got.tolist() == [expected.setdefault(pair, len(expected)) for pair in chosen]
    numbers = np.array([rng.randrange(len(expected)) for _ in range(500)], np.int64)
    in_order = list(expected)
    assert pairs.pseudonyms(numbers).to_pylist() == [in_order[i][1] for i in numbers]
    keys = pairs.keys()
    assert keys.to_pylist() == [f"{c}\x1f{p}" for c, p in in_order]
    again = PairIds.from_keys(keys, form)
    assert len(again) == len(expected)
    assert again.keys().equals(keys)
    arrays = pairs.arrays()
    assert (arrays is None) == (odd_after is not None)  # held as text: keys instead
    if arrays is not None:  # the arrays give back the same numbers, and number new pairs on
        restored = PairIds.from_arrays(arrays, form)
        assert restored.keys().equals(keys)
        again = [*in_order[::-1], ("NEW", in_order[0][1])]  # a carrier not seen: a new pair
        got = restored.ids(pa.array([c for c, _ in again]), pa.array([p for _, p in again]))
        assert got.tolist() == [*range(len(in_order))[::-1], len(in_order)]


def test_pairs_refuse_an_unknown_form():
    with pytest.raises(ValueError, match="expected one of hex, decimal"):
        PairIds("octal")
