"""The public hooks of spaces: mapping every primitive, the encoding layout, assignment keys."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symtune.spaces import (
    EncodingBlock,
    ParameterInfo,
    SelfTunedValue,
    Space,
    SpaceError,
    assignment_key,
    floatv,
    intv,
    manyof,
    oneof,
    selftuned,
    symbolic,
)


class Linear:
    def __init__(self, in_features: int, out_features: int) -> None:
        self.shape = (in_features, out_features)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Linear) and self.shape == other.shape


class ReLU:
    pass


class Tanh:
    pass


def nested_space() -> Space:
    width = intv(8, 32, step=8)  # one object at two paths
    return Space(
        {
            "lr": floatv(1e-4, 1e-1, log=True),
            "layers": [symbolic(Linear)(4, width), symbolic(Linear)(width, 2)],
            "act": oneof([ReLU, Tanh]),
            "opt": oneof({"sgd": {"momentum": floatv(0.0, 0.9)}, "adam": {"beta": intv(1, 3)}}),
            "blocks": manyof(2, ["a", "b", {"c": oneof([1, 2, 3])}]),
            "drop": selftuned(floatv(0.0, 0.5)),
        }
    )


# -- mapping every primitive -----------------------------------------------------------------


def test_map_primitives_hands_each_primitive_with_its_name_and_builds_the_rest():
    space = nested_space()
    seen: list[ParameterInfo] = []

    def replace(info: ParameterInfo, candidates: tuple[Any, ...]) -> Any:
        seen.append(info)
        return ("mapped", info.name, candidates)

    value = space.map_primitives(replace)
    names = [info.name for info in seen]
    assert set(names) == {*space.parameters, *space.selftuned}
    assert len(names) == len(set(names))  # each primitive once, at its own path
    assert value["layers"][0].shape == (4, ("mapped", "layers[0].out_features", ()))
    assert value["layers"][1].shape == (("mapped", "layers[1].in_features", ()), 2)
    assert value["act"] == ("mapped", "act", (ReLU, Tanh))  # classes as they are
    # nested candidates arrive with their own primitives already mapped, conditions known
    assert value["opt"][2] == (
        {"momentum": ("mapped", "opt[sgd].momentum", ())},
        {"beta": ("mapped", "opt[adam].beta", ())},
    )
    inner = next(info for info in seen if info.name == "blocks.candidates[2].c")
    assert [c.owner for c in inner.conditions] == ["blocks"]
    drop = next(info for info in seen if info.name == "drop")
    assert drop.selftuned and not inner.selftuned


def test_map_primitives_without_build_keeps_symbolic_calls():
    space = nested_space()
    value = space.map_primitives(lambda info, _: info.name, build=False)
    call = value["layers"][0]
    assert call.target is Linear and call.args == (4, "layers[0].out_features")
    assert Space(value).parameters == {}


def test_map_primitives_lets_a_callers_error_through():
    def refuse(info: ParameterInfo, candidates: tuple[Any, ...]) -> Any:
        raise SpaceError("no floats here", path=info.name)

    with pytest.raises(SpaceError, match="no floats here"):
        nested_space().map_primitives(refuse)


def test_a_primitive_reused_at_two_paths_gets_two_names_in_every_operation():
    space = nested_space()
    names = ["layers[0].out_features", "layers[1].in_features"]
    assert all(n in space.parameters for n in names)
    assignment = space.sample(3)
    assignment[names[0]], assignment[names[1]] = 8, 24
    built = space.materialize(assignment)
    assert built["layers"][0].shape == (4, 8) and built["layers"][1].shape == (24, 2)
    vector = space.encode(assignment)
    layout = space.encoding_layout
    assert vector[layout[names[0]].slice][0] == 0.0 and vector[layout[names[1]].slice][0] > 0
    decoded = space.decode(vector)
    assert (decoded[names[0]], decoded[names[1]]) == (8, 24)
    study = optuna.create_study()
    trial = study.ask()
    value = space.suggest(trial)
    assert set(names) <= set(trial.params)
    assert value["layers"][0].shape[1] == trial.params[names[0]]
    mapped = space.map_primitives(lambda info, _: info.name)
    assert mapped["layers"][0].shape[1] == names[0]
    assert mapped["layers"][1].shape[0] == names[1]
    assert list(Space.from_json(space.to_json()).parameters) == list(space.parameters)


def test_an_explicit_name_at_two_paths_is_refused():
    width = intv(8, 32, name="width")
    with pytest.raises(SpaceError, match="`width` names both a and b"):
        Space({"a": width, "b": width})


# -- the encoding layout ---------------------------------------------------------------------


def test_encoding_layout_describes_every_block():
    space = nested_space()
    layout = space.encoding_layout
    assert list(layout) == list(space.parameters)
    assert sum(b.width for b in layout.values()) == space.encoding_size
    assert all(isinstance(b, EncodingBlock) for b in layout.values())
    assert layout["act"].kind == "one-hot" and layout["act"].width == 2
    assert layout["act"].labels == space.parameters["act"].labels
    blocks = layout["blocks"]
    assert (blocks.kind, blocks.k, blocks.n, blocks.width) == ("one-hot per slot", 2, 3, 6)
    assert layout["lr"].kind == "unit" and layout["lr"].log and layout["lr"].width == 1
    assert layout["opt[adam].beta"].conditions == space.conditions["opt[adam].beta"]


def _spaces() -> list[Space]:
    return [
        nested_space(),
        Space(
            {
                "x": oneof([{"a": manyof(2, [1, 2, 3], distinct=False)}, intv(1, 5, log=True)]),
                "y": manyof(2, [floatv(0, 1), {"z": oneof([True, 1])}, None], sorted=True),
            }
        ),
    ]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 1), st.integers(0, 2**31 - 1))
def test_layout_agrees_with_encode(which, seed):
    space = _spaces()[which]
    assignment = space.sample(seed)
    vector = space.encode(assignment)
    active = set(space.active(assignment))
    for name, block in space.encoding_layout.items():
        part = vector[block.slice]
        if name not in active:
            assert not part.any()  # an inactive parameter's block is all zeros
            continue
        hyper = space.parameters[name]
        if block.kind == "one-hot":
            assert part.sum() == 1.0
            assert block.labels[int(np.argmax(part))] == assignment[name]
        elif block.kind == "one-hot per slot":
            rows = part.reshape(block.k, block.n)
            assert (rows.sum(axis=1) == 1.0).all()
            slots = [assignment[s] for s in hyper.slot_names(name)]
            assert list(rows.argmax(axis=1)) == hyper.indices_from_slots(slots, name)
        else:
            assert 0.0 <= part[0] <= 1.0
            assert block.unit(assignment[name]) == pytest.approx(part[0])


def test_distributions_are_what_suggest_uses():
    space = nested_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        space.suggest_params(trial)
        for name, distribution in trial.distributions.items():
            assert space.distributions()[name] == distribution
        study.tell(trial, 0.0)


def test_targets_lists_every_class_and_function_with_its_first_path():
    here = __name__
    assert nested_space().targets() == {
        f"{here}:Linear": "layers[0]",
        f"{here}:ReLU": "act[0]",
        f"{here}:Tanh": "act[1]",
    }
    assert Space({"f": symbolic(ReLU)}).targets() == {f"{here}:ReLU": "f"}


# -- assignment keys -------------------------------------------------------------------------


def test_assignment_key_equality_rule():
    assert assignment_key({"a": 1, "b": "x"}) == assignment_key({"b": "x", "a": 1.0})
    assert assignment_key({"a": 1}) == assignment_key({"a": np.int64(1)})
    assert assignment_key({"a": 0.5}) == assignment_key({"a": np.float64(0.5)})
    assert assignment_key({"a": True}) != assignment_key({"a": 1})
    assert assignment_key({"a": True}) == assignment_key({"a": np.bool_(True)})
    assert assignment_key({"a": None}) != assignment_key({"a": "None"})
    assert assignment_key({"a": "1"}) != assignment_key({"a": 1})
    assert len({assignment_key({"a": 1}), assignment_key({"a": 1.0})}) == 1
    hash(assignment_key({"a": [1, 2]}))


def test_assignment_key_agrees_with_the_space():
    """Two assignments with one key materialise to the same value."""
    space = Space({"n": intv(1, 4), "f": floatv(0, 2), "c": oneof([True, 2])})
    first, second = {"n": 2, "f": 1, "c": 2}, {"c": 2.0, "f": 1.0, "n": 2.0}
    assert assignment_key(first) == assignment_key(second)
    assert space.materialize(first) == space.materialize(second)
    third = {"n": 2, "f": 1, "c": True}
    assert assignment_key(third) != assignment_key(first)
    assert space.materialize(third) != space.materialize(first)


# -- deprecated names ------------------------------------------------------------------------


def test_selftuned_info_is_deprecated_and_folded_into_parameter_info():
    from symtune.spaces import _walk

    with pytest.warns(DeprecationWarning, match="SelfTunedInfo"):
        folded = _walk.SelfTunedInfo
    assert folded is ParameterInfo
    info = nested_space().parameter_info("drop")
    assert isinstance(info, ParameterInfo) and info.selftuned
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert info.node is info.hyper
    value = nested_space().materialize(nested_space().sample(0))["drop"]
    assert isinstance(value, SelfTunedValue) and value.name == "drop"
