"""Resuming a study with a changed space that Optuna's storages would refuse (issue 9)."""

from __future__ import annotations

import sys
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from ray import cloudpickle

from symtune.search import Study, StudyError, create_study, is_finished
from symtune.search._study_space import distributions
from symtune.spaces import Space, floatv, intv, manyof, oneof

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
optuna.logging.set_verbosity(optuna.logging.WARNING)

FIRST = {"x": floatv(0.0, 1.0), "n": intv(1, 5), "kind": oneof(["a", "b"])}


def objective(config: dict[str, Any], trial: Any) -> float:
    return float(config["x"])


def ask_tell(study: Study, n: int) -> None:
    """``n`` trials stored as the driver stores them: asked, suggested by the space, told."""
    for _ in range(n):
        trial = study.optuna_study.ask()
        params = study.space.suggest_params(trial)
        study.optuna_study.tell(trial, float(params["x"]))


def test_distributions_are_what_suggest_stores() -> None:
    space = Space(
        {
            "x": floatv(1e-3, 1.0, log=True),
            "y": floatv(0.0, 1.0, step=0.25),
            "n": intv(1, 9, step=2),
            "kind": oneof(["a", "b"]),
            "pair": manyof(2, ["a", "b", "c"]),
            "set": manyof(2, ["a", "b", "c"], sorted=True),
        }
    )
    study = optuna.create_study()
    trial = study.ask()
    space.suggest_params(trial)
    assert distributions(space) == trial.distributions


@pytest.mark.parametrize("allow", [True, False])
def test_a_choice_that_gains_a_candidate_is_refused_even_when_changes_are_allowed(
    storage_url: str, allow: bool
) -> None:
    study = create_study(FIRST, objective, name="s", storage=storage_url)
    ask_tell(study, 3)
    changed = {**FIRST, "kind": oneof(["a", "b", "c"])}
    with pytest.raises(StudyError) as caught:
        create_study(changed, objective, name="s", storage=storage_url, allow_space_change=allow)
    message = str(caught.value)
    assert "Optuna cannot change the candidates of a choice" in message
    assert (
        "parameter 'kind' has candidates ['a', 'b'] in the stored trials but ['a', 'b', 'c'] now"
        in message
    )
    assert "new study name" in message and "new parameter name" in message
    with pytest.raises(StudyError, match=r"'kind' has candidates \['a', 'b'\] .* \['a'\] now"):
        create_study({**FIRST, "kind": oneof(["a"])}, objective, name="s", storage=storage_url)
    assert len(study.trials) == 3  # nothing failed, nothing stored
    # Changes Optuna accepts are still allowed: a new range, a new parameter.
    fine = {**FIRST, "x": floatv(0.0, 2.0), "depth": intv(1, 3)}
    again = create_study(fine, objective, name="s", storage=storage_url, allow_space_change=True)
    ask_tell(again, 2)
    assert again.counts()["complete"] == 5


def test_a_manyof_slot_and_a_changed_kind_are_refused(tmp_path: Any) -> None:
    journal = str(tmp_path / "s.journal")
    space = {"x": floatv(0.0, 1.0), "ops": manyof(2, ["a", "b", "c"])}
    ask_tell(create_study(space, objective, name="m", storage=journal), 2)
    more = {"x": floatv(0.0, 1.0), "ops": manyof(2, ["a", "b", "c", "d"])}
    with pytest.raises(StudyError, match=r"parameter 'ops\[0\]' has candidates"):
        create_study(more, objective, name="m", storage=journal, allow_space_change=True)
    as_int = {"x": intv(0, 1), "ops": manyof(2, ["a", "b", "c"])}
    with pytest.raises(StudyError, match=r"kind or log scale.*parameter 'x' is FloatDistribution"):
        create_study(as_int, objective, name="m", storage=journal, allow_space_change=True)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_local")
def test_a_trial_the_space_cannot_suggest_fails_without_counting_as_finished(
    tmp_path: Any,
) -> None:
    journal = str(tmp_path / "s.journal")
    study = create_study(
        {"x": floatv(0.0, 1.0), "kind": oneof(["a", "b", "c"])}, objective, storage=journal
    )
    study.optuna_study.add_trial(  # a trial stored with other choices: Optuna refuses 'kind'
        create_trial(
            value=0.5,
            params={"x": 0.5, "kind": "a"},
            distributions={
                "x": FloatDistribution(0.0, 1.0),
                "kind": CategoricalDistribution(["a", "b"]),
            },
        )
    )
    for _ in range(2):
        with pytest.raises(StudyError, match="could not suggest parameters"):
            study.optimize(3, workers=1, show_progress=False)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert [t.user_attrs["fail_kind"] for t in failed] == ["suggest failed"] * 2
    assert not any(map(is_finished, failed))
    counts = study.counts()
    assert counts["finished"] == 1 and counts["suggest_failed"] == 2
    assert len(study.trials) == 3  # not retried
