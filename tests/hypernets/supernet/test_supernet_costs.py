"""Cost measures: parameters, FLOPs and latency of subnets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symtune.hypernets.supernet._costs import (
    count_flops,
    count_params,
    latency_samples,
    measure_latency,
)
from symtune.hypernets.supernet._supernet import Supernet
from symtune.studies.digits import build_digits_cnn, digits_cnn_space

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def supernet() -> Supernet:
    space = digits_cnn_space(n_stages=2, widths=(4, 8), depths=(1, 2))
    return Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))


def test_linear_flops_are_two_multiply_adds_per_weight_and_sample() -> None:
    assert count_flops(nn.Linear(7, 5), (3, 7)) == 2 * 3 * 7 * 5
    assert count_flops(nn.Linear(7, 5), torch.zeros(4, 7)) == 2 * 4 * 7 * 5


def test_conv_flops_match_the_formula() -> None:
    conv = nn.Conv2d(3, 4, 3, padding=1)
    assert count_flops(conv, (2, 3, 6, 6)) == 2 * 2 * 4 * 6 * 6 * 3 * 3 * 3


def test_subnet_flops_match_the_export_and_are_counted_once(
    supernet: Supernet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import symtune.hypernets.supernet._costs as costs

    samples = [supernet.sample_assignment(seed) for seed in range(4)]
    expected = [count_flops(supernet.export(a), (1, 1, 8, 8)) for a in samples]
    assert [supernet.subnet_flops(a) for a in samples] == expected
    counted: list[object] = []

    def counting(*args: object) -> int:
        counted.append(args)
        return 0

    monkeypatch.setattr(costs, "count_flops", counting)
    assert [supernet.subnet_flops(a) for a in samples] == expected and not counted
    supernet.activate(samples[1])
    assert supernet.subnet_flops() == expected[1]  # the active subnet, left active
    assert supernet.active_assignment() == samples[1]


def test_params_and_flops_of_a_subnet(supernet: Supernet) -> None:
    for assignment in (supernet.smallest_assignment(), supernet.largest_assignment()):
        exported = supernet.export(assignment)
        standalone = supernet.build_standalone(assignment)
        assert count_params(exported) == sum(p.numel() for p in exported.parameters())
        assert count_params(exported) == count_params(standalone)
        supernet.activate(assignment)
        shape = (1, 1, 8, 8)
        assert count_flops(supernet, shape) == count_flops(exported, shape)
        assert count_flops(supernet, shape) == count_flops(standalone, shape)
    small, large = (
        count_flops(supernet.export(a), (1, 1, 8, 8))
        for a in (supernet.smallest_assignment(), supernet.largest_assignment())
    )
    assert 0 < small < large


def test_shared_parameters_count_once() -> None:
    layer = nn.Linear(3, 3)
    assert count_params(nn.Sequential(layer, layer)) == 12
    frozen = nn.Linear(2, 2)
    frozen.bias.requires_grad_(False)
    assert count_params(frozen, trainable_only=True) == 4


def test_latency_excludes_warmup_and_restores_mode() -> None:
    calls = []
    net = nn.Linear(4, 4).train()
    net.register_forward_hook(lambda *args: calls.append(1))
    samples = latency_samples(net, (2, 4), repeats=7, warmup=3)
    assert len(samples) == 7 and len(calls) == 10
    assert all(t > 0 for t in samples) and net.training
    assert measure_latency(net, (2, 4), repeats=3, warmup=0) > 0
    with pytest.raises(ValueError, match="`repeats >= 1`"):
        measure_latency(net, (2, 4), repeats=0)


def test_subnet_flops_key_reads_values_as_the_space_does(
    supernet: Supernet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An int value that came back from storage as a float names the same subnet."""
    import symtune.hypernets.supernet._costs as costs

    assignment = supernet.sample_assignment(0)
    expected = supernet.subnet_flops(assignment)
    as_floats = {
        name: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for name, v in assignment.items()
    }
    assert any(isinstance(v, float) for v in as_floats.values())
    monkeypatch.setattr(costs, "count_flops", lambda *args: pytest.fail("counted twice"))
    assert supernet.subnet_flops(as_floats) == expected
