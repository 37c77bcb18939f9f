"""The torch helpers both hypernetwork families share (``symtune.hypernets._torch``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symtune.hypernets._torch import (
    epoch_batches,
    kept_modes,
    module_device,
    n_batches,
    resolve_device,
    seeded,
    warmup_cosine,
)


def test_kept_modes_puts_every_flag_back_even_on_error() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.BatchNorm1d(2))
    net.train()
    net[2].eval()
    with pytest.raises(RuntimeError), kept_modes(net, train=False):
        assert not any(m.training for m in net.modules())
        raise RuntimeError
    assert [m.training for m in net.modules()] == [True, True, True, False]
    with kept_modes(net):
        net.eval()
    assert net.training and not net[2].training


def test_minibatches_shuffle_by_the_generator_and_may_skip_a_last_single() -> None:
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    batches = list(epoch_batches((x, y), 3, torch.Generator().manual_seed(0)))
    assert [len(b[1]) for b in batches] == [3, 3, 3, 1] == [3] * 3 + [1]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    again = list(epoch_batches((x, y), 3, torch.Generator().manual_seed(0), skip_single=True))
    assert [len(b[1]) for b in again] == [3, 3, 3]
    assert all(torch.equal(a[1], b[1]) for a, b in zip(again, batches, strict=False))
    assert (n_batches(10, 3), n_batches(10, 3, skip_single=True), n_batches(1, 3)) == (4, 3, 1)
    loader = [(x[:4], y[:4]), (x[4:], y[4:])]
    assert [len(b[1]) for b in epoch_batches(loader, 3, torch.Generator())] == [4, 6]


def test_devices_and_the_schedule() -> None:
    assert module_device(nn.ReLU()) == torch.device("cpu")
    assert resolve_device(None, fallback=nn.Linear(1, 1)) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
    assert [warmup_cosine(s, 10, 2) for s in (0, 1, 2)] == [0.5, 1.0, 1.0]
    assert warmup_cosine(10, 10, 2) == pytest.approx(0.0)


def test_seeded_draws_reproducibly_and_leaves_the_callers_stream() -> None:
    torch.manual_seed(1)
    state = torch.get_rng_state()
    with seeded(5):
        a = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), state)
    with seeded(5):
        b = torch.rand(3)
    assert torch.equal(a, b)
    with seeded(None):
        torch.rand(1)
    assert not torch.equal(torch.get_rng_state(), state)  # None: the caller's own stream
