"""Stand-alone training: the reference that the ranking check compares a supernet against.

:func:`fit_standalone` trains one network from scratch on a pair of tensors, with SGD
(Nesterov momentum) or AdamW under a warm-up and cosine learning-rate schedule, and returns a
:class:`StandaloneRun`: its validation error and loss, the epochs it ran and whether it
converged. With ``StandaloneConfig(patience=p)`` it trains to convergence rather than for a
fixed budget: the validation loss is evaluated after every epoch, the weights of the epoch
with the lowest loss are kept, and training stops once ``p`` epochs in a row bring no
relative improvement of at least ``min_delta`` (the validation loss is flat); ``epochs`` is
then a cap. :func:`train_standalone` is the same training with the older ``(error, loss)``
return.

Sequence models train the same way as in ``train_supernet``: logits ``(batch, tokens,
classes)`` against targets ``(batch, tokens)`` (a byte-level language model) are flattened
over the tokens, so the loss, the validation loss and the error are means per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from symtune.hypernets._torch import (
    Precision,
    as_pair,
    autocast_context,
    check_pair,
    check_precision,
    epoch_batches,
    flat_logits,
    grad_scaler,
    n_batches,
    resolve_device,
    warmup_cosine,
)
from symtune.hypernets.supernet._score import _evaluate

__all__ = ["StandaloneConfig", "StandaloneRun", "fit_standalone", "train_standalone"]

_VAL_TARGETS_PER_BATCH = 65_536
"""Validation runs in batches of at most this many targets (examples, or tokens for sequence
models), so that evaluating after every epoch needs bounded memory; a validation set below it
(8x8 digits: 360 images) is one batch."""


@dataclass
class StandaloneConfig:
    """Options of stand-alone training (:func:`fit_standalone`, the ranking check's reference).

    The defaults are a short, fixed budget (10 epochs of SGD). For a reference trained to
    convergence, set ``patience``: ``StandaloneConfig(epochs=200, patience=10)`` trains until
    the validation loss has been flat for 10 epochs, or 200 epochs at most.

    Attributes:
        epochs: passes over the training data; with ``patience``, the most it may run (a cap).
            The learning-rate schedule (warm-up over half an epoch, then cosine decay to zero)
            spans ``epochs``, also when training stops earlier.
        batch_size: batch size.
        lr: peak learning rate.
        momentum: SGD momentum (Nesterov when positive); unused by AdamW.
        weight_decay: L2 weight decay for SGD, decoupled weight decay for AdamW.
        seeds: stand-alone runs per subnet in the ranking check (different seeds); their
            scores are averaged, which lowers the noise of the reference ranking.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        precision: ``"fp32"`` (default), ``"bf16"`` (bfloat16 ``torch.autocast`` forward
            passes, CPU and CUDA) or ``"fp16"`` (float16 autocast with a gradient scaler, CUDA
            only); losses and the returned scores are float32.
        optimizer: ``"sgd"`` (default; Nesterov momentum) or ``"adamw"`` (``torch.optim.AdamW``
            with its default betas).
        grad_clip: clip the gradient norm to this value (``None``: no clipping); with fp16 the
            gradients are unscaled first, so the true norm is clipped.
        patience: ``None`` (default): train exactly ``epochs`` epochs and evaluate once, at the
            end. An int ``p >= 1``: evaluate the validation loss after every epoch, keep the
            weights of the epoch with the lowest loss, and stop once ``p`` epochs in a row
            bring no relative improvement of at least ``min_delta`` over the lowest loss so far
            (an epoch improves when ``loss < best * (1 - min_delta)``). The model is left with
            the best epoch's weights, and the scores returned are that epoch's.
        min_delta: the relative improvement that counts, ``0 <= min_delta < 1`` (used with
            ``patience`` only; ``1e-3``: 0.1% of the loss).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seeds: int = 1
    device: str = "auto"
    precision: Precision = "fp32"
    optimizer: Literal["sgd", "adamw"] = "sgd"
    grad_clip: float | None = None
    patience: int | None = None
    min_delta: float = 1e-3

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.seeds < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError(
                "`epochs >= 1`, `seeds >= 1`, `batch_size >= 2` and `lr > 0` must hold, but got "
                f"epochs={self.epochs}, seeds={self.seeds}, batch_size={self.batch_size}, "
                f"lr={self.lr}"
            )
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(
                f"`optimizer` must be 'sgd' or 'adamw', but got {self.optimizer!r} "
                "(StandaloneConfig)"
            )
        if self.grad_clip is not None and not (_is_number(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(
                f"`grad_clip` must be None or a number > 0, but got {self.grad_clip!r} "
                "(StandaloneConfig)"
            )
        if self.patience is not None and not (
            isinstance(self.patience, (int, np.integer))
            and not isinstance(self.patience, bool)
            and self.patience >= 1
        ):
            raise ValueError(
                f"`patience` must be None or an int >= 1, but got {self.patience!r} "
                "(StandaloneConfig)"
            )
        if not (_is_number(self.min_delta) and 0 <= self.min_delta < 1):
            raise ValueError(
                f"`0 <= min_delta < 1` must hold, but got min_delta={self.min_delta!r} "
                "(StandaloneConfig)"
            )
        check_precision(self.precision, self.device, where="StandaloneConfig")


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


@dataclass(frozen=True)
class StandaloneRun:
    """The outcome of one :func:`fit_standalone` run.

    Attributes:
        error: the validation error rate of the returned weights (the best epoch's with
            ``patience``, else the last epoch's); per token for sequence models.
        loss: their mean validation cross-entropy in nats (per token for sequence models).
        epochs: the epochs trained (``config.epochs``, or fewer when stopped by patience).
        best_epoch: the epoch (1-based) whose weights the model holds and whose scores these
            are; ``epochs`` without patience.
        val_losses: the validation loss of every epoch evaluated, in order: one per epoch with
            ``patience``; without it only the last epoch is evaluated, so one value.
        converged: ``True`` when patience stopped training (the validation loss was flat),
            ``False`` when it ran to the ``epochs`` cap still improving, ``None`` without
            ``patience`` (not judged).
    """

    error: float
    loss: float
    epochs: int
    best_epoch: int
    val_losses: tuple[float, ...]
    converged: bool | None


def fit_standalone(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    config: StandaloneConfig | None = None,
    *,
    seed: int = 0,
) -> StandaloneRun:
    """Train ``model`` in place on ``train`` and score it on ``val`` (see
    :class:`StandaloneConfig` for the options, ``patience`` for training to convergence).

    Args:
        model: the network, trained in place and left in eval mode on ``config.device``.
        train: ``(x, y)`` training tensors, shuffled into batches each epoch (a last batch
            of one example is dropped, for batch norm).
        val: ``(x, y)`` validation tensors.
        config: the options (:class:`StandaloneConfig`).
        seed: seeds the batch order. Weight initialisation and any random operation of the
            forward pass draw from torch's global generator: seed that (the ranking check does).

    Targets are class indices: ``(batch,)`` for logits ``(batch, classes)``, or ``(batch,
    tokens)`` for sequence logits ``(batch, tokens, classes)`` (flattened over the tokens).

    Raises:
        TypeError: ``config`` not a :class:`StandaloneConfig`, or data not tensor pairs.
        ValueError: mismatched data, a device that is not available, fp16 off CUDA, or logits
            whose shape does not fit the targets.
    """
    config = _checked(config, train, val, "fit_standalone")
    device = resolve_device(config.device, where="fit_standalone")
    check_precision(config.precision, device, where="fit_standalone")
    model.to(device).train()
    fit = _Fit(model, train, config, device, seed)
    val_batches = _val_batches(val, device)
    best = _Best(config)
    for epoch in range(1, config.epochs + 1):
        fit.epoch()
        if config.patience is None and epoch < config.epochs:
            continue
        model.eval()
        error, loss = _evaluate(model, val_batches, config.precision)
        if best.update(epoch, error, loss, model):
            break
        model.train()
    model.eval()
    return best.finish(model)


def train_standalone(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    config: StandaloneConfig | None = None,
    *,
    seed: int = 0,
) -> tuple[float, float]:
    """Train ``model`` in place on ``train`` and return its validation ``(error, loss)``:
    :func:`fit_standalone`'s scores (the best epoch's with ``patience``)."""
    config = _checked(config, train, val, "train_standalone")  # errors name this function
    device = resolve_device(config.device, where="train_standalone")
    check_precision(config.precision, device, where="train_standalone")
    run = fit_standalone(model, train, val, config, seed=seed)
    return run.error, run.loss


def _checked(config: Any, train: Any, val: Any, where: str) -> StandaloneConfig:
    config = StandaloneConfig() if config is None else config
    if not isinstance(config, StandaloneConfig):
        raise TypeError(
            f"config must be a StandaloneConfig, but got {type(config).__name__} ({where})"
        )
    for name, what, data, least in (("train", "training", train, 2), ("val", "validation", val, 1)):
        if as_pair(data) is None:
            raise TypeError(
                f"{name} must be a pair of tensors (x, y), but got {type(data).__name__} ({where})"
            )
        check_pair(data, what, where, least=least)
    return config


def _val_batches(
    val: tuple[torch.Tensor, torch.Tensor], device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The validation set on ``device``, in batches of at most ``_VAL_TARGETS_PER_BATCH``
    targets (one batch for a small set)."""
    x, y = val[0].to(device), val[1].to(device)
    per_example = max(1, y[0].numel())
    step = max(1, _VAL_TARGETS_PER_BATCH // per_example)
    return [(x[i : i + step], y[i : i + step]) for i in range(0, len(x), step)]


class _Fit:
    """The state of one stand-alone training: optimiser, gradient scaler, schedule, batches."""

    def __init__(
        self,
        model: nn.Module,
        train: tuple[torch.Tensor, torch.Tensor],
        config: StandaloneConfig,
        device: torch.device,
        seed: int,
    ) -> None:
        self.model, self.train, self.config, self.device = model, train, config, device
        self.generator = torch.Generator().manual_seed(seed)  # batch order
        params = [p for p in model.parameters() if p.requires_grad]
        self.params = params
        self.optimizer: torch.optim.Optimizer
        if config.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(
                params, lr=config.lr, weight_decay=config.weight_decay
            )
        else:
            self.optimizer = torch.optim.SGD(
                params, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0,
                weight_decay=config.weight_decay,
            )  # fmt: skip
        self.scaler = grad_scaler(config.precision, device)
        self.per_epoch = n_batches(len(train[0]), config.batch_size, skip_single=True)
        self.total = self.per_epoch * config.epochs
        self.step = 0

    def epoch(self) -> None:
        """One pass over the training data."""
        config, optimizer, scaler = self.config, self.optimizer, self.scaler
        batches = epoch_batches(
            self.train, config.batch_size, self.generator, skip_single=True, device=self.device
        )
        for x, y in batches:
            for group in optimizer.param_groups:
                group["lr"] = config.lr * warmup_cosine(self.step, self.total, self.per_epoch // 2)
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(config.precision, self.device):
                logits = self.model(x).float()
            scaler.scale(F.cross_entropy(*flat_logits(logits, y, "fit_standalone"))).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)  # clip the true gradients, not float16-scaled ones
                torch.nn.utils.clip_grad_norm_(self.params, config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            self.step += 1


class _Best:
    """Early stopping on the validation loss: the best epoch so far, its weights, and how many
    epochs in a row have not improved on it by ``min_delta`` (relative)."""

    def __init__(self, config: StandaloneConfig) -> None:
        self.patience, self.min_delta = config.patience, config.min_delta
        self.losses: list[float] = []
        self.loss, self.error, self.epoch = math.inf, math.nan, 0
        self.state: dict[str, torch.Tensor] | None = None
        self.stale = 0
        self.stopped = False

    def update(self, epoch: int, error: float, loss: float, model: nn.Module) -> bool:
        """Record an epoch's validation scores; ``True`` when training should stop."""
        self.losses.append(loss)
        if self.patience is None:  # evaluated once, after the last epoch
            self.loss, self.error, self.epoch = loss, error, epoch
            return False
        first = self.epoch == 0 or (math.isnan(self.loss) and not math.isnan(loss))
        improved = first or loss < self.loss * (1.0 - self.min_delta)
        if first or loss < self.loss:  # the lowest loss so far: keep these weights
            self.loss, self.error, self.epoch = loss, error, epoch
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.stale = 0 if improved else self.stale + 1
        self.stopped = self.stale >= self.patience
        return self.stopped

    def finish(self, model: nn.Module) -> StandaloneRun:
        """Restore the best epoch's weights (with patience) and return the run."""
        if self.state is not None and self.epoch != len(self.losses):
            model.load_state_dict(self.state)
        return StandaloneRun(
            error=float(self.error),
            loss=float(self.loss),
            epochs=len(self.losses) if self.patience is not None else self.epoch,
            best_epoch=self.epoch,
            val_losses=tuple(float(v) for v in self.losses),
            converged=None if self.patience is None else self.stopped,
        )
