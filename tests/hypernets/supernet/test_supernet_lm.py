"""Language-model supernets (issue 11, item 3 support): sandwich training with in-place
distillation on sequence logits ``(B, T, V)`` against targets ``(B, T)``, data as random
windows, and scoring per token without batch-norm recalibration."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from symtune.hypernets import (
    ScoringData,
    Supernet,
    SupernetTrainConfig,
    build_gpt,
    gpt_space,
    train_supernet,
)
from symtune.hypernets.supernet._train import _step_losses

torch.set_num_threads(1)

T = 16
VOCAB = 128
TEXT = torch.tensor(list(b"the quick brown fox jumps over the lazy dog. " * 40))


class Windows:
    """Random windows of a 1-D token tensor: ``steps`` batches per pass, new ones each pass."""

    def __init__(self, tokens: torch.Tensor, batch_size: int, steps: int, seed: int = 0) -> None:
        self.tokens, self.batch_size, self.steps = tokens, batch_size, steps
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.steps):
            n = len(self.tokens) - T
            starts = torch.randint(0, n, (self.batch_size, 1), generator=self.generator)
            window = self.tokens[starts + torch.arange(T + 1)]
            yield window[:, :-1], window[:, 1:]


def _supernet(seed: int = 0) -> Supernet:
    torch.manual_seed(seed)
    space = gpt_space(
        vocab_size=VOCAB, context=T, widths=(16, 32), heads=(1, 2), mlp_ratios=(1, 2),
        depths=(1, 2), head_dim=8,
    )  # fmt: skip
    return Supernet.from_space(space, build_gpt, input_shape=(T,), input_dtype=torch.long)


def _val() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed validation windows: the same ones for every subnet and every call."""
    batches = iter(Windows(TEXT, batch_size=8, steps=2, seed=123))
    return [next(batches), next(batches)]


def _config(**kw: object) -> SupernetTrainConfig:
    base: dict[str, object] = {
        "epochs": 3, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.0,
        "warmup_epochs": 0.0, "n_random": 1, "device": "cpu",
    }  # fmt: skip
    return SupernetTrainConfig(**{**base, **kw})


def test_sandwich_training_with_distillation_lowers_the_loss_of_largest_and_smallest() -> None:
    supernet = _supernet()
    scoring = ScoringData(calib=None, val=_val())
    ends = [supernet.largest_assignment(), supernet.smallest_assignment()]
    before = [s.loss for s in supernet.score_many(ends, scoring)]
    history = train_supernet(supernet, Windows(TEXT, 16, steps=25), _config(lr=1e-2))
    after = [s.loss for s in supernet.score_many(ends, scoring)]
    assert history.steps == 75 and len(history.largest_loss) == 3
    assert before[0] > 0.8 * math.log(VOCAB) and before[1] > 0.8 * math.log(VOCAB)
    assert after[0] < 0.4 * before[0], (before, after)
    assert after[1] < 0.4 * before[1], (before, after)  # below the unigram entropy
    assert history.largest_loss[-1] < history.largest_loss[0]


