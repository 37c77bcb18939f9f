"""``ParetoPruner``: successive halving on Pareto fronts (issue 12, item 3).

The rung rule against a brute-force oracle written here from the definitions; the pruner on
in-memory and journal studies (no Ray): asynchronous rungs, retries counted once, a resumed
study deciding the same, and Optuna's ASHA reproduced in a one-objective study.
"""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import StudyDirection
from optuna.trial import TrialState

from symtune.search import ParetoPruner, _compat, _pareto_pruner
from symtune.search._pareto_pruner import RUNG_KEY, rung_order, rung_survivors, survives
from symtune.search._trial import REPORT_KEY

MIN, MAX = StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE


# -- the oracle: written from the definitions, with loops -----------------------------------------


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def _oracle_fronts(costs: list[list[float]]) -> list[list[int]]:
    """Peel the non-dominated rows off, again and again."""
    left, fronts = set(range(len(costs))), []
    while left:
        front = sorted(i for i in left if not any(_dominates(costs[j], costs[i]) for j in left))
        fronts.append(front)
        left -= set(front)
    return fronts


def _oracle_crowding(costs: list[list[float]], numbers: list[int]) -> list[float]:
    """NSGA-II crowding distance of one front (rows ``costs``, named ``numbers``)."""
    n = len(costs)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for k in range(len(costs[0])):
        values = [row[k] for row in costs]
        if max(values) == min(values):
            continue
        order = sorted(range(n), key=lambda i: (values[i], numbers[i]))
        distance[order[0]] = distance[order[-1]] = math.inf
        for j in range(1, n - 1):
            gap = values[order[j + 1]] - values[order[j - 1]]
            distance[order[j]] += gap / (max(values) - min(values))
    return distance


def _oracle_keys(
    vectors: Any, numbers: list[int], directions: list[StudyDirection]
) -> dict[int, tuple[int, float, int]]:
    signs = [1.0 if d == MIN else -1.0 for d in directions]
    costs = [[s * float(v) for s, v in zip(signs, row, strict=True)] for row in vectors]
    key = {}
    for f, front in enumerate(_oracle_fronts(costs)):
        crowd = _oracle_crowding([costs[i] for i in front], [numbers[i] for i in front])
        for i, c in zip(front, crowd, strict=True):
            key[i] = (f, -c, numbers[i])
    return key


def _oracle_order(vectors: Any, numbers: list[int], directions: list[StudyDirection]) -> list[int]:
    key = _oracle_keys(vectors, numbers, directions)
    return [numbers[i] for i in sorted(key, key=key.__getitem__)]


