"""The objective's side, without Ray: the trial handle, devices, and judging returned values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pytest
import torch

from symtune.search import TrialHandle, device_for
from symtune.search._worker import check_values, exception_outcome

torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("gpu_ids", "visible", "expected"),
    [
        ([], None, torch.device("cpu")),
        ([], "0,1", torch.device("cpu")),
        (["0"], "0", torch.device("cuda", 0)),  # Ray's usual case: one GPU, made visible alone
        ([2], "2", torch.device("cuda", 0)),
        (["3"], "1,3", torch.device("cuda", 1)),  # a shared visibility list: its position
        (["1"], None, torch.device("cuda", 1)),  # Ray told not to set CUDA_VISIBLE_DEVICES
    ],
)
def test_device_for_maps_ray_gpu_ids_to_torch_devices(
    gpu_ids: list[str], visible: str | None, expected: torch.device
) -> None:
    assert device_for(gpu_ids, visible) == expected


def test_trial_device_uses_the_gpus_ray_assigned(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    handle = TrialHandle(3, 7, {"x": 1})
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: ["1"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert handle.device == torch.device("cuda", 0)
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    assert handle.device == torch.device("cpu")


def test_handle_keeps_number_params_and_user_attrs() -> None:
    handle = TrialHandle(3, 7, {"x": 1}, node="10.0.0.2", node_id="abc")
    handle.set_user_attr("epochs", 5)
    assert (handle.number, handle.params, handle.user_attrs) == (3, {"x": 1}, {"epochs": 5})
    assert (handle.node, handle.node_id) == ("10.0.0.2", "abc")
    with pytest.raises(TypeError, match="key must be a str"):
        handle.set_user_attr(1, 2)
    with pytest.raises(RuntimeError, match="cannot report"):
        handle.report(0.5, 1)


def test_user_attrs_of_numpy_and_torch_stay_numbers_and_the_rest_warns() -> None:
    handle = TrialHandle(0, 0, {})
    handle.set_user_attr("acc", np.float32(1.5))
    handle.set_user_attr("curve", torch.tensor([1.0, 2.0]))
    handle.set_user_attr("steps", np.arange(3))
    handle.set_user_attr("plain", {"a": [1, 2.5, None]})
    attrs = handle.user_attrs
    assert attrs["acc"] == 1.5 and isinstance(attrs["acc"], float)
    assert attrs["curve"] == [1.0, 2.0] and attrs["steps"] == [0, 1, 2]
    assert attrs["plain"] == {"a": [1, 2.5, None]}
    with pytest.warns(UserWarning, match="user attribute 'tags' is not JSON-serialisable"):
        handle.set_user_attr("tags", {1, 2})
    assert handle.user_attrs["tags"] == "{1, 2}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.5, 0.5),
        (1, 1.0),
        (np.float32(0.25), 0.25),
        (torch.tensor(0.5), 0.5),
        ([0.5], 0.5),
        (np.array([0.75]), 0.75),
    ],
)
def test_numbers_of_every_common_kind_are_accepted(raw: object, expected: float) -> None:
    outcome = check_values(raw, ["loss"], 0)
    assert outcome.state == "complete" and outcome.values == [expected]


def test_two_objectives_need_two_numbers() -> None:
    assert check_values((1, 2.5), ["a", "b"], 0).values == [1.0, 2.5]
    assert check_values(torch.tensor([1.0, 2.0]), ["a", "b"], 0).values == [1.0, 2.0]


@pytest.mark.parametrize("raw", [None, "0.5", [1.0, 2.0], True, {"loss": 1.0}])
def test_values_of_the_wrong_shape_are_fatal_and_named(raw: object) -> None:
    outcome = check_values(raw, ["loss"], 4)
    assert outcome.state == "fail" and outcome.fatal
    assert "one number" in str(outcome.fail_reason) and "trial 4" in str(outcome.fail_reason)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_fail_only_this_trial(bad: float) -> None:
    outcome = check_values([0.1, bad], ["err", "size"], 0)
    assert outcome.state == "fail" and not outcome.fatal
    assert outcome.fail_kind == "invalid value"
    assert f"size={bad}" in str(outcome.fail_reason)


def test_exceptions_keep_type_message_and_traceback() -> None:
    def inner() -> None:
        raise ValueError("width must be even")

    try:
        inner()
    except ValueError as exc:
        outcome = exception_outcome(exc)
    assert outcome.fail_reason == "ValueError: width must be even"
    assert outcome.exception is not None
    assert outcome.exception["type"] == "ValueError"
    assert outcome.exception["message"] == "width must be even"
    assert "in inner" in outcome.exception["traceback"]


# -- report and should_prune, through an Optuna trial as a worker's connection gives it ----------


def _connected(
    directions: list[str], pruner: optuna.pruners.BasePruner | None = None
) -> tuple[optuna.Study, TrialHandle]:
    """A study in memory, one asked trial, and a handle connected to it as a worker's is."""
    study = optuna.create_study(
        directions=directions,  # type: ignore[arg-type]
        pruner=pruner or optuna.pruners.MedianPruner(),
    )
    trial = study.ask()

    def connect(trial_id: int) -> optuna.Trial:
        return optuna.Trial(study, trial_id)

    return study, TrialHandle(trial.number, trial._trial_id, {}, connect=connect)


