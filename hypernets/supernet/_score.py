"""Scoring subnets with inherited weights: recalibrate batch norm, evaluate, restore.

A supernet's batch-norm running statistics are an average over the many subnets it ran in
training, so they fit none of them. Scoring a subnet therefore first resets the statistics and
re-estimates them for that subnet on a few training batches (cumulative average,
``momentum=None``, only batch-norm layers in training mode), then evaluates on validation data.
Afterwards everything is put back: scoring leaves the supernet's weights, statistics, active
subnet and training modes exactly as it found them. ``ScoringData(precision="bf16")`` runs both
the recalibration and the evaluation under ``torch.autocast`` (scores stay float32).

Networks without batch norm (transformers: layer norm keeps no statistics) need no
recalibration: ``ScoringData(calib=None, val=...)`` skips it, and scoring a subnet is one
evaluation. Sequence models are scored per token: logits ``(batch, tokens, classes)``
against targets ``(batch, tokens)`` are flattened over the tokens, so ``SubnetScore.loss`` is
the mean cross-entropy per token in nats and ``SubnetScore.error`` the next-token error rate.
Bits per token (bits per byte for a byte-level model) are ``loss / ln 2``
(:attr:`SubnetScore.bits`). Pass the same fixed validation windows for every subnet (draw
them once, with a seed) so that scores differ only by architecture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from symtune.hypernets._progress import TaskBar
from symtune.hypernets._torch import (
    Precision,
    autocast_context,
    check_precision,
    flat_logits,
    kept_modes,
)

if TYPE_CHECKING:
    from symtune.hypernets.supernet._supernet import Supernet

__all__ = ["ScoringData", "SubnetScore", "recalibrate_bn", "score_many"]


@dataclass
class ScoringData:
    """What scoring needs: recalibration inputs and labelled validation batches.

    Attributes:
        calib: input batches (training data) that batch norm is recalibrated on; the same
            batches for every subnet, so scores differ only by architecture. ``None``: no
            recalibration (networks without batch norm, such as transformers; a network with
            batch norm is then scored with the statistics it has).
        val: ``(inputs, targets)`` validation batches: targets ``(batch,)`` for logits
            ``(batch, classes)``, or ``(batch, tokens)`` for sequence logits ``(batch,
            tokens, classes)`` (scored per token).
        precision: the forward passes of scoring: ``"fp32"`` (default), ``"bf16"``
            (bfloat16 ``torch.autocast``, CPU and CUDA) or ``"fp16"`` (float16 autocast, CUDA
            only). Errors and losses are computed in float32 from the outputs.
    """

    calib: list[torch.Tensor] | None
    val: list[tuple[torch.Tensor, torch.Tensor]]
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if isinstance(self.val, tuple) and any(isinstance(v, torch.Tensor) for v in self.val):
            raise TypeError(
                "`val` must be a list of (inputs, targets) batches, but got a tuple of "
                f"{len(self.val)} tensors: wrap one pair as [(x, y)] (ScoringData)"
            )
        if not self.val:
            raise ValueError("`val` must hold at least one (inputs, labels) batch, but got none")
        for i, batch in enumerate(self.val):
            if not (
                isinstance(batch, (tuple, list))
                and len(batch) == 2
                and all(isinstance(t, torch.Tensor) for t in batch)
            ):
                raise TypeError(
                    f"`val[{i}]` must be an (inputs, targets) pair of tensors, but got "
                    f"{type(batch).__name__} (ScoringData)"
                )
        check_precision(self.precision, where="ScoringData")

    @classmethod
    def from_tensors(
        cls,
        x_train: torch.Tensor | None,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        *,
        calib_batches: int = 1,
        calib_batch_size: int = 256,
        val_batch_size: int | None = None,
        seed: int = 0,
        precision: Precision = "fp32",
    ) -> ScoringData:
        """Draw ``calib_batches`` random batches of ``x_train`` and split the validation set.

        ``val_batch_size=None`` evaluates the whole validation set as one batch;
        ``x_train=None`` gives ``calib=None`` (no recalibration).
        """
        if calib_batches < 0 or calib_batch_size < 2:
            raise ValueError(
                "`calib_batches >= 0` and `calib_batch_size >= 2` must hold, but got "
                f"calib_batches={calib_batches}, calib_batch_size={calib_batch_size}"
            )
        if len(x_val) != len(y_val) or len(x_val) == 0:
            raise ValueError(
                "`x_val` and `y_val` must be non-empty and of equal length, but got "
                f"{len(x_val)} and {len(y_val)}"
            )
        calib = None
        if x_train is not None:
            calib = _calib_batches(x_train, calib_batches, calib_batch_size, seed)
        step = val_batch_size or len(x_val)
        val = [(x_val[i : i + step], y_val[i : i + step]) for i in range(0, len(x_val), step)]
        return cls(calib=calib, val=val, precision=precision)

    def to(self, device: torch.device | str) -> ScoringData:
        """A copy with every tensor on ``device``."""
        return ScoringData(
            calib=None if self.calib is None else [x.to(device) for x in self.calib],
            val=[(x.to(device), y.to(device)) for x, y in self.val],
            precision=self.precision,
        )


@dataclass(frozen=True)
class SubnetScore:
    """The validation result of one subnet under the supernet's weights.

    Attributes:
        assignment: the subnet.
        error: the validation error rate (1 - accuracy); for sequences, the next-token error
            rate over all validation tokens.
        loss: the mean validation cross-entropy in nats, per example (per token for
            sequences).
    """

    assignment: dict[str, Any] = field(compare=False)
    error: float
    loss: float

    @property
    def accuracy(self) -> float:
        """``1 - error``."""
        return 1.0 - self.error

    @property
    def bits(self) -> float:
        """``loss / ln 2``: the loss in bits per example (bits per token for sequences, bits
        per byte for a byte-level language model)."""
        return self.loss / math.log(2)


def _calib_batches(x_train: torch.Tensor, n: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x_train), generator=generator)
    size = min(batch_size, len(x_train))
    return [x_train[order[torch.arange(i * size, (i + 1) * size) % len(order)]] for i in range(n)]


def _batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@torch.no_grad()
def recalibrate_bn(
    module: nn.Module, batches: Iterable[torch.Tensor], *, precision: Precision = "fp32"
) -> None:
    """Re-estimate every batch norm's running statistics for ``module`` as it runs now.

    Resets the statistics, runs ``batches`` with only the batch-norm layers in training mode
    (cumulative average, ``momentum=None``), and leaves ``module`` in eval mode with the
    batch norms' momenta as they were. It overwrites the statistics: to score without a trace,
    use :func:`score_many`. ``precision`` is that of the forward passes (see
    :class:`ScoringData`); the statistics themselves stay float32.
    """
    norms = _batch_norms(module)
    momenta = [bn.momentum for bn in norms]
    module.eval()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    try:
        for x in batches:
            with autocast_context(precision, x.device):
                module(x)
    finally:
        for bn, momentum in zip(norms, momenta, strict=True):
            bn.momentum = momentum
            bn.eval()


@torch.no_grad()
def _evaluate(
    module: nn.Module,
    val: Sequence[tuple[torch.Tensor, torch.Tensor]],
    precision: Precision = "fp32",
) -> tuple[float, float]:
    """Validation ``(error, loss)``: forward passes under ``precision``, metrics in float32;
    sequence logits ``(B, T, V)`` against targets ``(B, T)`` count every token."""
    wrong = 0
    loss = 0.0
    count = 0
    for x, y in val:
        with autocast_context(precision, x.device):
            logits = module(x).float()
        logits, y = flat_logits(logits, y, "scoring")
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        wrong += int((logits.argmax(dim=-1) != y).sum())
        count += len(y)
    return wrong / count, loss / count


class _Snapshot:
    """Batch-norm buffers and the active subnet, to put back after scoring."""

    def __init__(self, supernet: Supernet) -> None:
        self.supernet = supernet
        self.assignment = supernet.active_assignment()
        self.buffers = [
            (buf, buf.detach().clone()) for bn in _batch_norms(supernet) for buf in bn.buffers()
        ]

    def restore(self) -> None:
        with torch.no_grad():
            for buf, saved in self.buffers:
                buf.copy_(saved)
        self.supernet.activate(self.assignment)


def score_many(
    supernet: Supernet,
    assignments: Iterable[Mapping[str, Any]],
    data: ScoringData,
    *,
    progress: bool = False,
) -> list[SubnetScore]:
    """Score each subnet with the supernet's weights: recalibrate batch norm (unless
    ``data.calib`` is None), then evaluate.

    The data is moved to the supernet's device once; the forward passes run in
    ``data.precision``. Weights, batch-norm statistics, the active subnet and training modes
    are restored afterwards, even on error.

    Args:
        supernet: a trained :class:`Supernet`.
        assignments: the subnets to score.
        data: recalibration and validation batches (:class:`ScoringData`).
        progress: show a rich progress bar.

    Raises:
        ValueError: ``data.precision='fp16'`` on a supernet that is not on CUDA.
    """
    todo = [dict(a) for a in assignments]
    check_precision(data.precision, supernet.device, where="score_many")
    data = data.to(supernet.device)
    snapshot = _Snapshot(supernet)
    scores: list[SubnetScore] = []
    bar = TaskBar(progress, len(todo), "scoring subnets")
    try:
        with kept_modes(supernet):
            for assignment in todo:
                supernet.activate(assignment)
                if data.calib is not None:
                    recalibrate_bn(supernet.net, data.calib, precision=data.precision)
                else:
                    supernet.net.eval()
                error, loss = _evaluate(supernet.net, data.val, data.precision)
                finite = loss if math.isfinite(loss) else math.inf
                scores.append(SubnetScore(assignment, error, finite))
                bar.advance()
    finally:
        bar.close()
        snapshot.restore()
    return scores
