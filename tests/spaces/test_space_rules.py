"""Unit tests: every rule of symtune.spaces, including every error case."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest
import torch
from tests_support_models import Block, Net, make_block

from symtune.spaces import (
    SelfTunedValue,
    Space,
    SpaceError,
    floatv,
    intv,
    manyof,
    oneof,
    selftuned,
    symbolic,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- 1. primitives validate their arguments


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: oneof([]), "at least one candidate"),
        (lambda: oneof("abc"), "must be a list"),
        (lambda: manyof(2, []), "at least one candidate"),
        (lambda: floatv(3.0, 1.0), "`low <= high` must hold, but got low=3.0, high=1.0"),
        (lambda: intv(3, 1), "`low <= high` must hold, but got low=3, high=1"),
        (lambda: floatv(0.0, 1.0, log=True), "`low > 0` must hold when `log=True`"),
        (lambda: intv(0, 10, log=True), "`low > 0` must hold when `log=True`"),
        (lambda: floatv(0.0, 1.0, step=0.3), "`step` must divide `high - low`"),
        (lambda: intv(0, 10, step=3), "`step` must divide `high - low`"),
        (lambda: intv(0, 10, step=0), "`step` must be a positive int"),
        (lambda: floatv(1e-3, 1.0, log=True, step=0.001), "cannot be combined"),
        (lambda: intv(0.5, 3), "`intv` `low` must be an int"),
        (lambda: floatv(0.0, math.inf), "must be a finite number"),
        (lambda: manyof(4, [1, 2, 3]), "`k <= len(candidates)` must hold"),
        (lambda: manyof(0, [1, 2, 3]), "`k >= 1`"),
        (lambda: oneof([1, 2], name=""), "non-empty string"),
    ],
)
def test_bad_primitive_raises_space_error(build, fragment):
    with pytest.raises(SpaceError, match=None) as info:
        build()
    assert fragment in str(info.value)


def test_error_names_the_path_of_an_explicitly_named_primitive():
    with pytest.raises(SpaceError, match=r"low=2, high=1 \(at model.depth\)"):
        intv(2, 1, name="model.depth")


def test_manyof_with_repeats_may_choose_more_than_there_are_candidates():
    space = Space(manyof(3, ["a", "b"], distinct=False))
    assert space.cardinality == 8
    assert len(space.materialize(space.sample(0))) == 3


def test_duplicate_explicit_names_raise_naming_both_paths():
    with pytest.raises(SpaceError, match="`lr` names both a and b"):
        Space({"a": floatv(0.1, 1.0, name="lr"), "b": floatv(0.1, 1.0, name="lr")})


def test_explicit_name_that_clashes_with_a_derived_name_raises():
    with pytest.raises(SpaceError, match="`b` names both"):
        Space({"a": intv(1, 2, name="b"), "b": intv(1, 2)})


# -- 2. symbolic calls record and build nothing until materialisation


def test_symbolic_wrapper_records_the_call_and_builds_nothing():
    calls = []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return ("built", args, kwargs)

    node = symbolic(spy)(1, oneof([2, 3]), key=intv(4, 5))
    space = Space(node)
    assert calls == []
    assert space.materialize({"[1]": 3, "key": 5}) == ("built", (1, 3), {"key": 5})
    assert calls == [((1, 3), {"key": 5})]


def test_symbolic_decorator_on_own_class_records_and_materialises():
    space = Space(Net(blocks=[Block(width=oneof([8, 16])), Block(width=intv(1, 3))], act="relu"))
    assert list(space.parameters) == ["blocks[0].width", "blocks[1].width"]
    net = space.materialize({"blocks[0].width": 16, "blocks[1].width": 2})
    assert isinstance(net, Net.target)  # type: ignore[attr-defined]
    assert [b.width for b in net.blocks] == [16, 2]
    assert net.act == "relu"


def test_symbolic_wrapper_of_third_party_class_builds_a_real_module():
    space = Space([symbolic(torch.nn.Linear)(64, oneof([32, 64])), symbolic(torch.nn.ReLU)()])
    assert list(space.parameters) == ["[0].out_features"]
    layers = space.materialize({"[0].out_features": 32})
    assert isinstance(layers[0], torch.nn.Linear) and layers[0].out_features == 32
    assert isinstance(layers[1], torch.nn.ReLU)


def test_a_failing_call_at_materialisation_names_the_call_and_path():
    space = Space({"layer": symbolic(torch.nn.Linear)(oneof([-1, 4]), 2)})
    with pytest.raises(SpaceError, match=r"materialising `Linear\(.*\)` failed.*\(at layer\)"):
        space.materialize({"layer.in_features": -1})


# -- 3. conditional spaces


def conditional_space() -> Space:
    return Space(
        {
            "opt": oneof(
                [
                    {"kind": "sgd", "momentum": floatv(0.0, 0.99)},
                    {"kind": "adam", "beta1": floatv(0.8, 0.99)},
                ]
            ),
            "act": oneof([torch.nn.ReLU, symbolic(torch.nn.LeakyReLU)(floatv(0.01, 0.3))]),
        }
    )


def test_parameters_list_conditions_of_nested_primitives():
    space = conditional_space()
    assert list(space.parameters) == [
        "opt",
        "opt[0].momentum",
        "opt[1].beta1",
        "act",
        "act[1].negative_slope",
    ]
    (condition,) = space.conditions["opt[1].beta1"]
    assert (condition.owner, condition.index) == ("opt", 1)
    assert space.conditions["opt"] == ()


def test_sample_and_materialize_touch_only_active_parameters():
    space = conditional_space()
    for seed in range(20):
        assignment = space.sample(seed)
        chosen_opt = space.parameters["opt"].index_of(assignment["opt"], "opt")
        assert ("opt[0].momentum" in assignment) == (chosen_opt == 0)
        assert ("opt[1].beta1" in assignment) == (chosen_opt == 1)
        assert set(space.active(assignment)) == {k for k in space.parameters if k in assignment}


def test_materialize_ignores_inactive_values_and_rejects_missing_active_ones():
    space = conditional_space()
    relu = space.parameters["act"].labels[0]
    config = space.materialize(
        {
            "opt": "{'kind': 'adam', 'beta1': floatv(0.8, 0.99)}",
            "opt[1].beta1": 0.9,
            "opt[0].momentum": 0.5,
            "act": relu,
        }
    )
    assert config["opt"] == {"kind": "adam", "beta1": 0.9}
    assert config["act"] is torch.nn.ReLU
    with pytest.raises(SpaceError, match=r"no value for active parameter `opt\[1\]\.beta1`"):
        space.materialize({"opt": space.parameters["opt"].labels[1], "act": relu})


def test_bad_assignment_values_raise_space_error():
    space = Space({"n": intv(1, 4), "x": floatv(0.0, 1.0), "c": oneof(["a", "b"])})
    with pytest.raises(SpaceError, match=r"value=7.*\(at n\)"):
        space.materialize({"n": 7, "x": 0.5, "c": "a"})
    with pytest.raises(SpaceError, match=r"must be an int, but got 2\.5"):
        space.materialize({"n": 2.5, "x": 0.5, "c": "a"})
    with pytest.raises(SpaceError, match="must be one of \\['a', 'b'\\], but got 'z'"):
        space.materialize({"n": 2, "x": 0.5, "c": "z"})
    with pytest.raises(SpaceError, match="does not have: \\['typo'\\]"):
        space.materialize({"n": 2, "x": 0.5, "c": "a", "typo": 1})


# -- 4. suggest: Optuna distributions, define-by-run, rebuild from stored params


def test_suggest_then_materialize_from_stored_params_rebuilds_the_same_object():
    space = conditional_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    built = {}

    def objective(trial):
        built[trial.number] = space.suggest(trial)
        return 0.0

    study.optimize(objective, n_trials=15)
    for frozen in study.trials:
        again = space.materialize(frozen.params)
        assert again["opt"] == built[frozen.number]["opt"]
        act = again["act"]
        expected = built[frozen.number]["act"]
        if isinstance(act, torch.nn.LeakyReLU):
            assert act.negative_slope == expected.negative_slope
        else:
            assert act is expected


def test_non_storable_candidates_are_stored_by_stable_labels_not_addresses():
    space = Space({"act": oneof([torch.nn.ReLU, torch.nn.Tanh]), "fn": oneof([math.sin, math.cos])})
    labels = space.parameters["act"].labels + space.parameters["fn"].labels
    assert labels == (
        "torch.nn.modules.activation.ReLU",
        "torch.nn.modules.activation.Tanh",
        "math.sin",
        "math.cos",
    )
    assert not any("0x" in str(label) for label in labels)


def test_clashing_or_long_labels_fall_back_to_indices():
    long = {"x" * 70: 1}
    assert Space(oneof([[1, 2], (1, 2)])).parameters["value"].labels == ("[1, 2]", "(1, 2)")
    assert Space(oneof([[1, 2], long])).parameters["value"].labels == (0, 1)


def test_manyof_suggest_honours_distinct_and_sorted():
    space = Space(
        {
            "d": manyof(3, list("abcde")),
            "s": manyof(2, list("abcd"), sorted=True),
            "r": manyof(3, list("ab"), distinct=False),
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(space.suggest(trial))
        return 0.0

    study.optimize(objective, n_trials=40)
    for config in seen:
        assert len(set(config["d"])) == 3
        assert config["s"] == sorted(config["s"]) and len(set(config["s"])) == 2
        assert len(config["r"]) == 3 and set(config["r"]) <= {"a", "b"}
    assert any(len(set(c["r"])) == 1 for c in seen)


# -- 5. sample, grid, cardinality


def test_sample_is_reproducible():
    space = conditional_space()
    assert space.sample(7) == space.sample(7)
    assert any(space.sample(7) != space.sample(s) for s in range(8, 12))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (oneof([1, 2, 3]), 3),
        (intv(1, 10, step=3), 4),
        (floatv(0.0, 1.0, step=0.25), 5),
        (floatv(0.0, 1.0), math.inf),
        ({"a": oneof([1, 2]), "b": intv(0, 2)}, 6),
        (oneof([1, {"x": intv(1, 3)}, {"y": oneof([1, 2])}]), 6),
        (manyof(2, [1, 2, 3]), 6),
        (manyof(2, [1, 2, 3], sorted=True), 3),
        (manyof(2, [1, 2, 3], distinct=False), 9),
        (manyof(2, [1, 2, 3], distinct=False, sorted=True), 6),
        (manyof(2, [1, {"x": intv(1, 2)}], distinct=False), 1 + 2 + 2 + 2),
        (selftuned(floatv(0.0, 1.0)), 1),
    ],
)
def test_cardinality_is_exact_and_grid_enumerates_it(value, expected):
    space = Space(value)
    assert space.cardinality == expected
    if math.isfinite(expected):
        grid = list(space.grid())
        assert len(grid) == expected
        objects = [repr(space.materialize(a)) for a in grid]
        assert len(set(objects)) == expected


def test_grid_of_an_infinite_space_names_the_continuous_parameters():
    with pytest.raises(SpaceError, match=r"infinitely many values: \['lr'\]"):
        Space({"lr": floatv(0.1, 1.0), "n": intv(1, 3)}).grid()


# -- 6. encode / decode


def test_encoding_has_a_fixed_length_and_a_slot_for_every_conditional_parameter():
    space = conditional_space()
    # opt: 2, momentum: 1, beta1: 1, act: 2, slope: 1
    assert space.encoding_size == 7
    vectors = [space.encode(space.sample(s)) for s in range(10)]
    assert all(v.shape == (7,) for v in vectors)
    assert all(((v >= 0) & (v <= 1)).all() for v in vectors)


def test_decode_accepts_any_real_vector_and_yields_a_valid_assignment():
    space = Space(
        {
            "a": oneof([1, 2, 3]),
            "m": manyof(2, list("abc")),
            "n": intv(1, 9, step=2),
            "x": floatv(1e-3, 1.0, log=True),
        }
    )
    rng = np.random.default_rng(0)
    for _ in range(50):
        assignment = space.decode(rng.normal(size=space.encoding_size) * 3)
        config = space.materialize(assignment)
        assert len(set(config["m"])) == 2 and config["n"] in (1, 3, 5, 7, 9)
        assert 1e-3 <= config["x"] <= 1.0
    with pytest.raises(SpaceError, match="must have shape"):
        space.decode([0.0])


# -- 7. JSON


def test_json_round_trip_of_a_space_with_symbolic_calls_and_classes():
    space = Space(
        {
            "net": Net(blocks=[Block(width=oneof([8, 16]))] * 2, act=oneof(["relu", "tanh"])),
            "layer": symbolic(torch.nn.Linear)(4, intv(1, 8, log=True)),
            "act": oneof([torch.nn.ReLU, math.sin]),
            "extra": (1.5, None, True, {"k": manyof(2, [1, 2, 3], sorted=True)}),
            "d": selftuned(floatv(0.0, 0.5), init=0.2),
            "f": make_block,
        }
    )
    text = space.to_json()
    json.loads(text)
    assert Space.from_json(text) == space


@pytest.mark.parametrize("target", [lambda x: x, "local"])
def test_to_json_rejects_unimportable_targets(target):
    if target == "local":

        class Local:
            def __init__(self, x):
                self.x = x

        target = Local
    with pytest.raises(SpaceError, match="importable by module path"):
        Space({"a": symbolic(target)(oneof([1, 2]))}).to_json()


def test_from_json_rejects_garbage():
    with pytest.raises(SpaceError, match="valid JSON"):
        Space.from_json("{not json")
    with pytest.raises(SpaceError, match="symtune_space"):
        Space.from_json('{"value": 1}')


# -- 8. selftuned


def test_selftuned_is_not_a_parameter_and_materialises_as_a_value_object():
    space = Space(
        {
            "drop": selftuned(floatv(0.0, 0.8), init=0.1),
            "aug": selftuned(oneof(["none", "shift", "cutout"])),
            "lr": floatv(0.01, 0.1),
        }
    )
    assert list(space.parameters) == ["lr"]
    assert list(space.selftuned) == ["drop", "aug"]
    config = space.materialize({"lr": 0.05})
    assert config["drop"] == SelfTunedValue("drop", "float", 0.1, low=0.0, high=0.8, log=False)
    assert config["aug"].kind == "categorical" and config["aug"].init == "none"
    assert config["aug"].choices == ("none", "shift", "cutout")
    study = optuna.create_study()
    trial = study.ask()
    space.suggest(trial)
    assert list(trial.params) == ["lr"]


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: selftuned(intv(1, 3)), "an `intv` cannot be tuned"),
        (lambda: selftuned(manyof(1, [1, 2])), "takes a `floatv` or a `oneof`"),
        (lambda: selftuned(0.5), "takes a `floatv` or a `oneof`"),
        (lambda: selftuned(floatv(0.0, 1.0), init=2.0), "`low <= init <= high`"),
        (lambda: selftuned(floatv(0.0, 1.0, step=0.5)), "continuous `floatv`"),
        (lambda: selftuned(oneof(["a", "b"]), init="c"), "`init` must be one of"),
        (lambda: selftuned(oneof([torch.nn.ReLU])), "must be plain values"),
    ],
)
def test_selftuned_rejects_what_an_stn_cannot_tune(build, fragment):
    with pytest.raises(SpaceError) as info:
        build()
    assert fragment in str(info.value)


def test_selftuned_default_init_is_the_middle_of_the_range():
    assert selftuned(floatv(0.0, 0.8)).init == pytest.approx(0.4)
    assert selftuned(floatv(1e-4, 1e-2, log=True)).init == pytest.approx(1e-3)


# -- 9. repr, ==, hash


def test_repr_reads_like_the_code_that_built_it():
    space = Space(
        {
            "layer": symbolic(torch.nn.Linear)(64, oneof([32, 64])),
            "act": oneof([torch.nn.ReLU]),
            "lr": floatv(1e-4, 1e-1, log=True, name="lr"),
        }
    )
    assert repr(space) == (
        "Space({'layer': Linear(64, oneof([32, 64])), 'act': oneof([ReLU]), "
        "'lr': floatv(0.0001, 0.1, log=True, name='lr')})"
    )


def test_equality_and_hash_are_structural():
    a = Space({"x": oneof([1, 2]), "y": Block(width=intv(1, 3))})
    b = Space({"x": oneof([1, 2]), "y": Block(width=intv(1, 3))})
    assert a == b and hash(a) == hash(b)
    assert a != Space({"x": oneof([1, 3]), "y": Block(width=intv(1, 3))})
    assert Space(oneof([1, 2])) != Space(oneof([True, 2]))
    assert Space(floatv(0.0, 1.0)) != Space(floatv(0.0, 1.0, log=False, name="z"))
