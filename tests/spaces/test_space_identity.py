"""Candidates that are equal under ``==`` but not the same value (``1``, ``True``, ``1.0``) keep
their identity, type included, through every path a value takes: suggest, storage, materialize,
describe, encode/decode, JSON, sample and grid."""

from __future__ import annotations

import optuna
import pytest

from symtune.search import resolve_storage
from symtune.spaces import Space, SpaceError, manyof, oneof, selftuned

optuna.logging.set_verbosity(optuna.logging.WARNING)

EQUAL_ACROSS_TYPES = [1, True, 1.0, 0, False, 0.0, "1", None]


def typed(value):
    return (type(value), value)


def test_each_candidate_survives_suggest_storage_and_rebuild(storage_url):
    space = Space({"x": oneof(EQUAL_ACROSS_TYPES), "m": manyof(2, [1, True, 1.0], distinct=False)})
    study = optuna.create_study(
        storage=resolve_storage(storage_url, create=True),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    seen = {}

    def objective(trial: optuna.Trial) -> float:
        config = space.suggest(trial)
        seen[trial.number] = (typed(config["x"]), [typed(v) for v in config["m"]])
        return 0.0

    for label in space.parameters["x"].labels:  # each candidate once; `m` at random
        study.enqueue_trial({"x": label})
    study.optimize(objective, n_trials=len(EQUAL_ACROSS_TYPES) + 4)
    stored = optuna.load_study(study_name=study.study_name, storage=resolve_storage(storage_url))
    for frozen in stored.trials:
        again = space.materialize(frozen.params)
        assert (typed(again["x"]), [typed(v) for v in again["m"]]) == seen[frozen.number]
        readable = space.describe(frozen.params)
        assert typed(readable["x"]) == seen[frozen.number][0]
    assert {x for x, _ in seen.values()} == {typed(v) for v in EQUAL_ACROSS_TYPES}


def test_encode_decode_sample_grid_and_json_keep_the_type():
    space = Space(oneof(EQUAL_ACROSS_TYPES))
    grid = [space.materialize(a) for a in space.grid()]
    assert [typed(v) for v in grid] == [typed(v) for v in EQUAL_ACROSS_TYPES]
    for assignment in space.grid():
        assert space.decode(space.encode(assignment)) == assignment
    sampled = {typed(space.materialize(space.sample(seed))) for seed in range(80)}
    assert sampled == {typed(v) for v in EQUAL_ACROSS_TYPES}
    again = Space.from_json(space.to_json())
    assert again == space
    assert [typed(c) for c in again.parameters["value"].candidates] == [
        typed(v) for v in EQUAL_ACROSS_TYPES
    ]


def test_stored_labels_of_equal_candidates_are_distinct_to_optuna():
    labels = Space(oneof([1, True, 1.0])).parameters["value"].labels
    assert len(set(labels)) == 3  # Optuna finds a choice by ==: equal labels would merge


def test_plain_distinct_candidates_are_still_stored_as_themselves():
    assert Space(oneof([1, 2, "a", None, 2.5])).parameters["value"].labels == (1, 2, "a", None, 2.5)


def test_a_selftuned_choice_starts_at_the_candidate_it_names():
    value = Space({"h": selftuned(oneof([1, True]), init=True)}).materialize({})["h"]
    assert value.init is True and value.init_index == 1
    with pytest.raises(SpaceError, match="`init` must be one of"):
        selftuned(oneof([1, 2]), init=1.5)


def test_values_stored_before_equal_candidates_had_labels_of_their_own_still_read():
    """Such studies stored the plain value (always the first of the equal ones, in fact)."""
    space = Space(oneof([1, True, 1.0]))
    assert typed(space.materialize({"value": 1})) == (int, 1)
    assert typed(space.materialize({"value": True})) == (bool, True)
    assert typed(space.materialize({"value": "True"})) == (bool, True)
    with pytest.raises(SpaceError, match="must be one of"):
        space.materialize({"value": 2})
