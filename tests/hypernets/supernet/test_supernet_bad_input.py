"""Bad input to supernet training and the ranking check: clear errors, up front."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
import torch
from torch import nn

from symtune.hypernets import (
    ElasticChoice,
    ElasticLinear,
    RankingConfig,
    RankingData,
    ScoringData,
    StandaloneConfig,
    StnOptions,
    SubnetScore,
    Supernet,
    SupernetTrainConfig,
    ranking_check,
    train_supernet,
)
from symtune.hypernets._torch import resolve_device

torch.set_num_threads(1)


def _supernet() -> Supernet:
    width = ElasticChoice([4, 8], name="w")
    net = nn.Sequential(ElasticLinear(16, width), nn.ReLU(), ElasticLinear(width, 3))
    return Supernet(net, input_shape=(16,))


def _data(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 16, generator=g), torch.randint(0, 3, (n,), generator=g)


class _Counting(Supernet):
    """A supernet that counts how often it scores (nothing may be scored before an error)."""

    scored = 0

    def score_many(self, *args: Any, **kwargs: Any) -> Any:
        type(self).scored += 1
        return super().score_many(*args, **kwargs)


def _ranking_data() -> RankingData:
    x, y = _data()
    return RankingData(ScoringData([x], [(x, y)]), (x, y), (x, y))


CONFIG = RankingConfig(StandaloneConfig(epochs=1, batch_size=16, device="cpu"))
SUBNETS = [{"w": 4}, {"w": 8}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, {"epochs": 1}), "config must be a RankingConfig, but got dict \\(ranking_check\\)"),
        (("swap",), "data must be a RankingData, but got RankingConfig \\(data and config"),
        (((1, 2), None), "data must be a RankingData, but got tuple \\(ranking_check\\)"),
    ],
)
def test_ranking_check_refuses_wrong_types_before_scoring(args: tuple, message: str) -> None:
    width = ElasticChoice([4, 8], name="w")
    supernet = _Counting(
        nn.Sequential(ElasticLinear(16, width), nn.ReLU(), ElasticLinear(width, 3)),
        input_shape=(16,),
    )
    data = _ranking_data()
    if args == ("swap",):
        call_args: tuple = (CONFIG, data)
    else:
        call_args = (data if args[0] is None else args[0], args[1])
    _Counting.scored = 0
    with pytest.raises(TypeError, match=message):
        ranking_check(supernet, SUBNETS, *call_args)
    assert _Counting.scored == 0


def test_ranking_dataclasses_check_their_fields() -> None:
    x, y = _data()
    with pytest.raises(TypeError, match="standalone must be a StandaloneConfig, but got dict"):
        RankingConfig({"epochs": 1})
    with pytest.raises(TypeError, match="scoring must be a ScoringData, but got NoneType"):
        RankingData(None, (x, y), (x, y))
    with pytest.raises(TypeError, match="train must be a pair of tensors"):
        RankingData(ScoringData([x], [(x, y)]), [x, y], (x, y))
    with pytest.raises(ValueError, match=r"val data need as many targets as inputs.*RankingData"):
        RankingData(ScoringData([x], [(x, y)]), (x, y), (x, y[:5]))


def test_ranking_check_refuses_the_new_form_mixed_with_old_keywords() -> None:
    supernet = _supernet()
    x, y = _data()
    scoring = ScoringData([x], [(x, y)])
    with pytest.raises(TypeError, match="the forms conflict"):
        ranking_check(supernet, SUBNETS, _ranking_data(), CONFIG, scoring=scoring)
    with pytest.raises(TypeError, match="the forms conflict"):
        ranking_check(supernet, SUBNETS, config=CONFIG, scoring=scoring, train=(x, y), val=(x, y))


def test_ranking_check_checks_the_device_and_the_count_before_any_work() -> None:
    supernet = _supernet()
    given = [SubnetScore({"w": 4}, 0.5, 1.0)]
    with pytest.raises(ValueError, match="at least 2 assignments, but got 1"):
        ranking_check(supernet, [{"w": 4}], _ranking_data(), CONFIG, supernet_scores=given)
    bad = RankingConfig(StandaloneConfig(epochs=1, device="gpu"))
    with pytest.raises(ValueError, match=r"`device` must be 'auto'.*'gpu' \(ranking_check\)"):
        ranking_check(supernet, SUBNETS, _ranking_data(), bad)


@pytest.mark.parametrize("config", [{"epochs": 1}, StnOptions()])
def test_train_supernet_refuses_a_config_of_another_type(config: Any) -> None:
    with pytest.raises(TypeError, match="config must be a SupernetTrainConfig, but got"):
        train_supernet(_supernet(), _data(), config)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((torch.zeros(0, 16), torch.zeros(0, dtype=torch.int64)), "0 inputs and 0 targets"),
        ((torch.zeros(1, 16), torch.zeros(1, dtype=torch.int64)), "at least 2"),
        ((torch.zeros(10, 16), torch.zeros(7, dtype=torch.int64)), "10 inputs and 7 targets"),
    ],
)
def test_train_supernet_checks_the_tensors_up_front(data: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=f"training data need.*{message}.*train_supernet"):
        train_supernet(_supernet(), data, SupernetTrainConfig(epochs=1, device="cpu"))


def test_train_supernet_refuses_a_loader_that_yields_nothing() -> None:
    x, y = _data()
    config = SupernetTrainConfig(epochs=2, batch_size=16, device="cpu")
    with pytest.raises(ValueError, match="yielded no batch in epoch 1"):
        train_supernet(_supernet(), [], config)
    once = iter([(x, y)])  # no length: the schedule needs steps_per_epoch
    with pytest.raises(ValueError, match="yielded no batch in epoch 2"):
        train_supernet(_supernet(), once, dataclasses.replace(config, steps_per_epoch=1))


def test_train_supernet_names_a_bad_device_string() -> None:
    config = SupernetTrainConfig(epochs=1, device="gpu")
    with pytest.raises(ValueError, match=r"`device` must be .*but got 'gpu' \(train_supernet\)"):
        train_supernet(_supernet(), _data(), config)
    with pytest.raises(ValueError, match=r"but got 'tpu:x' \(somewhere\)"):
        resolve_device("tpu:x", where="somewhere")


def test_seed_none_trains_without_reseeding_and_other_seeds_are_refused() -> None:
    config = SupernetTrainConfig(epochs=1, batch_size=16, device="cpu", seed=None)
    history = train_supernet(_supernet(), _data(), config)
    assert len(history.largest_loss) == 1 and math.isfinite(history.largest_loss[0])
    with pytest.raises(TypeError, match=r"`seed` must be an int or None, but got float 1\.5"):
        SupernetTrainConfig(seed=1.5)
