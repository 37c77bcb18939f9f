"""A symbolic call's arguments are checked against its target's signature when the ``Space`` is
built: a missing required argument or extra positional arguments are a SpaceError naming the
rule, the target and the path, not a TypeError later on a worker."""

from __future__ import annotations

import math

import pytest
import torch

from symtune.spaces import Space, SpaceError, floatv, intv, oneof, symbolic


@symbolic
class WineNet(torch.nn.Module):
    def __init__(self, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.hidden, self.dropout = hidden, dropout


@symbolic
def make(*args, **kwargs):
    return args, kwargs


@symbolic
class Anything:
    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


def test_a_missing_required_argument_names_it_the_target_and_the_path():
    with pytest.raises(SpaceError) as info:
        Space({"model": WineNet(dropout=floatv(0.0, 0.5))})  # type: ignore[call-arg]
    message = str(info.value)
    assert "missing required argument `hidden`" in message
    assert "WineNet" in message and message.endswith("(at model)")


def test_too_many_positional_arguments_say_how_many_it_takes_and_got():
    with pytest.raises(SpaceError) as info:
        Space({"nets": [WineNet(64, 0.1, intv(1, 3))]})  # type: ignore[call-arg]
    message = str(info.value)
    assert "too many positional arguments: `WineNet` takes 2, got 3" in message
    assert message.endswith("(at nets[0])")


def test_a_nested_call_in_a_candidate_is_checked_with_its_path():
    with pytest.raises(SpaceError, match=r"missing required argument `out_features`.*Linear"):
        Space({"layer": oneof([symbolic(torch.nn.Linear)(4, 2), symbolic(torch.nn.Linear)(4)])})


def test_good_calls_variadic_targets_and_builtins_still_build():
    assert Space(WineNet(oneof([8, 16]))).cardinality == 2
    assert Space(WineNet(hidden=8, dropout=floatv(0.0, 0.5))).parameters
    assert Space(make(1, 2, 3, x=oneof([1, 2]))).cardinality == 2
    assert Space(Anything(1, 2, k=oneof([1, 2]))).cardinality == 2
    assert Space(symbolic(torch.nn.Sequential)(symbolic(torch.nn.ReLU)())).cardinality == 1
    assert Space(symbolic(max)(1, oneof([2, 3]))).cardinality == 2  # no signature: skipped
    assert Space(symbolic(math.hypot)(3, oneof([4, 5]))).cardinality == 2
    built = Space(WineNet(oneof([8, 16]))).materialize({"hidden": 16})
    assert built.hidden == 16 and built.dropout == 0.1
