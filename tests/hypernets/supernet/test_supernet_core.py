"""Supernet construction from a space, subnet activation and export."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symtune.hypernets.supernet._elastic import (
    ElasticChoice,
    ElasticLinear,
    ElasticSequential,
    MixedOp,
)
from symtune.hypernets.supernet._score import recalibrate_bn
from symtune.hypernets.supernet._supernet import Supernet
from symtune.spaces import Space, SpaceError, floatv, intv, oneof, symbolic
from symtune.studies.digits import build_digits_cnn, digits_cnn_space

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits_supernet() -> Supernet:
    torch.manual_seed(0)
    space = digits_cnn_space(n_stages=2, widths=(4, 8), depths=(1, 2))
    return Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))


def test_choices_are_the_space_parameters(digits_supernet: Supernet) -> None:
    space = digits_supernet.space
    assert space is not None
    assert list(digits_supernet.choices) == list(space.parameters)
    assert digits_supernet.choices["stages[0].width"].options == (4, 8)
    assert digits_supernet.choices["stages[1].depth"].options == (1, 2)
    assert digits_supernet.largest_assignment()["stages[0].kernel"] == 5
    assert digits_supernet.smallest_assignment()["stages[1].width"] == 4


def test_activate_round_trips_and_rejects_bad_assignments(digits_supernet: Supernet) -> None:
    assignment = digits_supernet.sample_assignment(3)
    digits_supernet.activate(assignment)
    assert digits_supernet.active_assignment() == assignment
    with pytest.raises(ValueError, match=r"missing=\['stages\[1\].depth'\], unknown=\['lr'\]"):
        bad = {k: v for k, v in assignment.items() if k != "stages[1].depth"}
        digits_supernet.activate({**bad, "lr": 0.1})
    with pytest.raises(ValueError, match=r"one of \[4, 8\], but got 6 \(at stages\[0\].width\)"):
        digits_supernet.activate({**assignment, "stages[0].width": 6})
    digits_supernet.activate(digits_supernet.largest_assignment())


def test_export_equals_supernet_and_the_builders_network(digits_supernet: Supernet) -> None:
    """The oracle of weight sharing: an exported subnet computes what the supernet does, and it
    is exactly the network the same builder makes from the concrete config."""
    space = digits_supernet.space
    assert space is not None
    x = torch.rand(16, 1, 8, 8)
    for seed in range(4):
        assignment = space.sample(seed)
        digits_supernet.activate(assignment)
        recalibrate_bn(digits_supernet.net, [torch.rand(32, 1, 8, 8)])
        with torch.no_grad():
            expected = digits_supernet(x)
        exported = digits_supernet.export(assignment).eval()
        standalone = digits_supernet.build_standalone(assignment).eval()
        standalone.load_state_dict(exported.state_dict())  # same keys and shapes
        with torch.no_grad():
            torch.testing.assert_close(exported(x), expected, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(standalone(x), expected, rtol=1e-5, atol=1e-6)
    digits_supernet.activate(digits_supernet.largest_assignment())


def test_export_leaves_the_active_subnet_and_mode_alone(digits_supernet: Supernet) -> None:
    digits_supernet.train()
    active = digits_supernet.active_assignment()
    digits_supernet.export(digits_supernet.smallest_assignment())
    assert digits_supernet.active_assignment() == active
    assert all(m.training for m in digits_supernet.modules())


def _mlp(cfg: dict) -> nn.Module:
    width = cfg["width"]
    return nn.Sequential(
        ElasticLinear(4, width),
        MixedOp(cfg["act"]),
        ElasticSequential.repeat(lambda i: ElasticLinear(width, width), cfg["depth"]),
        ElasticLinear(width, 3),
    )


def test_op_choices_use_the_spaces_stored_labels() -> None:
    space = Space({"width": oneof([8, 16]), "act": oneof([nn.ReLU, nn.Tanh]), "depth": intv(1, 3)})
    supernet = Supernet.from_space(space, _mlp, input_shape=(4,))
    assignment = {"width": 8, "act": "torch.nn.modules.activation.Tanh", "depth": 2}
    exported = supernet.export(assignment)
    assert isinstance(exported[1], nn.Tanh) and len(exported[2]) == 2
    supernet.activate(assignment)
    x = torch.randn(3, 4)
    torch.testing.assert_close(exported(x), supernet(x))
    assert supernet.active_assignment() == assignment


class SymbolicNet(nn.Module):
    def __init__(self, width: int | ElasticChoice) -> None:
        super().__init__()
        self.body = nn.Sequential(ElasticLinear(2, width), nn.ReLU(), ElasticLinear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_a_space_of_symbolic_calls_needs_no_builder() -> None:
    space = Space(symbolic(SymbolicNet)(width=oneof([2, 4])))
    supernet = Supernet.from_space(space, input_shape=(2,))
    assert list(supernet.choices) == ["width"]
    assert isinstance(supernet.build_standalone({"width": 2}), SymbolicNet)
    assert supernet.export({"width": 2}).body[0].weight.shape == (2, 2)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (Space({"width": floatv(1.0, 2.0)}), "only hold `oneof` and `intv`"),
        (Space({"width": oneof([intv(1, 2), 3])}), "cannot be conditional"),
    ],
)
def test_spaces_a_supernet_cannot_share_weights_over(space: Space, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        Supernet.from_space(space, lambda cfg: nn.Identity(), input_shape=(1,))


def test_every_space_parameter_must_reach_an_elastic_layer() -> None:
    space = Space({"width": oneof([2, 4]), "unused": oneof([1, 2])})
    with pytest.raises(ValueError, match=r"\['unused'\] did not"):
        Supernet.from_space(space, lambda cfg: ElasticLinear(3, cfg["width"]), input_shape=(3,))


def test_a_module_with_named_choices_is_a_supernet_without_a_space() -> None:
    width = ElasticChoice([2, 4], name="w")
    supernet = Supernet(
        nn.Sequential(ElasticLinear(3, width), ElasticLinear(width, 1)), input_shape=(3,)
    )
    assert list(supernet.choices) == ["w"]
    assert supernet.sample_assignment(0)["w"] in (2, 4)
    assert supernet.export({"w": 2})[0].out_features == 2
    with pytest.raises(ValueError, match=r"needs a supernet made by `Supernet\.from_space`"):
        supernet.build_standalone({"w": 2})
    unnamed = Supernet(nn.Sequential(ElasticLinear(3, ElasticChoice([2, 4]))), input_shape=(3,))
    assert list(unnamed.choices) == ["0.out_features"]
    with pytest.raises(ValueError, match="at least one elastic layer with a Choice"):
        Supernet(nn.Linear(2, 2), input_shape=(2,))


def test_a_supernet_pickles_for_ray_with_its_choices_still_shared(
    digits_supernet: Supernet,
) -> None:
    import pickle

    clone = pickle.loads(pickle.dumps(digits_supernet))
    assert clone.space == digits_supernet.space
    assignment = digits_supernet.sample_assignment(5)
    clone.activate(assignment)
    digits_supernet.activate(assignment)
    clone.eval()
    digits_supernet.eval()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), digits_supernet(x))
    # Activating the clone drives every one of its layers, and not the original's.
    clone.activate(clone.smallest_assignment())
    assert clone.export().stages[0][0][0].out_channels == 4  # stage 0, block 0, conv
    assert digits_supernet.active_assignment() == assignment
    digits_supernet.activate(digits_supernet.largest_assignment())


def test_subnet_costs(digits_supernet: Supernet) -> None:
    active = digits_supernet.active_assignment()
    small, large = digits_supernet.smallest_assignment(), digits_supernet.largest_assignment()
    assert 0 < digits_supernet.subnet_flops(small) < digits_supernet.subnet_flops(large)
    assert digits_supernet.subnet_flops(small, batch_size=3) == 3 * digits_supernet.subnet_flops(
        small
    )
    exported = digits_supernet.export(small)
    assert digits_supernet.subnet_params(small) == sum(p.numel() for p in exported.parameters())
    assert digits_supernet.active_assignment() == active
