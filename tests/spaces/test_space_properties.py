"""Property-based tests over random nested, conditional spaces, and an Optuna oracle test."""

from __future__ import annotations

import math
import re
from typing import Any

import optuna
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests_support_models import Block

from symtune.spaces import FloatV, Space, floatv, intv, manyof, oneof, selftuned
from symtune.spaces._structural import hashable

optuna.logging.set_verbosity(optuna.logging.WARNING)

PLAIN = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.0, 1.0, -2.5]),  # equal to ints and bools: each keeps its type
    st.text("abc", max_size=3),
)


@st.composite
def floats(draw: Any) -> FloatV:
    kind = draw(st.sampled_from(["plain", "log", "step"]))
    if kind == "log":
        low = draw(st.sampled_from([1e-5, 1e-3, 0.5]))
        return floatv(low, low * draw(st.sampled_from([1.0, 10.0, 1000.0])), log=True)
    low = draw(st.integers(-3, 3)) / 2
    if kind == "step":
        step = draw(st.sampled_from([0.25, 0.5]))
        return floatv(low, low + step * draw(st.integers(0, 6)), step=step)
    return floatv(low, low + draw(st.sampled_from([0.0, 0.5, 10.0])))


@st.composite
def ints(draw: Any) -> Any:
    if draw(st.booleans()):
        low = draw(st.integers(1, 4))
        return intv(low, low + draw(st.integers(0, 100)), log=True)
    low, step = draw(st.integers(-5, 5)), draw(st.integers(1, 3))
    return intv(low, low + step * draw(st.integers(0, 5)), step=step)


LEAVES = st.one_of(
    PLAIN,
    floats(),
    ints(),
    st.builds(lambda h: selftuned(h), floats().filter(lambda h: h.step is None)),
)


def distinct(children: Any, max_size: int) -> Any:
    """Candidate lists: choices refuse duplicates (``1`` and ``True`` are not duplicates)."""
    return st.lists(children, min_size=1, max_size=max_size, unique_by=hashable)


def labelled(candidates: list[Any]) -> Any:
    """The dict spelling, labels that are and are not identifiers (they name paths)."""
    return oneof(dict(zip(["x", "y z", "if"], candidates, strict=False)))


def extend(children: Any) -> Any:
    return st.one_of(
        st.lists(children, min_size=1, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), children, min_size=1, max_size=3),
        st.lists(children, min_size=1, max_size=3).map(tuple),
        distinct(children, 3).map(oneof),
        distinct(children, 3).map(labelled),
        st.builds(lambda w, k: Block(width=w, kernel=k), children, children),
        st.builds(
            lambda c, k, d, s: manyof(min(k, len(c)) if d else k, c, distinct=d, sorted=s),
            distinct(children, 4),
            st.integers(1, 3),
            st.booleans(),
            st.booleans(),
        ),
    )


SPACES = st.recursive(LEAVES, extend, max_leaves=8).map(Space)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same_assignment(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


@SETTINGS
@given(SPACES, st.integers(0, 2**16))
def test_sample_then_materialize_is_deterministic(space: Space, seed: int) -> None:
    assignment = space.sample(seed)
    assert assignment == space.sample(seed)
    assert repr(space.materialize(assignment)) == repr(space.materialize(dict(assignment)))
    assert set(assignment) == set(space.sample(seed))


_FLOAT = re.compile(r"-?\d+\.\d*(?:e[-+]?\d+)?|-?\d+e[-+]?\d+")


def rounded_repr(value: Any) -> str:
    """``repr(value)`` with every float to 12 significant digits: a log-scale value decoded
    from its encoding may differ from the original in the last bit (exp of a log)."""
    return _FLOAT.sub(lambda m: f"{float(m.group()):.12g}", repr(value))


@SETTINGS
@given(SPACES, st.integers(0, 2**16))
@example(Space(floatv(0.5, 5.0, log=True)), 372)  # decoded 2.5102465677452157 vs ...153
def test_encode_then_decode_is_the_identity_on_assignments(space: Space, seed: int) -> None:
    assignment = space.sample(seed)
    vector = space.encode(assignment)
    assert vector.shape == (space.encoding_size,)
    decoded = space.decode(vector)
    assert same_assignment(assignment, decoded)
    assert rounded_repr(space.materialize(decoded)) == rounded_repr(space.materialize(assignment))


@SETTINGS
@given(SPACES)
def test_json_round_trip_gives_an_equal_space(space: Space) -> None:
    again = Space.from_json(space.to_json())
    assert again == space
    assert hash(again) == hash(space)
    assert list(again.parameters) == list(space.parameters)


@pytest.mark.parametrize("sampler_cls", [optuna.samplers.RandomSampler, optuna.samplers.TPESampler])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=SPACES)
def test_suggest_creates_only_active_parameters_and_stored_params_rebuild(
    sampler_cls: Any, space: Space
) -> None:
    study = optuna.create_study(sampler=sampler_cls(seed=0))
    for _ in range(6):
        trial = study.ask()
        built = space.suggest(trial)
        expected_names: set[str] = set()
        for name in space.active(trial.params):
            hyper = space.parameters[name]
            expected_names.update(
                hyper.slot_names(name) if hasattr(hyper, "slot_names") else [name]
            )
        assert set(trial.params) == expected_names
        assert repr(space.materialize(trial.params)) == repr(built)
        study.tell(trial, 0.0)


def test_oracle_flat_space_suggests_the_same_distributions_as_handwritten_code() -> None:
    space = Space(
        {
            "lr": floatv(1e-5, 1e-1, log=True),
            "momentum": floatv(0.0, 0.9, step=0.1),
            "dropout": floatv(0.0, 0.5),
            "layers": intv(1, 6),
            "units": intv(16, 256, log=True),
            "batch": intv(32, 256, step=32),
            "act": oneof(["relu", "tanh", "gelu"]),
        }
    )

    def handwritten(trial: optuna.Trial) -> None:
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_float("momentum", 0.0, 0.9, step=0.1)
        trial.suggest_float("dropout", 0.0, 0.5)
        trial.suggest_int("layers", 1, 6)
        trial.suggest_int("units", 16, 256, log=True)
        trial.suggest_int("batch", 32, 256, step=32)
        trial.suggest_categorical("act", ["relu", "tanh", "gelu"])

    ours, theirs = optuna.create_study(), optuna.create_study()
    a, b = ours.ask(), theirs.ask()
    space.suggest(a)
    handwritten(b)
    assert a.distributions == b.distributions
    assert list(a.distributions) == list(b.distributions)
