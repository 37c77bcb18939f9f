"""Training a supernet with the sandwich rule and optional in-place distillation.

Each step runs several subnets on the same batch and sums their gradients before one optimiser
step (BigNAS / Once-for-All): the largest subnet (trained on the labels), the smallest, and
``n_random`` random ones. With ``distill=True`` every subnet but the largest learns from the
largest one's soft outputs of that very step (in-place distillation), which keeps the small
subnets consistent with the big ones and improves how well supernet scores rank subnets.
``precision="bf16"`` (or ``"fp16"`` on CUDA) runs the forward passes under ``torch.autocast``.

Sequence models train the same way: logits of shape ``(batch, tokens, classes)`` against
targets ``(batch, tokens)`` (a language model: token ids in, next-token logits out) are
flattened over the tokens, so the label loss and the distillation loss are means per token.
Such data is usually a sampler of random windows rather than a fixed tensor pair; pass a
re-iterable object that yields ``steps_per_epoch`` random ``(x, y)`` batches per pass and
has a ``__len__`` (so the learning-rate schedule knows the steps), or a function that returns
one epoch's batches with ``SupernetTrainConfig(steps_per_epoch=...)``::

    class Windows:  # random windows of a 1-D tensor of token ids, new ones every pass
        def __init__(self, tokens, context, batch_size, steps, seed=0):
            self.tokens, self.t, self.b, self.steps = tokens, context, batch_size, steps
            self.gen = torch.Generator().manual_seed(seed)

        def __len__(self):
            return self.steps

        def __iter__(self):
            for _ in range(self.steps):
                n = len(self.tokens) - self.t
                starts = torch.randint(0, n, (self.b, 1), generator=self.gen)
                window = self.tokens[starts + torch.arange(self.t + 1)]
                yield window[:, :-1], window[:, 1:]  # inputs and next tokens, (B, T) each

    train_supernet(supernet, Windows(train_tokens, 64, 32, steps=200), config)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import torch
import torch.nn.functional as F

from symtune.hypernets._progress import TaskBar
from symtune.hypernets._torch import (
    Batches,
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
    seeded,
    warmup_cosine,
)

if TYPE_CHECKING:
    from symtune.hypernets.supernet._supernet import Supernet

__all__ = ["SupernetHistory", "SupernetTrainConfig", "TrainData", "train_supernet"]

TrainData: TypeAlias = Batches | Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""Training data: ``(x, y)`` tensors, a re-iterable of ``(x, y)`` batches (a loader), or a
function of no arguments that returns the batches of one epoch (called once per epoch)."""