def _oracle_survives(
    vectors: Any, numbers: list[int], judged: int, rf: int, directions: list[StudyDirection]
) -> bool:
    """Fewer than max(1, n // rf) others strictly better by (front, -crowding)."""
    key = _oracle_keys(vectors, numbers, directions)
    mine = next(k[:2] for i, k in key.items() if numbers[i] == judged)
    better = [i for i, k in key.items() if numbers[i] != judged and k[:2] < mine]
    return len(better) < max(1, len(numbers) // rf)


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "integer grid"])
def test_rung_rule_matches_the_brute_force_oracle(ties: bool) -> None:
    rng = np.random.default_rng(12 + ties)
    for _ in range(250):
        n, m, rf = int(rng.integers(1, 25)), int(rng.integers(1, 4)), int(rng.integers(2, 5))
        vectors = rng.integers(0, 4, (n, m)) if ties else rng.normal(size=(n, m))
        numbers = [int(x) for x in rng.permutation(100)[:n]]
        directions = [MIN if d else MAX for d in rng.integers(0, 2, m)]
        expected = _oracle_order(vectors.tolist(), numbers, directions)
        assert rung_order(vectors, numbers, directions) == expected
        keep = max(1, n // rf)
        assert rung_survivors(vectors, numbers, rf, directions) == set(expected[:keep])
        for judged in numbers:  # the decision: ties go to the trial judged
            want = _oracle_survives(vectors.tolist(), numbers, judged, rf, directions)
            assert survives(vectors, numbers, judged, rf, directions) == want


def test_rung_rule_by_hand() -> None:
    # Front 0: 10, 11, 12, 13; front 1: 14 (dominated by 13).
    vectors = [[0.0, 4.0], [4.0, 0.0], [1.0, 3.0], [2.0, 2.0], [2.5, 2.5]]
    numbers = [10, 11, 12, 13, 14]
    # Crowding: 10 and 11 are boundaries (inf); 12: (2-0)/4 + (4-2)/4 = 1; 13: (4-1)/4 * 2 = 1.5.
    assert rung_order(vectors, numbers) == [10, 11, 13, 12, 14]
    assert rung_survivors(vectors, numbers, 2) == {10, 11}
    # Judged at a rung of two, a later trial that the earlier one does not dominate goes on.
    assert survives([[0.0, 1.0], [1.0, 0.0]], [0, 1], 1, 3)
    assert not survives([[0.0, 0.0], [1.0, 0.0]], [0, 1], 1, 3)  # dominated
    assert rung_survivors(vectors, numbers, 5) == {10}  # max(1, 5 // 5)
    assert rung_survivors(vectors[:1], numbers[:1], 3) == {10}  # alone: survives


def test_rung_rule_takes_infinities_and_rejects_bad_input() -> None:
    vectors = [[math.inf, 0.0], [0.0, math.inf], [1.0, 1.0], [math.inf, math.inf]]
    assert rung_order(vectors, [0, 1, 2, 3]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"`numbers` must be 2 distinct ints.*\[1, 1\]"):
        rung_order([[1.0], [2.0]], [1, 1])
    with pytest.raises(ValueError, match=r"none NaN.*\(in rung_order\)"):
        rung_order([[1.0, math.nan]], [0])
    with pytest.raises(ValueError, match=r"`directions` must be 'minimize' or 'maximize'"):
        rung_order([[1.0, 2.0]], [0], [MIN])
    with pytest.raises(ValueError, match=r"`reduction_factor` must be an int >= 2, but got 1"):
        rung_survivors([[1.0]], [0], 1)


# -- the pruner on a study ------------------------------------------------------------------------


def _report(study: optuna.Study, trial: optuna.Trial, step: int, vector: Sequence[Any]) -> None:
    """What ``TrialHandle.report`` stores for a vector in a multi-objective study."""
    storage = _compat.study_storage(study)
    storage.set_trial_intermediate_value(_compat.trial_id(trial), step, vector[0])
    storage.set_trial_system_attr(_compat.trial_id(trial), f"{REPORT_KEY}{step}", list(vector))


def _prune(pruner: ParetoPruner, study: optuna.Study, trial: optuna.Trial) -> bool:
    return pruner.prune(study, _compat.study_storage(study).get_trial(_compat.trial_id(trial)))


def _attrs(study: optuna.Study, trial: optuna.Trial) -> dict[str, Any]:
    return _compat.study_storage(study).get_trial(_compat.trial_id(trial)).system_attrs


def _at_rung(
    study: optuna.Study, pruner: ParetoPruner, vector: Sequence[float], step: int = 1
) -> bool:
    """A new trial reports ``vector`` at ``step`` (rung 0 when min_resource=1) and is judged."""
    trial = study.ask()
    _report(study, trial, step, vector)
    return _prune(pruner, study, trial)


def test_the_first_trial_at_a_rung_survives_and_dominated_ones_are_pruned() -> None:
    study = optuna.create_study(directions=[MIN, MAX])
    pruner = ParetoPruner(min_resource=1, reduction_factor=3)
    assert _at_rung(study, pruner, [9.0, 0.0]) is False  # alone at the rung: goes on
    for vector in ([0.0, 1.0], [1.0, 5.0], [2.0, 6.0], [3.0, 7.0]):
        _at_rung(study, pruner, vector)
    # Six at the rung, two survive; this one is dominated by every trial but the first.
    assert _at_rung(study, pruner, [5.0, 0.5]) is True
    # Non-dominated and the rung's best on the first objective: a boundary, it survives.
    assert _at_rung(study, pruner, [-1.0, 0.5]) is False
    # Dominating every other trial: alone on front 0.
    assert _at_rung(study, pruner, [-2.0, 10.0]) is False


def test_a_trial_is_judged_once_per_rung_with_the_vector_it_had_there() -> None:
    study = optuna.create_study(directions=[MIN, MIN])
    pruner = ParetoPruner(min_resource=2, reduction_factor=2)  # rungs at steps 2, 4, 8
    good = study.ask()
    _report(study, good, 1, [0.0, 0.0])
    assert _prune(pruner, study, good) is False and RUNG_KEY + "0" not in _attrs(study, good)
    _report(study, good, 2, [1.0, 1.0])
    assert _prune(pruner, study, good) is False
    assert _attrs(study, good)[RUNG_KEY + "0"] == [1.0, 1.0]
    for vector in ([0.5, 0.5], [0.2, 0.2], [0.1, 0.1]):  # three better trials reach rung 0
        _at_rung(study, pruner, vector, step=2)
    _report(study, good, 3, [5.0, 5.0])  # now the worst, but rung 0 is judged already
    assert _prune(pruner, study, good) is False
    assert _attrs(study, good)[RUNG_KEY + "0"] == [1.0, 1.0]
    late = study.ask()
    _report(study, late, 9, [0.0, 0.0])  # rungs 0, 1 and 2 at once, with the step-9 vector
    assert _prune(pruner, study, late) is False
    attrs = _attrs(study, late)
    assert [attrs[f"{RUNG_KEY}{r}"] for r in range(3)] == [[0.0, 0.0]] * 3
    assert RUNG_KEY + "3" not in attrs


def test_at_several_rungs_the_first_failed_rung_prunes() -> None:
    study = optuna.create_study(directions=[MIN, MIN])
    pruner = ParetoPruner(min_resource=1, reduction_factor=2)
    for vector in ([0.0, 0.0], [0.1, 0.1], [0.2, 0.2]):  # three trials judged at rung 0 only
        _at_rung(study, pruner, vector)
    trial = study.ask()
    _report(study, trial, 2, [1.0, 1.0])  # rungs 0 (step 1) and 1 (step 2): fails rung 0
    assert _prune(pruner, study, trial) is True
    attrs = _attrs(study, trial)
    assert attrs[RUNG_KEY + "0"] == [1.0, 1.0] and RUNG_KEY + "1" not in attrs


def test_retries_count_once_and_judge_with_their_own_vector() -> None:
    study = optuna.create_study(directions=[MIN, MIN])
    pruner = ParetoPruner(min_resource=1, reduction_factor=2, bootstrap_count=3)
    first = study.ask()
    _report(study, first, 1, [0.0, 0.0])
    assert _prune(pruner, study, first) is True  # alone, under the bootstrap count
    study.tell(first, state=TrialState.FAIL)  # (the worker died)
    retry = study.ask()
    storage = _compat.study_storage(study)
    storage.set_trial_system_attr(_compat.trial_id(retry), "retry_history", [first.number])
    storage.set_trial_system_attr(
        _compat.trial_id(retry), RUNG_KEY + "0", [0.0, 0.0]
    )  # carried over
    other = study.ask()
    _report(study, other, 1, [5.0, 5.0])
    assert _prune(pruner, study, other) is True  # 2 lineages at rung 0, not 3
    third = study.ask()
    _report(study, third, 1, [6.0, 6.0])
    assert _prune(pruner, study, third) is True  # 3 lineages: judged; worst of 3
    _report(study, retry, 2, [9.0, 9.0])  # rung 1: retry's own vector for lineage 0
    assert _prune(pruner, study, retry) is True  # rung 1 holds 1 lineage < bootstrap 3
    fourth = study.ask()
    _report(study, fourth, 2, [1.0, 1.0])
    assert _prune(pruner, study, fourth) is True  # survives rung 0, 2 lineages at rung 1
    assert _attrs(study, fourth)[RUNG_KEY + "1"] == [1.0, 1.0]
    retry2 = study.ask()
    storage.set_trial_system_attr(_compat.trial_id(retry2), "retry_history", [first.number, 1])
    _report(study, retry2, 2, [0.5, 0.5])
    # At rung 1 lineage 0 is judged by this retry's own [0.5, 0.5], not the first retry's
    # [9, 9]: it beats the fourth trial's [1, 1] and goes on.
    assert (
        ParetoPruner(min_resource=1, reduction_factor=2).prune(
            study, storage.get_trial(_compat.trial_id(retry2))
        )
        is False
    )


def test_bootstrap_count_counts_the_trial_itself() -> None:
    study = optuna.create_study(directions=[MIN, MIN])
    pruner = ParetoPruner(reduction_factor=2, bootstrap_count=2)
    assert _at_rung(study, pruner, [1.0, 1.0]) is True  # 1 at the rung < 2
    assert _at_rung(study, pruner, [0.0, 0.0]) is False  # 2: judged, and the better one
    assert _at_rung(study, pruner, [2.0, 2.0]) is True  # 3: judged, the worst


def test_directions_decide_which_trials_are_dominated() -> None:
    for directions, pruned in (([MAX, MAX], [0.0, 0.0]), ([MIN, MIN], [3.0, 3.0])):
        study = optuna.create_study(directions=directions)
        pruner = ParetoPruner(reduction_factor=2)
        for vector in ([1.0, 2.0], [2.0, 1.0], [1.5, 1.5]):
            _at_rung(study, pruner, vector)
        assert _at_rung(study, pruner, pruned) is True


def test_a_nan_is_pruned_and_leaves_no_marker() -> None:
    study = optuna.create_study(directions=[MIN, MIN])
    pruner = ParetoPruner()
    trial = study.ask()
    _report(study, trial, 1, [math.nan, 1.0])
    assert _prune(pruner, study, trial) is True
    assert RUNG_KEY + "0" not in _attrs(study, trial)
    assert _at_rung(study, pruner, [5.0, 5.0]) is False  # the first at the rung all the same


def test_a_vector_with_missing_objectives_is_not_pruned_and_warns_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_pareto_pruner, "_warned_cannot_judge", False)
    study = optuna.create_study(directions=[MIN, MIN])
    pruner = ParetoPruner(reduction_factor=2, bootstrap_count=5)  # would prune anything judged
    trial = study.ask()
    _report(study, trial, 1, [1.0, None])
    with pytest.warns(UserWarning, match=r"trial 0 at step 1.*report one value per objective"):
        assert _prune(pruner, study, trial) is False
    assert RUNG_KEY + "0" not in _attrs(study, trial)
    _report(study, trial, 2, [1.0, None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _prune(pruner, study, trial) is False  # once per process


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"reduction_factor": 1}, ValueError, "`reduction_factor` must be an int >= 2, but got 1"),
        ({"reduction_factor": 2.5}, TypeError, "`reduction_factor` must be an int >= 2, but got"),
        ({"min_resource": 0}, ValueError, "`min_resource` must be an int >= 1, but got 0"),
        ({"min_resource": "auto"}, TypeError, "`min_resource` must be an int >= 1, but got 'a"),
        ({"min_early_stopping_rate": -1}, ValueError, "`min_early_stopping_rate` must be an int"),
        ({"bootstrap_count": True}, TypeError, "`bootstrap_count` must be an int >= 0, but got T"),
    ],
)
def test_bad_arguments_are_clear_errors(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(") + r".*\(in ParetoPruner\)"):
        ParetoPruner(**kwargs)


def test_the_pruner_pickles_and_names_its_arguments() -> None:
    pruner = ParetoPruner(min_resource=2, reduction_factor=4, min_early_stopping_rate=1)
    copy = pickle.loads(pickle.dumps(pruner))
    assert (
        repr(copy)
        == repr(pruner)
        == (
            "ParetoPruner(min_resource=2, reduction_factor=4, min_early_stopping_rate=1, "
            "bootstrap_count=0)"
        )
    )
    assert [copy.rung_resource(r) for r in range(3)] == [8, 32, 128]


# -- resumed studies and Optuna's ASHA ------------------------------------------------------------


def _script(seed: int, trials: int = 12, steps: int = 8) -> list[tuple[int, int, list[float]]]:
    """Interleaved reports (trial, step, vector): trials start at staggered times."""
    rng = np.random.default_rng(seed)
    events = [
        (float(t + step * rng.uniform(0.5, 1.5)), t, step, rng.normal(size=2).tolist())
        for t in range(trials)
        for step in range(1, steps + 1)
    ]
    return [(t, step, vector) for _, t, step, vector in sorted(events)]


def _play(
    events: list[tuple[int, int, list[float]]],
    open_study: Any,
    resume_at: int | None = None,
) -> list[tuple[int, int, bool]]:
    """Report and judge ``events`` in order; a pruned trial stops. At ``resume_at``, go on
    with a new study object on the same storage and a new pruner (a resumed study)."""
    study, pruner = open_study(), ParetoPruner(min_resource=1, reduction_factor=2)
    trials = [study.ask() for _ in range(1 + max(t for t, _, _ in events))]
    ids = [_compat.trial_id(trial) for trial in trials]
    decisions, stopped = [], set()
    for index, (t, step, vector) in enumerate(events):
        if index == resume_at:
            study, pruner = open_study(), ParetoPruner(min_resource=1, reduction_factor=2)
        if t in stopped:
            continue
        storage = _compat.study_storage(study)
        storage.set_trial_intermediate_value(ids[t], step, vector[0])
        storage.set_trial_system_attr(ids[t], f"{REPORT_KEY}{step}", vector)
        pruned = pruner.prune(study, storage.get_trial(ids[t]))
        decisions.append((t, step, pruned))
        if pruned:
            stopped.add(t)
            storage.set_trial_state_values(ids[t], TrialState.PRUNED)
    return decisions


def _reopener(storage_for: Callable[[], BaseStorage]) -> Callable[[], optuna.Study]:
    """Opens the study anew, on the storage ``storage_for()`` gives, at each call."""

    def open_study() -> optuna.Study:
        return optuna.create_study(
            storage=storage_for(), study_name="s", directions=[MIN, MAX], load_if_exists=True
        )

    return open_study


def _journal(path: Path) -> Callable[[], BaseStorage]:
    return lambda: JournalStorage(JournalFileBackend(str(path)))


def _same(storage: BaseStorage) -> Callable[[], BaseStorage]:
    return lambda: storage


def test_a_resumed_study_makes_the_same_decisions(tmp_path: Path) -> None:
    for seed in (0, 1):
        events = _script(seed)
        straight = _play(events, _reopener(_journal(tmp_path / f"straight{seed}.log")))
        assert any(pruned for _, _, pruned in straight)  # the script prunes for real
        assert not all(pruned for _, _, pruned in straight)
        # A new process on the same journal file, from the middle of the script on.
        journal = _reopener(_journal(tmp_path / f"resumed{seed}.log"))
        assert _play(events, journal, resume_at=len(events) // 2) == straight
        # A new Study object and pruner on the same in-memory storage.
        memory = _reopener(_same(InMemoryStorage()))
        assert _play(events, memory, resume_at=len(events) // 3) == straight


@pytest.mark.parametrize(
    ("direction", "min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap"),
    [(MIN, 1, 2, 0, 0), (MAX, 1, 3, 0, 0), (MIN, 2, 3, 1, 0), (MAX, 3, 2, 0, 0), (MIN, 1, 2, 0, 3)],
)
def test_one_objective_prunes_as_optunas_successive_halving(
    direction: StudyDirection,
    min_resource: int,
    reduction_factor: int,
    min_early_stopping_rate: int,
    bootstrap: int,
) -> None:
    kwargs = {
        "min_resource": min_resource,
        "reduction_factor": reduction_factor,
        "min_early_stopping_rate": min_early_stopping_rate,
    }
    seed = min_resource + reduction_factor + min_early_stopping_rate + bootstrap
    decisions = []
    # Optuna's bootstrap_count does not count the trial itself; ParetoPruner's does.
    for pruner in (
        optuna.pruners.SuccessiveHalvingPruner(**kwargs, bootstrap_count=bootstrap),
        ParetoPruner(**kwargs, bootstrap_count=bootstrap + 1),
    ):
        study = optuna.create_study(direction=direction, pruner=pruner)
        trials = [study.ask() for _ in range(15)]
        stopped: set[int] = set()
        made = []
        for t, step, vector in _script(seed, trials=15, steps=20):
            if t in stopped:
                continue
            trials[t].report(vector[0], step)
            pruned = trials[t].should_prune()  # Optuna's own call: pruner.prune(study, fresh)
            made.append((t, step, pruned))
            if pruned:
                stopped.add(t)
                study.tell(trials[t], state=TrialState.PRUNED)
        decisions.append(made)
    assert sum(pruned for _, _, pruned in decisions[0]) >= 3
    assert decisions[1] == decisions[0]