def test_label_and_distillation_losses_are_means_per_token() -> None:
    supernet = _supernet(1)
    x, y = next(iter(Windows(TEXT, batch_size=4, steps=1)))
    subnets = [supernet.largest_assignment(), supernet.smallest_assignment()]
    config = _config(distill=True, distill_weight=1.0, temperature=2.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    losses = _step_losses(supernet, x, y, subnets, config, scaler)
    with torch.no_grad():
        teacher = supernet.activate(subnets[0])(x)
        student = supernet.activate(subnets[1])(x)
    # hand-computed: cross-entropy and KL(teacher || student) at temperature 2, per token
    log_q = torch.log_softmax(teacher, dim=-1)
    label = -log_q.gather(-1, y[..., None]).mean()
    log_pt, log_ps = torch.log_softmax(teacher / 2, dim=-1), torch.log_softmax(student / 2, -1)
    kd = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean() * 4
    assert_close(torch.tensor(losses), torch.stack([label, kd]), rtol=1e-4, atol=1e-5)


def test_training_takes_a_function_returning_each_epochs_batches() -> None:
    supernet = _supernet(2)
    windows = Windows(TEXT, batch_size=8, steps=5)
    calls: list[int] = []

    def epoch() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        calls.append(1)
        yield from windows

    lrs: list[float] = []
    config = _config(epochs=2, steps_per_epoch=5, n_random=0)
    history = train_supernet(supernet, epoch, config, callback=lambda _, m: lrs.append(m["lr"]))
    assert len(calls) == 2 and history.steps == 10
    assert lrs[-1] < 0.05 * config.lr  # the schedule counted 10 steps and decayed over them


def test_logits_that_do_not_fit_the_targets_are_a_clear_error() -> None:
    supernet = _supernet(3)
    x, y = next(iter(Windows(TEXT, batch_size=4, steps=1)))
    with pytest.raises(ValueError, match=r"logits of shape \(4, 16, 128\) for targets"):
        train_supernet(supernet, [(x, y[:, 0])], _config(epochs=1))
    with pytest.raises(ValueError, match=r"logits of shape \(4, 16, 128\) for targets"):
        supernet.score_many([supernet.largest_assignment()], ScoringData(None, [(x, y[:, :3])]))


def test_scoring_without_recalibration_is_the_exported_subnets_cross_entropy_per_token() -> None:
    supernet = _supernet(4)
    train_supernet(supernet, Windows(TEXT, batch_size=8, steps=4), _config(epochs=1))
    scoring = ScoringData.from_tensors(None, *map(torch.cat, zip(*_val(), strict=True)),
                                       val_batch_size=5)  # fmt: skip
    assert scoring.calib is None and scoring.to("cpu").calib is None
    supernet.train()
    supernet.activate(supernet.smallest_assignment())
    state = {k: v.clone() for k, v in supernet.state_dict().items()}
    space = supernet.space
    assert space is not None
    assignments = [space.sample(i) for i in range(3)]
    scores = supernet.score_many(assignments, scoring)
    for assignment, score in zip(assignments, scores, strict=True):
        exported = supernet.export(assignment).eval()
        with torch.no_grad():
            logits = torch.cat([exported(x) for x, _ in scoring.val]).reshape(-1, VOCAB)
        targets = torch.cat([y for _, y in scoring.val]).reshape(-1)
        loss = float(F.cross_entropy(logits, targets))
        error = float((logits.argmax(-1) != targets).float().mean())
        assert score.loss == pytest.approx(loss, rel=1e-5)
        assert score.error == pytest.approx(error, abs=1e-9)
        assert score.bits == pytest.approx(loss / math.log(2), rel=1e-5)  # bits per byte
    assert supernet.score_many(assignments, scoring) == scores  # the same windows every time
    after = supernet.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in state.items())
    assert supernet.active_assignment() == supernet.smallest_assignment()
    assert all(m.training for m in supernet.modules())


def test_steps_per_epoch_below_one_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"steps_per_epoch is None or >= 1.*steps_per_epoch=0"):
        SupernetTrainConfig(steps_per_epoch=0)


def test_data_without_a_length_needs_steps_per_epoch() -> None:
    """Else the schedule would count one step per epoch and the learning rate fall to zero
    after `epochs` steps, silently."""
    from symtune.hypernets import Supernet, SupernetTrainConfig, train_supernet
    from symtune.hypernets.supernet import ElasticChoice, ElasticLinear

    net = torch.nn.Sequential(ElasticLinear(4, ElasticChoice([2, 3])), torch.nn.ReLU(),
                              ElasticLinear(3, 2))  # fmt: skip
    supernet = Supernet(net, input_shape=(4,))
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))

    def epoch() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield x, y

    with pytest.raises(ValueError, match="steps_per_epoch"):
        train_supernet(supernet, epoch, SupernetTrainConfig(epochs=1))
    train_supernet(supernet, epoch, SupernetTrainConfig(epochs=1, steps_per_epoch=1))