def test_report_in_a_multi_objective_study_stores_every_value() -> None:
    from symtune.search._trial import reported_values

    study, handle = _connected(["minimize", "minimize"])
    handle.report(0.5, 0)  # one float: the first objective's value
    handle.report([0.4, 1200.0], 1)  # a value per objective
    handle.report(np.float32(0.3), 2)
    frozen = study.trials[0]
    assert frozen.intermediate_values == {0: 0.5, 1: 0.4, 2: pytest.approx(0.3)}
    assert reported_values(frozen) == {
        0: [0.5, None],
        1: [0.4, 1200.0],
        2: [pytest.approx(0.3), None],
    }
    with pytest.warns(UserWarning, match="cannot judge several objectives"):
        assert handle.should_prune() is False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once per process
        assert handle.should_prune() is False


@pytest.mark.parametrize(
    ("value", "step", "fragment"),
    [([0.1], 0, "one value per objective"), (["a", 1.0], 0, "numbers"), (0.1, -1, "step")],
)
def test_multi_objective_report_rejects_bad_values(value: Any, step: int, fragment: str) -> None:
    _, handle = _connected(["minimize", "maximize"])
    with pytest.raises((TypeError, ValueError), match=fragment):
        handle.report(value, step)


def test_multi_objective_report_ignores_a_repeated_step() -> None:
    from symtune.search._trial import reported_values

    study, handle = _connected(["minimize", "maximize"])
    handle.report([0.5, 0.1], 3)
    with pytest.warns(UserWarning, match="already reported"):
        handle.report([0.2, 0.9], 3)
    assert reported_values(study.trials[0]) == {3: [0.5, 0.1]}


def test_single_objective_report_and_prune_are_optunas() -> None:
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    study, _ = _connected(["minimize"], pruner)
    first = study.trials[0]
    # a finished trial with low intermediate values, then a worse one that must be pruned
    optuna_trial = optuna.Trial(study, first._trial_id)
    optuna_trial.report(0.1, 0)
    study.tell(first.number, 0.1)
    trial = study.ask()
    handle = TrialHandle(
        trial.number, trial._trial_id, {}, connect=lambda tid: optuna.Trial(study, tid)
    )
    handle.report(0.9, 0)
    assert handle.should_prune() is True
    assert study.trials[1].intermediate_values == {0: 0.9}
    with pytest.raises(TypeError):  # Optuna's own check
        handle.report([0.1, 0.2], 1)
