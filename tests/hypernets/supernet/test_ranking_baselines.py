"""The honest baselines of the ranking check: the Kendall tau of ranking subnets by parameter
count and by FLOPs, beside the supernet's, all three higher = better."""

from __future__ import annotations

import math

import pytest
import torch

from symtune.hypernets.supernet._elastic import ElasticChoice, ElasticLinear
from symtune.hypernets.supernet._ranking import (
    RankingConfig,
    RankingData,
    RankingResult,
    StandaloneConfig,
    kendall_tau,
    ranking_check,
)
from symtune.hypernets.supernet._score import ScoringData, SubnetScore
from symtune.hypernets.supernet._supernet import Supernet

torch.set_num_threads(1)


def test_an_error_exactly_monotone_in_size_gives_the_size_baselines_tau_one() -> None:
    params = [100, 400, 200, 800, 1600]
    flops = [10, 80, 20, 40, 160]  # another order: FLOPs rank these subnets differently
    standalone = [0.5 / p for p in params]  # more parameters, strictly lower error
    supernet = [0.1, 0.2, 0.3, 0.4, 0.5]
    result = RankingResult.from_scores(supernet, standalone, params=params, flops=flops)
    assert result.tau_params == pytest.approx(1.0)
    assert result.tau_flops == pytest.approx(kendall_tau([-f for f in flops], standalone)[0])
    assert result.tau_flops < 1.0
    assert result.tau == pytest.approx(kendall_tau(supernet, standalone)[0])
    assert result.best_baseline_tau == pytest.approx(1.0)
    # The reverse (bigger subnets worse) is the baseline's worst ranking, -1.
    worse = RankingResult.from_scores(supernet, [float(p) for p in params], params=params)
    assert worse.tau_params == pytest.approx(-1.0) and math.isnan(worse.tau_flops)


def test_the_three_taus_read_the_same_way() -> None:
    # A supernet whose scores are the stand-alone errors ranks perfectly, tau 1, as does a
    # parameter count that orders the subnets as those errors do: higher = better for both.
    standalone = [0.30, 0.20, 0.10]
    result = RankingResult.from_scores(
        standalone, standalone, params=[1, 2, 3], flops=[3, 2, 1], metric="loss"
    )
    assert (result.tau, result.tau_params, result.tau_flops) == pytest.approx((1.0, 1.0, -1.0))
    line = str(result)
    assert line == result.summary()
    for part in ("loss", "3 subnets", "higher = better", "supernet 1.00", "parameters 1.00",
                 "FLOPs -1.00"):  # fmt: skip
        assert part in line
    as_dict = result.to_dict()
    assert as_dict["tau_params"] == pytest.approx(1.0) and as_dict["flops"] == [3, 2, 1]


def test_constant_sizes_and_mismatched_lengths() -> None:
    result = RankingResult.from_scores([0.1, 0.2], [0.3, 0.4], params=[5, 5])
    assert math.isnan(result.tau_params) and math.isnan(result.best_baseline_tau)
    assert "parameters nan" in result.summary()
    with pytest.raises(ValueError, match=r"`flops` must hold one value per subnet.*3 values"):
        RankingResult.from_scores([0.1, 0.2], [0.3, 0.4], flops=[1, 2, 3])


def test_ranking_check_reports_the_baselines_of_its_subnets() -> None:
    width = ElasticChoice([2, 4, 8], name="w")
    torch.manual_seed(0)
    supernet = Supernet(
        torch.nn.Sequential(ElasticLinear(16, width), torch.nn.ReLU(), ElasticLinear(width, 3)),
        input_shape=(16,),
    )
    x, y = torch.rand(40, 16), torch.randint(0, 3, (40,))
    subnets = [{"w": 8}, {"w": 2}, {"w": 4}]
    given = [SubnetScore(a, 0.1 * i, 1.0) for i, a in enumerate(subnets)]
    state = torch.get_rng_state()
    result = ranking_check(
        supernet, subnets, RankingData(ScoringData([x], [(x, y)]), (x, y), (x, y)),
        RankingConfig(StandaloneConfig(epochs=1, device="cpu")), supernet_scores=given,
    )  # fmt: skip
    assert torch.equal(torch.get_rng_state(), state)  # counting sizes drew nothing of ours
    assert result.params == tuple(supernet.subnet_params(a) for a in subnets)
    assert result.flops == tuple(supernet.subnet_flops(a) for a in subnets)
    assert result.params[0] > result.params[2] > result.params[1]
    assert result.tau_params == pytest.approx(
        kendall_tau([-p for p in result.params], result.standalone_scores)[0], nan_ok=True
    )
    assert result.tau_flops == pytest.approx(
        kendall_tau([-f for f in result.flops], result.standalone_scores)[0], nan_ok=True
    )
