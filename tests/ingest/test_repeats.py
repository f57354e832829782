"""RunRows against a brute-force set of the stored rows."""

import numpy as np
import pyarrow as pa

from spreadwatch.ingest.repeats import RunRows


def _rows(rng: np.random.Generator, n: int, subscribers: int = 6, times: int = 30):
    who = rng.integers(0, subscribers, n)
    micros = rng.integers(0, times, n) * 1_000_000
    cell = rng.integers(0, 3, n)
    keys = sorted(set(zip(who.tolist(), micros.tolist(), cell.tolist(), strict=True)))
    return [np.array(c, np.int64) for c in zip(*keys, strict=True)] if keys else None


def test_repeats_are_exact_and_every_stored_row_is_found():
    rng = np.random.default_rng(5)
    for _ in range(200):
        stored, index = set(), RunRows()
        index.numbers(pa.array(["KT"] * 6), pa.array([f"p{i}" for i in range(6)]))
        for _ in range(rng.integers(1, 5)):
            batch = _rows(rng, int(rng.integers(1, 40)))
            if batch is None:
                continue
            who, micros, cell = batch
            sorted_out = index.sort_out(who, micros, cell)
            truth = np.array([k in stored for k in zip(*batch, strict=True)], bool)
            assert not (sorted_out.repeat & ~truth).any()  # said to repeat: it does
            assert not (truth & ~sorted_out.repeat & ~sorted_out.unsure).any()  # none missed
            new = ~truth
            index.add(who[new], micros[new], cell[new])
            stored |= set(zip(*(c[new].tolist() for c in batch), strict=True))


def test_subscribers_in_time_order_are_decided_without_the_store():
    """Each subscriber's events arriving in time order (a repeat now and then at the last
    stored time, one row per time): nothing is left unsure."""
    rng = np.random.default_rng(8)
    index = RunRows()
    who = index.numbers(pa.array(["KT"] * 50), pa.array([f"{i:016x}" for i in range(50)]))
    clock = np.zeros(who.size, np.int64)
    last_cell = np.zeros(who.size, np.int64)
    seen = np.zeros(who.size, bool)
    for _ in range(30):
        chosen = rng.choice(who, 20, replace=False)
        again = rng.random(chosen.size) < 0.3  # repeat the last stored row, or a later one
        micros = np.where(again, clock[chosen], clock[chosen] + rng.integers(1, 9, chosen.size))
        cell = np.where(again, last_cell[chosen], rng.integers(0, 4, chosen.size))
        sorted_out = index.sort_out(chosen, micros, cell)
        known = again & seen[chosen]
        assert np.array_equal(sorted_out.repeat, known)
        assert not sorted_out.unsure.any()
        new = ~known
        index.add(chosen[new], micros[new], cell[new])
        clock[chosen[new]], last_cell[chosen[new]] = micros[new], cell[new]
        seen[chosen] = True


def test_pseudonyms_come_back_from_their_numbers():
    index = RunRows()
    names = pa.array(["b", "a", "한글", "", "a", "a"])
    numbers = index.numbers(pa.array(["KT", "KT", "KT", "KT", "KT", "SKT"]), names)
    assert numbers.tolist() == [0, 1, 2, 3, 1, 4]
    assert index.pseudonyms(numbers[::-1]).to_pylist() == names.to_pylist()[::-1]
