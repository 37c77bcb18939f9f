"""Validation gaps: bad steps and ranges, misspelled keywords, duplicate candidates and deep
nesting each raise a SpaceError that names the rule, the value and the path."""

from __future__ import annotations

import math
import sys
from typing import Any

import optuna
import pytest
import torch
from tests_support_models import Block, Net

from symtune.spaces import Space, SpaceError, floatv, intv, manyof, oneof, symbolic
from symtune.spaces._primitives import MAX_DEPTH

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: floatv(0.0, 1.0, step=math.inf, name="x"), r"finite.*step=inf \(at x\)"),
        (lambda: floatv(0.0, 1.0, step=math.nan, name="x"), r"finite.*step=nan \(at x\)"),
        (lambda: floatv(0.0, 1.0, step=-0.5, name="x"), r"positive.*step=-0\.5 \(at x\)"),
        (
            lambda: floatv(-1.7e308, 1.7e308, name="x"),
            r"`high - low` must be a finite.*low=-1\.7e\+308, high=1\.7e\+308 \(at x\)",
        ),
        (lambda: floatv(0.0, math.nan, name="x"), r"finite number, but got nan \(at x\)"),
    ],
)
def test_bad_float_ranges_and_steps_raise_space_error(build, pattern):
    with pytest.raises(SpaceError, match=pattern):
        build()


def test_the_widest_float_range_that_is_accepted_samples_finite_values():
    space = Space(floatv(-8e307, 8e307))
    assert all(math.isfinite(space.sample(seed)["value"]) for seed in range(10))
    vector = space.encode({"value": 1e307})
    assert math.isclose(space.decode(vector)["value"], 1e307)


def test_a_misspelled_keyword_of_a_symbolic_call_names_it_the_target_and_the_path():
    with pytest.raises(SpaceError) as info:
        Space({"model": Net(blocks=[Block(widht=oneof([1, 2]))])})  # type: ignore[call-arg]
    message = str(info.value)
    assert "`widht`" in message and "did you mean `width`" in message
    assert "Block" in message and message.endswith("(at model.blocks[0])")


def test_keywords_are_checked_only_where_the_signature_is_known_and_closed():
    def takes_any(**kwargs):
        return kwargs

    assert Space(symbolic(takes_any)(anything=oneof([1, 2]))).cardinality == 2
    assert Space(symbolic(torch.nn.Linear)(in_features=2, out_features=intv(1, 3))).cardinality == 3
    with pytest.raises(SpaceError, match="`out_feature`"):
        Space(symbolic(torch.nn.Linear)(in_features=2, out_feature=3))


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: oneof([1, 1], name="x"), r"distinct.*1 at 0 and 1 \(at x\)"),
        (lambda: oneof([{"a": 1}, {"a": 1}]), r"distinct.*\{'a': 1\} at 0 and 1"),
        (lambda: oneof(["a", "b", "a"]), r"distinct.*'a' at 0 and 2"),
        (lambda: manyof(2, [2, 3, 2], name="m"), r"distinct.*2 at 0 and 2 \(at m\)"),
        (lambda: oneof([intv(1, 3), intv(1, 3)]), r"distinct.*intv\(1, 3\) at 0 and 1"),
        (lambda: oneof([math.nan, math.nan], name="x"), r"must not be NaN.*at 0 \(at x\)"),
        (lambda: manyof(1, [1.0, math.nan]), r"must not be NaN.*at 1"),
    ],
)
def test_duplicate_candidates_raise_space_error(build, pattern):
    with pytest.raises(SpaceError, match=pattern):
        build()


def test_candidates_equal_only_across_types_are_not_duplicates():
    assert Space(oneof([1, True, 1.0])).cardinality == 3
    assert Space(oneof([[1], (1,)])).cardinality == 2


def nested(depth: int, kind: str = "mix"):
    value = oneof([1, 2])
    for i in range(depth - 1):
        if kind == "oneof":  # the costliest nesting to walk
            value = oneof([value, 3]) if i % 2 else oneof({"a": value, "b": 3})
        elif i % 3 == 0:
            value = {"a": value}
        else:
            value = [value] if i % 3 == 1 else Block(width=value)
    return value


def call_deep(frames: int, fn):
    """Call ``fn`` with ``frames`` Python frames already on the stack (a framework's)."""
    return fn() if frames == 0 else call_deep(frames - 1, fn)


@pytest.mark.parametrize("kind", ["mix", "oneof"])
def test_the_deepest_allowed_space_works_everywhere_even_from_a_deep_stack(kind):
    space = call_deep(300, lambda: Space(nested(MAX_DEPTH, kind)))
    study = optuna.create_study()

    def everything():
        assignment = space.sample(0)
        space.materialize(assignment)
        space.describe(assignment)
        space.decode(space.encode(assignment))
        assert Space.from_json(space.to_json()) == space
        assert hash(space) == hash(Space(nested(MAX_DEPTH, kind)))
        assert space == Space(nested(MAX_DEPTH, kind))
        assert len(repr(space)) > MAX_DEPTH
        assert space.cardinality == len(list(space.grid()))
        trial = study.ask()
        space.suggest(trial)
        assert space.materialize(trial.params) is not None
        return True

    assert call_deep(300, everything)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 5000])
def test_nesting_deeper_than_the_limit_is_a_space_error_never_a_recursion_error(depth):
    limit = sys.getrecursionlimit()
    with pytest.raises(SpaceError, match=rf"at most {MAX_DEPTH} levels"):
        value = oneof([1, 2])
        for _ in range(depth - 1):
            value = [value]
        Space(value)
    plain: Any = 1
    for _ in range(depth):
        plain = [plain]
    with pytest.raises(SpaceError, match=rf"at most {MAX_DEPTH} levels"):
        Space(plain)
    text = '{"symtune_space": 1, "value": ' + "[" * depth + "1" + "]" * depth + "}"
    with pytest.raises(SpaceError, match=rf"at most {MAX_DEPTH} levels|too deep"):
        Space.from_json(text)
    assert sys.getrecursionlimit() == limit


def test_deep_candidates_fail_where_the_oneof_is_written():
    value: Any = 1
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    with pytest.raises(SpaceError, match=rf"at most {MAX_DEPTH} levels"):
        oneof([value, 2])
