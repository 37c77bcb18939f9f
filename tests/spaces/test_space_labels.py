"""Readable choices: labelled candidates (the dict spelling), labels derived for the others,
and what Optuna stores kept exactly as it was for every space that could be written before."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch
from tests_support_models import Block, Net

from symtune.spaces import Space, SpaceError, floatv, intv, manyof, oneof, selftuned, symbolic

optuna.logging.set_verbosity(optuna.logging.WARNING)

LEGACY_JSON = Path(__file__).with_name("legacy_space.json")


def optimizers() -> Space:
    return Space(
        {
            "optimizer": oneof(
                {
                    "sgd": {"lr": floatv(1e-3, 1e-1, log=True), "momentum": floatv(0.0, 0.99)},
                    "adam": {"lr": floatv(1e-4, 1e-2, log=True)},
                }
            ),
            "act": oneof({"relu": torch.nn.ReLU, "leaky": torch.nn.LeakyReLU}),
        }
    )


# -- the dict spelling: label -> candidate


def test_dict_of_labelled_candidates_keeps_its_sub_spaces():
    space = optimizers()
    assert list(space.parameters) == [
        "optimizer",
        "optimizer[sgd].lr",
        "optimizer[sgd].momentum",
        "optimizer[adam].lr",
        "act",
    ]
    assert space.parameters["optimizer"].labels == ("sgd", "adam")  # stored as the labels
    config = space.materialize({"optimizer": "adam", "optimizer[adam].lr": 1e-3, "act": "leaky"})
    assert config == {"optimizer": {"lr": 1e-3}, "act": torch.nn.LeakyReLU}
    assert space.describe({"optimizer": "adam", "optimizer[adam].lr": 1e-3, "act": "relu"}) == {
        "optimizer": "adam",
        "optimizer[adam].lr": 1e-3,
        "act": "relu",
    }
    assert repr(space.conditions["optimizer[adam].lr"]) == "(optimizer == 'adam',)"


def test_labelled_candidates_round_trip_through_optuna_json_and_vectors():
    space = optimizers()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    built = {}

    def objective(trial: optuna.Trial) -> float:
        built[trial.number] = space.suggest(trial)
        return 0.0

    study.optimize(objective, n_trials=12)
    assert {t.params["optimizer"] for t in study.trials} == {"sgd", "adam"}
    for trial in study.trials:
        assert space.materialize(trial.params) == built[trial.number]
        assert space.decode(space.encode(trial.params)) == trial.params
    again = Space.from_json(space.to_json())
    assert again == space and list(again.parameters) == list(space.parameters)
    assert repr(again) == repr(space)
    assert repr(space).startswith("Space({'optimizer': oneof({'sgd': {'lr': floatv(")


def test_labels_that_are_not_identifiers_are_quoted_in_names():
    space = Space(oneof({"1 layer": [intv(1, 4)], "2 layers": [intv(1, 4), intv(1, 4)]}, name="d"))
    assert list(space.parameters) == [
        "d",
        "d['1 layer'][0]",
        "d['2 layers'][0]",
        "d['2 layers'][1]",
    ]
    assert space.describe({"d": "2 layers", "d['2 layers'][0]": 3, "d['2 layers'][1]": 1})["d"] == (
        "2 layers"
    )


def test_labelled_manyof_stores_labels_in_its_slots_when_repeats_are_allowed():
    space = Space(manyof(2, {"flip": [1], "shift": [2], "noise": [3]}, distinct=False))
    assignment = {"value[0]": "noise", "value[1]": "flip"}
    assert space.materialize(assignment) == [[3], [1]]
    assert space.describe(assignment) == {"value": ["noise", "flip"]}
    assert Space.from_json(space.to_json()) == space


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: oneof({1: "a", "b": "c"}), r"labels .* must be non-empty strings, but got 1"),
        (lambda: oneof({"": 1, "b": 2}, name="x"), r"non-empty strings, but got '' \(at x\)"),
        (lambda: oneof({"a": 1, "b": 1}), r"must be distinct, but got 1 at 0 and 1"),
        (lambda: oneof({}), "at least one candidate"),
    ],
)
def test_bad_labels_raise_space_error(build, pattern):
    with pytest.raises(SpaceError, match=pattern):
        build()


def test_a_labelled_oneof_differs_from_the_same_candidates_in_a_list():
    assert oneof({"a": 1, "b": 2}) != oneof([1, 2])
    assert oneof({"a": 1, "b": 2}) == oneof({"a": 1, "b": 2})
    assert oneof({"a": 1, "b": 2}) != oneof({"b": 1, "a": 2})


def test_selftuned_accepts_a_labelled_oneof_of_plain_values():
    value = Space({"h": selftuned(oneof({"off": 0.0, "on": 0.5}))}).materialize({})["h"]
    assert value.choices == (0.0, 0.5) and value.init == 0.0


# -- derived labels: shown, never stored


def test_readable_labels_are_derived_where_the_candidates_allow():
    space = Space(
        {
            "opt": oneof([{"name": "sgd", "lr": floatv(0.1, 1.0)}, {"type": "adam", "b": 0.9}]),
            "layer": oneof(
                [symbolic(torch.nn.Linear)(4, intv(1, 8)), symbolic(torch.nn.Conv1d)(4, 4, 3)]
            ),
            "act": oneof([torch.nn.ReLU, torch.nn.Tanh]),
            "short": oneof([[Block(width=1)], [Block(width=2), Block(width=3)]]),
            "long": oneof([[Block(width=intv(1, 9))], [Block(width=intv(1, 9))] * 3]),
            "same_target": oneof([Block(width=1), Block(width=2)]),
            "plain": oneof([1, True, "x", None]),
        }
    )
    displays = {n: h.display for n, h in space.parameters.items() if hasattr(h, "display")}
    assert displays["opt"] == ("sgd", "adam")
    assert displays["layer"] == ("Linear", "Conv1d")
    assert displays["act"] == ("ReLU", "Tanh")
    assert displays["short"] == ("[Block(width=1)]", "[Block(width=2), Block(width=3)]")
    assert displays["long"] == ("1 item", "3 items")  # stored by index: too long to read
    assert displays["same_target"] == ("Block(width=1)", "Block(width=2)")  # the stored labels
    assert displays["plain"] == (1, True, "x", None)
    # Storage is untouched by display labels: the dicts are still stored by their code.
    assert space.parameters["opt"].labels == (
        "{'name': 'sgd', 'lr': floatv(0.1, 1.0)}",
        "{'type': 'adam', 'b': 0.9}",
    )
    assert space.parameters["act"].labels == (
        "torch.nn.modules.activation.ReLU",
        "torch.nn.modules.activation.Tanh",
    )
    assignment = space.sample(0)
    readable = space.describe(assignment)
    assert readable["opt"] in ("sgd", "adam") and readable["act"] in ("ReLU", "Tanh")
    assert repr(space.conditions["opt[0].lr"]) == "(opt == 'sgd',)"


def test_names_that_clash_fall_back_to_what_tells_the_candidates_apart():
    space = Space(oneof([{"name": "a", "x": floatv(0.0, 1.0)}, {"name": "a", "y": 2}]))
    display = space.parameters["value"].display
    assert len(set(display)) == 2 and "a" not in display


# -- storage of every space that could be written before is unchanged


def legacy_space() -> Space:
    return Space(
        {
            "net": Net(
                blocks=[Block(width=oneof([8, 16]), kernel=intv(1, 5, step=2))],
                act=oneof(["relu", "tanh"]),
            ),
            "optimizer": oneof(
                [
                    {
                        "name": "sgd",
                        "lr": floatv(1e-3, 1e-1, log=True),
                        "momentum": floatv(0.0, 0.99),
                    },
                    {"name": "adam", "lr": floatv(1e-4, 1e-2, log=True)},
                ]
            ),
            "act": oneof([torch.nn.ReLU, symbolic(torch.nn.LeakyReLU)(floatv(0.01, 0.3))]),
            "depth": oneof(
                [
                    [oneof([16, 32, 64, 128])],
                    [oneof([16, 32, 64, 128])] * 2,
                    [oneof([16, 32, 64, 128])] * 3,
                ],
                name="depth",
            ),
            "aug": manyof(2, ["flip", "shift", "noise"], sorted=True),
            "drop": selftuned(floatv(0.0, 0.5), init=0.1),
            "mixed": oneof([1, "a", None, 2.5]),
        }
    )


def test_json_names_and_stored_labels_of_existing_spellings_are_unchanged():
    """The JSON below was written by symtune before readable labels: same text, same names,
    same stored labels, so studies stored then resume and rebuild as they did."""
    space = legacy_space()
    assert space.to_json() == LEGACY_JSON.read_text().strip()
    assert json.loads(space.to_json()) == json.loads(LEGACY_JSON.read_text())
    assert list(space.parameters)[:7] == [
        "net.blocks[0].width",
        "net.blocks[0].kernel",
        "net.act",
        "optimizer",
        "optimizer[0].lr",
        "optimizer[0].momentum",
        "optimizer[1].lr",
    ]
    labels = {n: h.labels for n, h in space.parameters.items() if hasattr(h, "labels")}
    assert labels["optimizer"] == (0, 1) and labels["depth"] == (0, 1, 2)
    assert labels["act"] == ("torch.nn.modules.activation.ReLU", "LeakyReLU(floatv(0.01, 0.3))")
    assert labels["mixed"] == (1, "a", None, 2.5)
    assert space.parameters["depth"].display == ("1 item", "2 items", "3 items")
    assert space.parameters["optimizer"].display == ("sgd", "adam")
