"""Elastic layers against their torch.nn oracles: a subnet slice is a small plain layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symtune.hypernets.supernet._elastic import (
    Elastic,
    ElasticBatchNorm1d,
    ElasticBatchNorm2d,
    ElasticChoice,
    ElasticConv2d,
    ElasticLinear,
    ElasticSequential,
    MixedOp,
    export_module,
    op_key,
)

torch.set_num_threads(1)


def test_choice_defaults_to_largest_and_validates_active_values() -> None:
    width = ElasticChoice([16, 4, 8], name="w")
    assert (width.largest, width.smallest, width.active) == (16, 4, 16)
    width.active = 8
    assert width.active == 8
    with pytest.raises(ValueError, match=r"one of the options \[16, 4, 8\], but got 5 \(at w\)"):
        width.active = 5
    ops = ElasticChoice(["relu", "tanh"])
    assert not ops.numeric and ops.largest == ops.smallest == "relu"


@pytest.mark.parametrize("options", [[], [3, 3]])
def test_choice_rejects_empty_or_repeated_options(options: list[int]) -> None:
    with pytest.raises(ValueError, match="Choice"):
        ElasticChoice(options)


def test_elastic_linear_slice_equals_small_linear() -> None:
    torch.manual_seed(0)
    out = ElasticChoice([4, 8])
    layer = ElasticLinear(16, out)
    out.active = 4
    x = torch.randn(3, 12)  # the previous layer produced 12 of 16 features
    oracle = nn.Linear(12, 4)
    with torch.no_grad():
        oracle.weight.copy_(layer.weight[:4, :12])
        oracle.bias.copy_(layer.bias[:4])
    torch.testing.assert_close(layer(x), oracle(x))
    static = layer.to_static()
    assert type(static) is nn.Linear and static.weight.shape == (4, 12)
    torch.testing.assert_close(static(x), oracle(x))


def test_concrete_sizes_make_a_plain_layer() -> None:
    torch.manual_seed(0)
    layer = ElasticLinear(5, 3)
    plain = nn.Linear(5, 3)
    assert layer.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5)
    torch.testing.assert_close(layer(x), plain(x))


@pytest.mark.parametrize(("kernel", "stride"), [(3, 1), (5, 1), (1, 2), (3, 2)])
def test_elastic_conv_centre_crop_equals_small_conv(kernel: int, stride: int) -> None:
    torch.manual_seed(0)
    width, ks = ElasticChoice([6, 12]), ElasticChoice([1, 3, 5])
    conv = ElasticConv2d(8, width, ks, stride=stride)
    width.active, ks.active = 6, kernel
    x = torch.randn(2, 5, 7, 7)  # 5 of the 8 input channels are active
    c = (5 - kernel) // 2
    oracle = nn.Conv2d(5, 6, kernel, stride=stride, padding=kernel // 2)
    with torch.no_grad():
        oracle.weight.copy_(conv.weight[:6, :5, c : c + kernel, c : c + kernel])
        assert oracle.bias is not None and conv.bias is not None
        oracle.bias.copy_(conv.bias[:6])
    torch.testing.assert_close(conv(x), oracle(x))
    torch.testing.assert_close(conv.to_static()(x), oracle(x))


def test_elastic_conv_with_fixed_padding_keeps_it_for_every_kernel() -> None:
    ks = ElasticChoice([3, 5])
    conv = ElasticConv2d(2, 4, ks, padding=0, bias=False)
    ks.active = 3
    assert conv(torch.randn(1, 2, 6, 6)).shape == (1, 4, 4, 4)
    static = conv.to_static()
    assert isinstance(static, nn.Conv2d) and static.padding == (0, 0) and static.bias is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel_size": ElasticChoice([2, 4])}, "odd kernel sizes"),
        ({"kernel_size": ElasticChoice([3, 4]), "padding": 0}, "parity"),
        ({"kernel_size": 3, "padding": -1}, "`padding` must be"),
        ({"kernel_size": ElasticChoice([0, 3])}, "`kernel_size` must be an int >= 1"),
    ],
)
def test_elastic_conv_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ElasticConv2d(3, 4, **kwargs)


@pytest.mark.parametrize("training", [True, False])
def test_elastic_batchnorm_uses_first_channels(training: bool) -> None:
    torch.manual_seed(0)
    bn = ElasticBatchNorm2d(ElasticChoice([3, 6]))
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    oracle = nn.BatchNorm2d(3)
    oracle.load_state_dict({k: v[:3] if v.dim() else v for k, v in before.items()})
    bn.train(training)
    oracle.train(training)
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(bn(x), oracle(x))
    # Running statistics: the first 3 channels move like the oracle's, the rest stay put.
    torch.testing.assert_close(bn.running_mean[:3], oracle.running_mean)
    torch.testing.assert_close(bn.running_var[:3], oracle.running_var)
    torch.testing.assert_close(bn.running_mean[3:], before["running_mean"][3:])
    static = bn.to_static()
    assert type(static) is nn.BatchNorm2d and static.num_features == 3
    static.eval()
    oracle.eval()
    torch.testing.assert_close(static(x), oracle(x))


def test_elastic_batchnorm_cumulative_average_with_momentum_none() -> None:
    bn = ElasticBatchNorm1d(ElasticChoice([2, 4]), momentum=None)
    a, b = torch.randn(8, 2), torch.randn(8, 2) + 3
    bn(a)
    bn(b)
    torch.testing.assert_close(bn.running_mean[:2], (a.mean(0) + b.mean(0)) / 2)
    torch.testing.assert_close(bn.running_var[:2], (a.var(0) + b.var(0)) / 2)
    assert int(bn.num_batches_tracked) == 2


def test_elastic_sequential_runs_first_blocks() -> None:
    depth = ElasticChoice([1, 2, 3])
    calls: list[int] = []

    class Tag(nn.Module):
        def __init__(self, i: int) -> None:
            super().__init__()
            self.i = i

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(self.i)
            return x + 1

    stage = ElasticSequential.repeat(Tag, depth)
    assert len(stage) == 3
    depth.active = 2
    assert torch.equal(stage(torch.zeros(1)), torch.full((1,), 2.0))
    assert calls == [0, 1]
    static = stage.to_static()
    assert type(static) is nn.Sequential and len(static) == 2


def test_elastic_sequential_rejects_depth_beyond_blocks() -> None:
    with pytest.raises(ValueError, match=r"`largest\(depth\) <= number of blocks`"):
        ElasticSequential(nn.Identity(), depth=ElasticChoice([1, 2]))


def test_mixed_op_runs_the_active_candidate_and_builds_only_one_when_concrete() -> None:
    op = ElasticChoice(["relu", "tanh"])
    mixed = MixedOp(op, {"relu": nn.ReLU, "tanh": nn.Tanh()})
    x = torch.linspace(-2, 2, 5)
    assert torch.equal(mixed(x), torch.relu(x))
    op.active = "tanh"
    assert torch.equal(mixed(x), torch.tanh(x))
    assert isinstance(mixed.to_static(), nn.Tanh)
    built: list[str] = []

    def relu() -> nn.Module:
        built.append("relu")
        return nn.ReLU()

    concrete = MixedOp("tanh", {"relu": relu, "tanh": nn.Tanh})
    assert built == [] and list(concrete.ops) == ["tanh"]


def test_mixed_op_of_classes_keys_by_name() -> None:
    mixed = MixedOp(ElasticChoice([nn.ReLU, nn.GELU]))
    assert list(mixed.ops) == ["ReLU", "GELU"] and op_key(nn.GELU) == "GELU"
    assert list(MixedOp(nn.GELU).state_dict()) == []
    with pytest.raises(ValueError, match="missing from candidates"):
        MixedOp(ElasticChoice(["a", "b"]), {"a": nn.ReLU})


class _Net(nn.Module):
    """A user module with its own parameter and forward code around elastic layers."""

    def __init__(self, width: int | ElasticChoice, depth: int | ElasticChoice) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.inp = ElasticLinear(3, width)
        self.body = ElasticSequential.repeat(
            lambda i: nn.Sequential(ElasticLinear(width, width), ElasticBatchNorm1d(width)), depth
        )
        self.out = ElasticLinear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.body(self.inp(x * self.scale))))


def test_export_module_gives_plain_copies_with_equal_outputs() -> None:
    torch.manual_seed(0)
    width, depth = ElasticChoice([4, 8]), ElasticChoice([1, 2])
    net = _Net(width, depth).eval()
    width.active, depth.active = 4, 1
    x = torch.randn(5, 3)
    expected = net(x)  # the forward pass also records input widths
    static = export_module(net)
    assert not any(isinstance(m, Elastic) for m in static.modules())
    torch.testing.assert_close(static(x), expected)
    with torch.no_grad():
        static.scale.add_(1.0)
        static.inp.weight.zero_()
    assert float(net.scale.detach()) == 2.0 and net.inp.weight.abs().sum() > 0
    # The export has exactly the stand-alone network's structure.
    standalone = _Net(4, 1)
    assert {k: v.shape for k, v in static.state_dict().items()} == {
        k: v.shape for k, v in standalone.state_dict().items()
    }


def test_export_needs_a_forward_pass_first() -> None:
    with pytest.raises(RuntimeError, match="has not seen an input yet"):
        ElasticLinear(3, ElasticChoice([2, 4])).to_static()


@pytest.mark.parametrize(
    ("layer", "x"),
    [
        (ElasticLinear(4, ElasticChoice([2, 3])), torch.zeros(1, 5)),
        (ElasticConv2d(2, 3, 3), torch.zeros(1, 3, 4, 4)),
        (ElasticBatchNorm2d(ElasticChoice([2, 3])), torch.zeros(2, 4, 2, 2)),
    ],
)
def test_inputs_wider_than_the_allocation_are_rejected(layer: nn.Module, x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"`input width <= largest\(in\)` must hold"):
        layer(x)
