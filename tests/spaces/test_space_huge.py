"""Huge ranges: cardinality, sample and grid work in constant memory (no list of the range)."""

from __future__ import annotations

import itertools
import math
import tracemalloc

import pytest

from symtune.spaces import Space, SpaceError, floatv, intv, manyof, oneof

MAX_BYTES = 2_000_000  # a list of 10**9 ints would need 8 GB; of 10**6, 8 MB


def peak_bytes(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_cardinality_of_huge_ranges_is_arithmetic():
    space = Space({"a": intv(0, 10**9), "b": intv(0, 10**12, step=1000), "c": oneof([1, 2])})
    count, peak = peak_bytes(lambda: space.cardinality)
    assert count == (10**9 + 1) * (10**9 + 1) * 2
    assert peak < MAX_BYTES
    fine, peak = peak_bytes(lambda: Space(floatv(0.0, 1.0, step=1e-9)).cardinality)
    assert fine == 10**9 + 1 and peak < MAX_BYTES


def test_sample_of_huge_ranges_needs_no_list():
    space = Space({"a": intv(-(10**15), 10**15), "b": floatv(0.0, 1e6, step=1e-6)})
    samples, peak = peak_bytes(lambda: [space.sample(seed) for seed in range(20)])
    assert peak < MAX_BYTES
    assert all(-(10**15) <= s["a"] <= 10**15 for s in samples)
    assert len({s["a"] for s in samples}) == 20
    for s in samples:
        assert 0.0 <= s["b"] <= 1e6
        assert math.isclose(s["b"] / 1e-6, round(s["b"] / 1e-6), abs_tol=1e-3)


def test_grid_of_a_huge_space_is_lazy():
    space = Space({"n": intv(0, 10**12), "c": oneof(["a", "b"])})
    first, peak = peak_bytes(lambda: list(itertools.islice(space.grid(), 5)))
    assert peak < MAX_BYTES
    assert first == [
        {"n": 0, "c": "a"},
        {"n": 0, "c": "b"},
        {"n": 1, "c": "a"},
        {"n": 1, "c": "b"},
        {"n": 2, "c": "a"},
    ]


def test_grid_with_a_sorted_manyof_keeps_no_record_of_what_it_yielded():
    space = Space({"m": manyof(2, [1, 2, 3], sorted=True), "n": intv(0, 10**9)})
    items, peak = peak_bytes(lambda: list(itertools.islice(space.grid(), 3000)))
    assert peak < MAX_BYTES
    keys = {tuple(sorted(a.items())) for a in items}
    assert len(keys) == len(items)  # still no duplicates
    small = Space({"m": manyof(2, [1, 2, 3], sorted=True), "n": intv(0, 2)})
    assert len(list(small.grid())) == small.cardinality == 9


@pytest.mark.parametrize(
    ("sizes", "k", "distinct", "sorted_"),
    [
        (s, k, d, o)
        for s in ([1, 2, 3], [2, 2, 1, 4], [3])
        for k in (1, 2, 3)
        for d in (True, False)
        for o in (True, False)
        if not (d and k > len(s))
    ],
)
def test_manyof_cardinality_matches_brute_force(sizes, k, distinct, sorted_):
    candidates = [oneof(list(range(10 * i, 10 * i + s))) for i, s in enumerate(sizes)]
    space = Space(manyof(k, candidates, distinct=distinct, sorted=sorted_))
    n = len(sizes)
    if distinct:
        pick = itertools.combinations if sorted_ else itertools.permutations
        selections = list(pick(range(n), k))
    elif sorted_:
        selections = list(itertools.combinations_with_replacement(range(n), k))
    else:
        selections = list(itertools.product(range(n), repeat=k))
    expected = sum(math.prod(sizes[i] for i in set(chosen)) for chosen in selections)
    assert space.cardinality == expected == len(list(space.grid()))


def test_manyof_cardinality_of_many_candidates_is_computed_not_enumerated():
    candidates = [oneof([2 * i, 2 * i + 1]) for i in range(40)]  # each candidate: 2 choices
    assert Space(manyof(12, candidates)).cardinality == math.perm(40, 12) * 2**12
    assert Space(manyof(12, candidates, sorted=True)).cardinality == math.comb(40, 12) * 2**12


def test_ints_that_optuna_cannot_store_exactly_are_refused():
    with pytest.raises(SpaceError, match=r"2\*\*53.*high=9007199254740993.*\(at big\)"):
        intv(0, 2**53 + 1, name="big")
    assert Space(intv(-(2**53), 2**53)).cardinality == 2**54 + 1


def test_counts_beyond_the_largest_float_stay_exact():
    space = Space([floatv(0.0, 1.0, step=1e-300)] * 3)
    size = round(1.0 / 1e-300) + 1  # about 10**300 values each
    assert space.cardinality == size**3 and space.cardinality > 10**899
    assert next(iter(space.grid())) == {"[0]": 0.0, "[1]": 0.0, "[2]": 0.0}