@dataclass
class SupernetTrainConfig:
    """Options of :func:`train_supernet`.

    Attributes:
        epochs: passes over the training data.
        batch_size: batch size when the data is given as ``(x, y)`` tensors.
        optimizer: ``"sgd"`` (Nesterov momentum) or ``"adamw"``.
        lr: the peak learning rate (cosine decay to zero over training, after warm-up).
        momentum: SGD momentum.
        weight_decay: decoupled (AdamW) or L2 (SGD) weight decay.
        warmup_epochs: linear warm-up of the learning rate.
        n_random: random subnets per step besides the largest and the smallest.
        distill: in-place distillation from the largest subnet (KL to its soft outputs).
        distill_weight: the weight of the distillation loss for non-largest subnets (the rest
            goes to the label loss); only used with ``distill=True``.
        temperature: softmax temperature of the distillation targets.
        label_smoothing: label smoothing of the cross-entropy loss.
        grad_clip: clip the gradient norm to this value (``None``: no clipping).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"`` (CUDA when available).
        precision: ``"fp32"`` (default), ``"bf16"`` (forward passes under bfloat16
            ``torch.autocast``, CPU and CUDA) or ``"fp16"`` (float16 autocast with a
            ``torch.amp.GradScaler``, CUDA only). Weights, gradients and the optimiser state
            stay float32; losses are computed in float32 from the outputs.
        seed: seeds batch order, subnet sampling and the random operations of the forward
            passes (dropout, say). Training draws from its own generators and runs inside a
            forked copy of torch's global generator, so the caller's random state is the same
            after :func:`train_supernet` as before (the supernet's weights are initialised when
            it is built, by the caller's generator: seed that yourself, e.g.
            ``torch.manual_seed``, for reproducible weights). ``None``: no reseeding, as in
            :class:`StnOptions`: the forward passes draw from the caller's generator as it is,
            and batch order and subnet sampling from unseeded generators of their own (not
            reproducible).
        progress: show a rich progress bar.
        steps_per_epoch: the batches per epoch that the learning-rate schedule (warm-up and
            cosine decay) counts with, where the data cannot tell: a loader without ``len``,
            or a function returning each epoch's batches. ``None``: ``len(data)`` (or the
            batches of a tensor pair); data without a length then need it (a ``ValueError``
            otherwise).
            It does not cut an epoch short.
    """

    epochs: int = 30
    batch_size: int = 128
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    n_random: int = 2
    distill: bool = True
    distill_weight: float = 1.0
    temperature: float = 1.0
    label_smoothing: float = 0.0
    grad_clip: float | None = 5.0
    device: str = "auto"
    precision: Precision = "fp32"
    seed: int | None = 0
    progress: bool = False
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))
        ):
            raise TypeError(
                "`seed` must be an int or None, but got "
                f"{type(self.seed).__name__} {self.seed!r} (SupernetTrainConfig)"
            )
        checks = [
            ("epochs >= 1", self.epochs >= 1, "epochs", self.epochs),
            ("batch_size >= 2", self.batch_size >= 2, "batch_size", self.batch_size),
            ("lr > 0", self.lr > 0, "lr", self.lr),
            ("n_random >= 0", self.n_random >= 0, "n_random", self.n_random),
            ("0 <= distill_weight <= 1", 0 <= self.distill_weight <= 1, "distill_weight",
             self.distill_weight),
            ("temperature > 0", self.temperature > 0, "temperature", self.temperature),
            ("warmup_epochs >= 0", self.warmup_epochs >= 0, "warmup_epochs", self.warmup_epochs),
            ("steps_per_epoch is None or >= 1",
             self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch",
             self.steps_per_epoch),
        ]  # fmt: skip
        for rule, ok, name, value in checks:
            if not ok:
                raise ValueError(f"`{rule}` must hold, but got {name}={value!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"`optimizer` must be 'sgd' or 'adamw', but got {self.optimizer!r}")
        check_precision(self.precision, self.device, where="SupernetTrainConfig")


@dataclass
class SupernetHistory:
    """Mean training losses per epoch: of the largest subnet and of all sampled subnets."""

    largest_loss: list[float] = field(default_factory=list)
    mean_loss: list[float] = field(default_factory=list)
    steps: int = 0


def _steps_per_epoch(data: TrainData, batch_size: int) -> int | None:
    pair = as_pair(data)
    if pair is not None:
        return n_batches(len(pair[0]), batch_size, skip_single=True)
    return len(data) if isinstance(data, Sized) else None


def _is_factory(data: object) -> bool:
    """A function returning each epoch's batches (a module or an iterable is data itself)."""
    return callable(data) and not isinstance(data, (Iterable, torch.nn.Module))


def _make_optimizer(supernet: Supernet, config: SupernetTrainConfig) -> torch.optim.Optimizer:
    params = [p for p in supernet.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0,
        weight_decay=config.weight_decay,
    )  # fmt: skip


def _sandwich(supernet: Supernet, rng: np.random.Generator, n_random: int) -> list[dict[str, Any]]:
    return [
        supernet.largest_assignment(),
        supernet.smallest_assignment(),
        *(supernet.sample_assignment(rng) for _ in range(n_random)),
    ]


def _step_losses(
    supernet: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    subnets: list[dict[str, Any]],
    config: SupernetTrainConfig,
    scaler: torch.amp.GradScaler,
) -> list[float]:
    """Forward (under the precision's autocast) and backward every subnet of one sandwich
    step; gradients accumulate (scaled by ``scaler`` for float16). Losses are float32."""
    losses: list[float] = []
    teacher: torch.Tensor | None = None
    t = config.temperature
    for i, assignment in enumerate(subnets):
        supernet.activate(assignment)
        with autocast_context(config.precision, x.device):
            logits = supernet(x).float()
        logits, targets = flat_logits(logits, y, "train_supernet")  # (B * T, V), (B * T,)
        loss = F.cross_entropy(logits, targets, label_smoothing=config.label_smoothing)
        if i == 0:
            teacher = logits.detach()
        elif config.distill and teacher is not None:
            kd = F.kl_div(
                F.log_softmax(logits / t, dim=-1),
                F.log_softmax(teacher / t, dim=-1),
                reduction="batchmean",
                log_target=True,
            ) * (t * t)
            loss = (1.0 - config.distill_weight) * loss + config.distill_weight * kd
        scaler.scale(loss).backward()
        losses.append(float(loss.detach()))
    return losses


def train_supernet(
    supernet: Supernet,
    data: TrainData,
    config: SupernetTrainConfig | None = None,
    *,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> SupernetHistory:
    """Train ``supernet`` in place with the sandwich rule; return the loss history.

    Args:
        supernet: the supernet (moved to ``config.device``).
        data: ``(x, y)`` tensors (shuffled into batches of ``config.batch_size`` each epoch)
            or an iterable of ``(x, y)`` batches that can be iterated once per epoch, such as
            a ``DataLoader``, or a function of no arguments returning one epoch's batches
            (a generator function, say; give ``config.steps_per_epoch`` for the schedule).
            Targets are class indices: ``(batch,)`` for logits ``(batch, classes)``, or
            ``(batch, tokens)`` for sequence logits ``(batch, tokens, classes)`` (flattened
            over the tokens; random windows of text: see the module docstring).
        config: the options (:class:`SupernetTrainConfig`).
        callback: called after every epoch as ``callback(epoch, {"largest_loss": ...,
            "mean_loss": ..., "lr": ...})``.

    Afterwards the largest subnet is active and the supernet is in training mode.

    Raises:
        ValueError: ``config.precision='fp16'`` on a device that is not CUDA (before any step).
    """
    config = SupernetTrainConfig() if config is None else config
    if not isinstance(config, SupernetTrainConfig):
        raise TypeError(
            "config must be a SupernetTrainConfig, but got "
            f"{type(config).__name__} (train_supernet)"
        )
    if not _is_factory(data):
        check_pair(data, "training", "train_supernet", least=2)
    device = resolve_device(config.device, where="train_supernet")
    check_precision(config.precision, device, where="train_supernet")
    supernet.to(device).train()
    history = SupernetHistory()
    bar = TaskBar(config.progress, config.epochs, "training supernet", transient=False)
    try:
        with seeded(config.seed, device):
            loop = _Loop(supernet, data, config, device, history)
            for epoch in range(config.epochs):
                metrics = loop.epoch()
                bar.advance(
                    f"largest {metrics['largest_loss']:.3f}  mean {metrics['mean_loss']:.3f}"
                )
                if callback is not None:
                    callback(epoch, metrics)
    finally:
        bar.close()
        supernet.activate(supernet.largest_assignment())
    return history


class _Loop:
    """The state of one :func:`train_supernet` call: its generators, optimiser and schedule."""

    def __init__(
        self,
        supernet: Supernet,
        data: TrainData,
        config: SupernetTrainConfig,
        device: torch.device,
        history: SupernetHistory,
    ) -> None:
        self.supernet, self.data, self.config, self.device = supernet, data, config, device
        self.history = history
        self.rng = np.random.default_rng(config.seed)  # subnet sampling
        self.generator = torch.Generator()  # batch order
        if config.seed is not None:
            self.generator.manual_seed(config.seed)
        self.optimizer = _make_optimizer(supernet, config)
        self.scaler = grad_scaler(config.precision, device)
        per_epoch = config.steps_per_epoch or _steps_per_epoch(data, config.batch_size)
        if per_epoch is None:  # else the schedule would decay to zero after `epochs` steps
            raise ValueError(
                "the training data has no length (a loader without `len`, or a function "
                "returning each epoch's batches): pass SupernetTrainConfig(steps_per_epoch=N), "
                "the batches of one epoch, so the learning-rate schedule can count them "
                "(train_supernet)"
            )
        self.total = per_epoch * config.epochs
        self.warmup = int(config.warmup_epochs * per_epoch)

    def epoch(self) -> dict[str, float]:
        """One pass over the data; returns the epoch's metrics (recorded in the history)."""
        config, supernet, history = self.config, self.supernet, self.history
        sums = np.zeros(2)
        count = 0
        data = self.data() if _is_factory(self.data) else self.data
        batches = epoch_batches(
            data, config.batch_size, self.generator, skip_single=True, device=self.device
        )
        for x, y in batches:
            for group in self.optimizer.param_groups:
                group["lr"] = config.lr * warmup_cosine(history.steps, self.total, self.warmup)
            self.optimizer.zero_grad(set_to_none=True)
            subnets = _sandwich(supernet, self.rng, config.n_random)
            losses = _step_losses(supernet, x, y, subnets, config, self.scaler)
            if config.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)  # clip true gradients, not scaled ones
                torch.nn.utils.clip_grad_norm_(supernet.parameters(), config.grad_clip)
            self.scaler.step(self.optimizer)  # skipped when float16 gradients overflowed
            self.scaler.update()
            history.steps += 1
            sums += (losses[0], float(np.mean(losses)))
            count += 1
        if count == 0:
            raise ValueError(
                f"the training data yielded no batch in epoch {len(history.largest_loss) + 1} "
                "(a generator is used up after one pass: give tensors, a loader or a function "
                "that returns the epoch's batches) "
                "(train_supernet)"
            )
        history.largest_loss.append(float(sums[0] / max(count, 1)))
        history.mean_loss.append(float(sums[1] / max(count, 1)))
        return {
            "largest_loss": history.largest_loss[-1],
            "mean_loss": history.mean_loss[-1],
            "lr": float(self.optimizer.param_groups[0]["lr"]),
        }
