"""Kendall's tau between supernet and stand-alone scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from symtune.hypernets.supernet._elastic import ElasticChoice, ElasticLinear
from symtune.hypernets.supernet._ranking import (
    RankingConfig,
    RankingData,
    RankingResult,
    StandaloneConfig,
    kendall_tau,
    ranking_check,
    train_standalone,
)
from symtune.hypernets.supernet._score import ScoringData, SubnetScore
from symtune.hypernets.supernet._supernet import Supernet
from symtune.studies.digits import build_digits_cnn, digits_cnn_space, load_digits_data

torch.set_num_threads(1)


def test_kendall_tau_on_synthetic_rankings() -> None:
    a = [0.1, 0.4, 0.2, 0.3, 0.5]
    assert kendall_tau(a, a)[0] == pytest.approx(1.0)
    assert kendall_tau(a, [-x for x in a])[0] == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = x + rng.normal(scale=0.5, size=40)
    tau, p = kendall_tau(x.tolist(), y.tolist())
    expected = kendalltau(x, y)
    assert tau == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert 0.4 < tau < 1.0 and p < 1e-3
    # One swapped pair among n items: tau = 1 - 4 / (n (n - 1)).
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])[0] == pytest.approx(1 - 4 / 12)


def test_kendall_tau_edge_cases() -> None:
    assert all(math.isnan(v) for v in kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        kendall_tau([1], [1])


def test_train_standalone_learns_digits() -> None:
    torch.manual_seed(0)
    data = load_digits_data()
    model = build_digits_cnn({"stages": [{"width": 8, "kernel": 3, "depth": 1}] * 2})
    config = StandaloneConfig(epochs=3, batch_size=64, lr=0.1, device="cpu")
    error, loss = train_standalone(
        model, (data.x_train, data.y_train), (data.x_val, data.y_val), config
    )
    assert error < 0.5 and loss < 2.0  # chance: 0.9 and 2.3


def test_ranking_check_pairs_supernet_and_standalone_scores() -> None:
    torch.manual_seed(0)
    space = digits_cnn_space(n_stages=1, widths=(2, 8), kernels=(3,), depths=(1, 1))
    supernet = Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))
    data = load_digits_data()
    scoring = ScoringData.from_tensors(data.x_train, data.x_val, data.y_val, calib_batch_size=64)
    seen: list[int] = []
    result = ranking_check(
        supernet,
        [{"stages[0].width": 2, "stages[0].kernel": 3, "stages[0].depth": 1},
         {"stages[0].width": 8, "stages[0].kernel": 3, "stages[0].depth": 1}],
        RankingData(scoring, (data.x_train[:256], data.y_train[:256]), (data.x_val, data.y_val)),
        RankingConfig(StandaloneConfig(epochs=1, device="cpu"), metric="loss"),
        on_subnet=lambda i, ours, theirs: seen.append(i),
    )  # fmt: skip
    assert isinstance(result, RankingResult) and seen == [0, 1]
    assert len(result.pairs) == 2 and result.metric == "loss"
    assert result.tau in (-1.0, 1.0)
    assert result.to_dict()["assignments"][1]["stages[0].width"] == 8


def test_ranking_check_without_a_space_reinitialises_exports() -> None:
    width = ElasticChoice([2, 4], name="w")
    torch.manual_seed(0)
    supernet = Supernet(torch.nn.Sequential(ElasticLinear(64, width), ElasticLinear(width, 10)),
                        input_shape=(64,))  # fmt: skip
    x, y = torch.rand(40, 64), torch.randint(0, 10, (40,))
    given = [SubnetScore({"w": 2}, 0.5, 1.0), SubnetScore({"w": 4}, 0.3, 0.8)]
    data = RankingData(ScoringData([x], [(x, y)]), (x, y), (x, y))
    result = ranking_check(
        supernet, [{"w": 2}, {"w": 4}], data,
        RankingConfig(StandaloneConfig(epochs=1, device="cpu")), supernet_scores=given,
    )  # fmt: skip
    assert result.supernet_scores == (0.5, 0.3) and result.metric == "error"
    with pytest.raises(ValueError, match="one score per assignment"):
        ranking_check(supernet, [{"w": 2}], data, supernet_scores=given)
