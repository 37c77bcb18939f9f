"""Supernet training and the ranking check leave torch's global random state alone (issue 10,
rule 7), and the same seeds still give the same results."""

from __future__ import annotations

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
    Supernet,
    SupernetTrainConfig,
    ranking_check,
    train_supernet,
)

torch.set_num_threads(1)


def _supernet() -> Supernet:
    width = ElasticChoice([4, 8], name="w")
    net = nn.Sequential(
        ElasticLinear(16, width), nn.ReLU(), nn.Dropout(0.2), ElasticLinear(width, 3)
    )
    return Supernet(net, input_shape=(16,))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(60, 16, generator=g), torch.randint(0, 3, (60,), generator=g)


def _train(seed: int) -> tuple[list[float], torch.Tensor]:
    torch.manual_seed(123)  # the same initial weights
    supernet = _supernet()
    config = SupernetTrainConfig(epochs=2, batch_size=16, device="cpu", seed=seed)
    history = train_supernet(supernet, _data(), config)
    return history.mean_loss, torch.cat([p.detach().flatten() for p in supernet.parameters()])


def test_train_supernet_does_not_reseed_the_global_generator() -> None:
    torch.manual_seed(7)
    supernet = _supernet()
    state = torch.get_rng_state()
    config = SupernetTrainConfig(epochs=1, batch_size=16, device="cpu", seed=0)
    train_supernet(supernet, _data(), config)  # its dropout draws from a forked generator
    assert torch.equal(torch.get_rng_state(), state)  # the caller's stream is untouched


def test_the_same_seed_trains_the_same_supernet_and_another_seed_does_not() -> None:
    losses_a, weights_a = _train(seed=1)
    losses_b, weights_b = _train(seed=1)
    _, weights_c = _train(seed=2)
    assert losses_a == losses_b and torch.equal(weights_a, weights_b)
    assert not torch.equal(weights_a, weights_c)


def test_ranking_check_does_not_reseed_the_global_generator() -> None:
    torch.manual_seed(0)
    supernet = _supernet()
    x, y = _data()
    data = RankingData(ScoringData([x], [(x, y)]), (x, y), (x, y))
    config = RankingConfig(StandaloneConfig(epochs=1, batch_size=16, device="cpu", seeds=2))
    torch.manual_seed(5)
    state = torch.get_rng_state()
    first = ranking_check(supernet, [{"w": 4}, {"w": 8}], data, config)
    assert torch.equal(torch.get_rng_state(), state)
    again = ranking_check(supernet, [{"w": 4}, {"w": 8}], data, config)
    assert first.standalone_scores == again.standalone_scores  # seeded runs, reproducible


def test_ranking_check_takes_a_config_and_still_the_old_keywords() -> None:
    torch.manual_seed(0)
    supernet = _supernet()
    x, y = _data()
    standalone = StandaloneConfig(epochs=1, batch_size=16, device="cpu")
    new = ranking_check(
        supernet,
        [{"w": 4}, {"w": 8}],
        RankingData(ScoringData([x], [(x, y)]), (x, y), (x, y)),
        RankingConfig(standalone, metric="loss"),
    )
    with pytest.warns(DeprecationWarning, match="pass data=RankingData"):
        old = ranking_check(
            supernet,
            [{"w": 4}, {"w": 8}],
            scoring=ScoringData([x], [(x, y)]),
            train=(x, y),
            val=(x, y),
            config=standalone,
            metric="loss",
        )
    assert old == new and new.metric == "loss"
    with pytest.raises(ValueError, match="`metric` must be 'error' or 'loss', but got 'acc'"):
        RankingConfig(metric="acc")
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['epochs'\\]"):
        ranking_check(supernet, [{"w": 4}], epochs=3)
    with pytest.raises(TypeError, match="needs `data`"):
        ranking_check(supernet, [{"w": 4}])
