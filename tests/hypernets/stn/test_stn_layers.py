"""STN layers against their torch counterparts (oracles) and the MIP property."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symtune.hypernets.stn._errors import HyperparameterError
from symtune.hypernets.stn._hyperparams import HyperParameters
from symtune.hypernets.stn._layers import StnConv2d, StnLinear
from symtune.spaces._selftuned_value import SelfTunedValue

torch.set_num_threads(1)


def _values() -> list[SelfTunedValue]:
    return [
        SelfTunedValue("drop", "float", 0.2, low=0.0, high=0.8),
        SelfTunedValue("wd", "float", 1e-4, low=1e-6, high=1e-2, log=True),
        SelfTunedValue("aug", "categorical", "shift", choices=("none", "shift", "cutout")),
    ]


def _hp(**kwargs: object) -> HyperParameters:
    torch.manual_seed(0)
    return HyperParameters(_values(), **kwargs)


def _randomize(layer: nn.Module) -> None:
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()


def _linear_copy(layer: StnLinear) -> nn.Linear:
    ref = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    ref.load_state_dict({k: v for k, v in layer.state_dict().items() if k in ("weight", "bias")})
    return ref


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_zero_hypernet_equals_nn_linear(bias: bool, centered: bool) -> None:
    hp = _hp(centered=centered)
    layer = StnLinear(7, 5, hp, bias=bias)
    _randomize(layer)
    with torch.no_grad():
        layer.hyper_scale.zero_()
    ref = _linear_copy(layer)
    x = torch.randn(6, 7)
    with hp.using(hp.sample(6, mode="hyper")):
        torch.testing.assert_close(layer(x), ref(x))
    torch.testing.assert_close(layer(x), ref(x))


@pytest.mark.parametrize("residual", [True, False])
def test_linear_with_hypernet_off_equals_nn_linear(residual: bool) -> None:
    hp = _hp(mip=residual)
    layer = StnLinear(7, 5, hp, residual=residual)
    _randomize(layer)  # a non-zero hypernetwork map
    layer.use_hypernet = False
    ref = _linear_copy(layer)
    x = torch.randn(3, 4, 7)  # extra leading axes work like nn.Linear
    with hp.using(hp.sample(3, mode="train")):
        torch.testing.assert_close(layer(x), ref(x))


@pytest.mark.parametrize("mip", [True, False])
def test_new_residual_layers_start_as_their_plain_counterpart(mip: bool) -> None:
    hp = _hp(mip=mip, centered=False)
    layer = StnLinear(7, 5, hp, residual=True)  # A starts at zero
    x = torch.randn(2, 7)
    with hp.using(hp.sample(2, mode="train")):
        torch.testing.assert_close(layer(x), _linear_copy(layer)(x))


def test_linear_matches_the_formula_per_example() -> None:
    hp = _hp(centered=False)
    layer = StnLinear(4, 3, hp)
    _randomize(layer)
    x = torch.randn(5, 4)
    batch = hp.sample(5, mode="train")
    s = batch.encoding @ layer.hyper_scale
    assert (
        layer.hyper_weight is not None and layer.hyper_bias is not None and layer.bias is not None
    )
    expected = (
        x @ layer.weight.T
        + layer.bias
        + s[:, :3] * (x @ layer.hyper_weight.T)
        + s[:, 3:] * layer.hyper_bias
    )
    with hp.using(batch):
        out = layer(x)
        torch.testing.assert_close(out, expected)
        # each example's output depends on its own hyperparameters only
        single = hp.sample(1, mode="mean")
        single.encoding = batch.encoding[2:3]
    with hp.using(single):
        torch.testing.assert_close(layer(x[2:3]), out[2:3])


def test_plain_form_matches_the_formula() -> None:
    hp = _hp(mip=False)
    layer = StnLinear(4, 3, hp)
    assert not layer.residual and layer.hyper_weight is None
    _randomize(layer)
    x = torch.randn(5, 4)
    batch = hp.sample(5, mode="train")
    s = batch.encoding @ layer.hyper_scale
    assert layer.bias is not None
    with hp.using(batch):
        torch.testing.assert_close(
            layer(x), s[:, :3] * (x @ layer.weight.T) + s[:, 3:] * layer.bias
        )


def test_centred_layer_is_plain_at_the_current_values_and_moves_around_them() -> None:
    hp = _hp(centered=True)
    layer = StnLinear(4, 3, hp)
    _randomize(layer)
    x = torch.randn(5, 4)
    ref = _linear_copy(layer)
    torch.testing.assert_close(layer(x), ref(x))  # no batch: the current values
    with hp.using(hp.sample(5, mode="train")):
        assert not torch.allclose(layer(x), ref(x))


@pytest.mark.parametrize("centered", [False, True])
def test_conv_with_zero_hypernet_equals_nn_conv2d(centered: bool) -> None:
    hp = _hp(centered=centered)
    layer = StnConv2d(4, 6, 3, hp, stride=2, padding=1, groups=2)
    _randomize(layer)
    with torch.no_grad():
        layer.hyper_scale.zero_()
    ref = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    ref.load_state_dict({k: v for k, v in layer.state_dict().items() if k in ("weight", "bias")})
    x = torch.randn(3, 4, 9, 9)
    with hp.using(hp.sample(3, mode="hyper")):
        torch.testing.assert_close(layer(x), ref(x))
    layer.use_hypernet = False
    _randomize(layer)
    ref.load_state_dict({k: v for k, v in layer.state_dict().items() if k in ("weight", "bias")})
    torch.testing.assert_close(layer(x), ref(x))


def test_conv_scales_channel_by_channel() -> None:
    hp = _hp(centered=False)
    layer = StnConv2d(2, 3, 3, hp, padding=1)
    _randomize(layer)
    x = torch.randn(4, 2, 5, 5)
    batch = hp.sample(4, mode="train")
    s = batch.encoding @ layer.hyper_scale
    assert layer.hyper_weight is not None and layer.hyper_bias is not None
    expected = (
        F.conv2d(x, layer.weight, layer.bias, padding=1)
        + s[:, :3, None, None] * F.conv2d(x, layer.hyper_weight, padding=1)
        + s[:, 3:, None, None] * layer.hyper_bias[None, :, None, None]
    )
    with hp.using(batch):
        torch.testing.assert_close(layer(x), expected)


def test_layer_does_not_own_the_hyperparameters() -> None:
    hp = _hp()
    layer = StnLinear(3, 2, hp)
    held = {id(p) for p in hp.parameters()}
    assert held and not held & {id(p) for p in layer.parameters()}
    assert layer.hparams is hp


def test_layer_reading_a_subset_and_an_unknown_name() -> None:
    hp = _hp(centered=False)
    layer = StnLinear(3, 2, hp, names=["drop"])
    assert layer.hyper_scale.shape == (2, 4)  # cos/sin of one float, two scales per unit
    with hp.using(hp.sample(4, mode="train")):
        assert layer(torch.randn(4, 3)).shape == (4, 2)
    with pytest.raises(HyperparameterError, match=r"'lr'.*holds only: 'drop', 'wd', 'aug'"):
        StnLinear(3, 2, hp, names=["lr"])


def test_mismatched_batch_sizes_are_reported() -> None:
    hp = _hp()
    layer = StnLinear(3, 2, hp)
    with hp.using(hp.sample(4, mode="train")), pytest.raises(ValueError, match="4 hyperparameter"):
        layer(torch.randn(5, 3))


def test_centred_plain_form_is_rejected() -> None:
    with pytest.raises(HyperparameterError, match="residual"):
        StnLinear(3, 2, _hp(centered=True), residual=False)


def test_gradient_reaches_the_hyperparameters_through_the_layer() -> None:
    hp = _hp(centered=False)
    layer = StnLinear(3, 2, hp)
    _randomize(layer)
    with hp.using(hp.sample(8, mode="hyper")):
        layer(torch.randn(8, 3)).pow(2).sum().backward()
    assert hp.loc.grad is not None and hp.loc.grad.abs().sum() > 0
    assert hp.scale_raw.grad is not None and hp.scale_raw.grad.abs().sum() > 0
    assert hp.logits[0].grad is not None and hp.logits[0].grad.abs().sum() > 0


# -- MIP: the hypernetwork's output magnitude does not follow the hyperparameter's -----------


def _scale_norm(mip: bool, value: float) -> float:
    spec = SelfTunedValue("p", "float", 0.5, low=0.0, high=1.0)
    hp = HyperParameters([spec], mip=mip, centered=False)
    torch.manual_seed(1)
    layer = StnLinear(16, 256, hp, residual=True)
    with torch.no_grad():
        layer.hyper_scale.normal_()  # the same random map for both values
    hp.set_value("p", value)
    return float(layer.effective_scales().detach().norm())


def test_mip_output_magnitude_is_invariant_to_the_hyperparameter_magnitude() -> None:
    mip_ratio = _scale_norm(True, 0.02) / _scale_norm(True, 0.98)
    raw_ratio = _scale_norm(False, 0.02) / _scale_norm(False, 0.98)
    assert 0.8 < mip_ratio < 1.25  # constant-norm input: same magnitude near 0 and near 1
    assert raw_ratio < 0.05  # raw input: the output shrinks with the hyperparameter
    for value in (0.0, 0.3, 0.7, 1.0):  # and the MIP input itself has constant norm
        hp = HyperParameters([SelfTunedValue("p", "float", value, low=0.0, high=1.0)])
        assert float(hp.encoding().detach().norm()) == pytest.approx(1.0)


def test_plain_form_weights_shrink_with_the_hyperparameter_without_mip() -> None:
    """The proportionality problem MIP fixes, on the effective weights of a plain layer."""

    def weight_norm(mip: bool, value: float) -> float:
        spec = SelfTunedValue("p", "float", 0.5, low=0.0, high=1.0)
        hp = HyperParameters([spec], mip=mip, centered=False)
        torch.manual_seed(2)
        layer = StnLinear(8, 8, hp, residual=False)
        hp.set_value("p", value)
        s_w = layer.effective_scales()[0, :8]
        return float((s_w[:, None] * layer.weight).detach().norm())

    assert weight_norm(False, 0.01) / weight_norm(False, 0.5) < 0.05
    assert 0.5 < weight_norm(True, 0.01) / weight_norm(True, 0.5) < 1.5


def test_layers_and_regularisers_hold_the_container_by_reference_the_same_way() -> None:
    from symtune.hypernets.stn._hyperparams import HyperParameterReader
    from symtune.hypernets.stn._regularizers import StnDropout

    hp = HyperParameters([SelfTunedValue("p", "float", 0.1, low=0.0, high=0.5)])
    layer, dropout = StnLinear(3, 2, hp), StnDropout(hp, "p")
    for module in (layer, dropout):
        assert isinstance(module, HyperParameterReader) and module.hparams is hp
        assert not any(p is hp.loc for p in module.parameters())  # not the module's own
        assert "hparams" not in dict(module.named_modules())
    not_a_container: Any = "hp"
    for build in (
        lambda: StnLinear(3, 2, not_a_container),
        lambda: StnDropout(not_a_container, 0.1),
    ):
        with pytest.raises(HyperparameterError, match="needs a HyperParameters container"):
            build()
