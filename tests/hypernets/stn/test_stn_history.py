"""The STN's schedule belongs to its training result, and a seeded run leaves torch's global
random state alone (issue 10, rule 7)."""

from __future__ import annotations

import pytest
import torch

from symtune.hypernets import HyperParameters, StnMLP, StnOptions, train_stn
from symtune.spaces import floatv, selftuned

torch.set_num_threads(1)


def _setup() -> tuple[StnMLP, HyperParameters, tuple, tuple]:
    from symtune.spaces import Space

    config = Space({"drop": selftuned(floatv(0.0, 0.7), init=0.1)}).materialize({})
    hparams = HyperParameters.from_config(config)
    model = StnMLP(8, [16], 3, hparams, hidden_dropout=config["drop"])
    g = torch.Generator().manual_seed(0)
    train = (torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g))
    val = (torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g))
    return model, hparams, train, val


def test_two_trainings_on_one_container_keep_their_own_schedules() -> None:
    torch.manual_seed(0)
    model, hparams, train, val = _setup()
    first = train_stn(model, train, val, hparams, StnOptions(steps=20, train_steps=5, seed=0))
    second = train_stn(model, train, val, hparams, StnOptions(steps=10, train_steps=5, seed=1))
    assert [s for s, _ in first.schedule["drop"]] == [0, 5, 10, 15, 20]
    assert [s for s, _ in second.schedule["drop"]] == [0, 5, 10]  # its own steps only
    assert second.schedule["drop"][0][1] == pytest.approx(first.final["drop"])
    with pytest.warns(DeprecationWarning, match="belongs to the training result"):
        legacy = hparams.schedule  # the deprecated read path: the latest run's, unmixed
    assert legacy == second.schedule


def test_a_seeded_training_does_not_reseed_the_global_generator() -> None:
    torch.manual_seed(3)
    model, hparams, train, val = _setup()
    state = torch.get_rng_state()
    options = StnOptions(steps=10, train_steps=5, seed=4)
    result = train_stn(model, train, val, hparams, options)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(3)
    model, hparams, train, val = _setup()
    again = train_stn(model, train, val, hparams, options)
    assert again.schedule == result.schedule and again.final_val_loss == result.final_val_loss
