"""The objective's side, without Ray: the trial handle, devices, and judging returned values."""

from __future__ import annotations

import math

import numpy as np
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
