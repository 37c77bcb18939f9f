"""The STN training loop: weight steps under perturbed hyperparameters, then hyperparameter
steps on the validation loss, alternating (MacKay et al. 2019, Algorithm 1).

A cycle is ``train_steps`` weight steps followed by ``hyper_steps`` hyperparameter steps.

* Weight step: sample hyperparameters around their current values (one per example, with
  the learned perturbation scale), let the STN layers and regularisers read them, and step
  the weights on the training loss (plus the model's ``stn_penalty()``, if it has one). The
  layers thereby learn how their output should move with the hyperparameters.
* Hyperparameter step: sample hyperparameters with the reparametrisation trick, compute the
  validation loss *without* regularisation (unless ``direct_gradient``), subtract
  ``entropy_weight`` times the entropy of the perturbation distribution, and step the
  hyperparameters and their perturbation scales. The gradient flows through the STN layers.

The values are recorded after every cycle: the result is a schedule, not a constant.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeAlias, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symtune.hypernets._torch import (
    as_pair,
    check_pair,
    epoch_batches,
    resolve_device,
    seeded,
)
from symtune.hypernets.stn._errors import HyperparameterError, HyperparameterNaNError
from symtune.hypernets.stn._hyperparams import HyperHistory, HyperParameters

Data: TypeAlias = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]
"""Training or validation data: a pair of tensors ``(x, y)`` or an iterable of ``(x, y)``
minibatches that can be iterated again (a ``DataLoader``)."""

LossFn: TypeAlias = Callable[[Tensor, Tensor], Tensor]


@dataclass
class StnOptions:
    """Options of :func:`train_stn`.

    Attributes:
        steps: weight steps in total (ignored when ``epochs`` is set).
        epochs: passes over the training data; with tensors, ``ceil(n / batch_size)`` steps
            make one epoch; with a loader, ``len(loader)``.
        train_steps: weight steps per cycle.
        hyper_steps: hyperparameter steps per cycle (0 trains the weights only).
        warmup_steps: weight steps before the first hyperparameter step.
        batch_size: minibatch size when the data are tensors.
        val_batch_size: validation minibatch size for tensors (default ``batch_size``).
        lr: learning rate of the weights.
        lr_schedule: ``"constant"``, or ``"cosine"`` (decays the weights' learning rate to 0
            over the run; the hyperparameters' learning rate stays constant).
        optimizer: ``"adam"`` or ``"sgd"`` (with ``momentum``) for the weights.
        momentum: momentum of ``"sgd"``.
        hyper_lr: learning rate (Adam) of the hyperparameters and perturbation scales.
        entropy_weight: weight of the perturbation entropy bonus at hyperparameter steps.
        direct_gradient: regularise the validation forward too, adding the direct gradient
            of the validation loss w.r.t. the hyperparameters (off, as in the STN paper:
            it pushes regularisation towards zero).
        grad_clip: clip the weights' gradient norm to this (None: no clipping).
        eval_every: evaluate the full validation loss every this many weight steps and at
            the end (0: only at the end).
        seed: seed the data shuffling and the run's random draws (perturbations, dropout
            masks), which then use a fork of torch's global generator: the caller's random
            state is the same after :func:`train_stn` as before. None: draw from the caller's
            generator as it is (and shuffle with unseeded generators of their own).
        device: where to train (``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"``: CUDA when
            available); None: where the model is. A CUDA device must be available.
    """

    steps: int = 2000
    epochs: int | None = None
    train_steps: int = 5
    hyper_steps: int = 1
    warmup_steps: int = 0
    batch_size: int = 128
    val_batch_size: int | None = None
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine"] = "constant"
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = 0.9
    hyper_lr: float = 1e-2
    entropy_weight: float = 1e-3
    direct_gradient: bool = False
    grad_clip: float | None = None
    eval_every: int = 0
    seed: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        positive: dict[str, float] = {"steps": self.steps, "train_steps": self.train_steps}
        positive |= {"batch_size": self.batch_size, "lr": self.lr, "hyper_lr": self.hyper_lr}
        if self.epochs is not None:
            positive["epochs"] = self.epochs
        if self.val_batch_size is not None:
            positive["val_batch_size"] = self.val_batch_size
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"`{name} > 0` must hold, but got {name}={value} (StnOptions)")
        counts: dict[str, float] = {"hyper_steps": self.hyper_steps}
        counts["warmup_steps"] = self.warmup_steps
        counts |= {"eval_every": self.eval_every, "entropy_weight": self.entropy_weight}
        for name, value in counts.items():
            if not value >= 0:
                raise ValueError(f"`{name} >= 0` must hold, but got {name}={value} (StnOptions)")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                "`lr_schedule` must be 'constant' or 'cosine', but got "
                f"{self.lr_schedule!r} (StnOptions)"
            )
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(
                f"`optimizer` must be 'adam' or 'sgd', but got {self.optimizer!r} (StnOptions)"
            )


@dataclass
class StnResult:
    """What :func:`train_stn` returns.

    Attributes:
        final: the hyperparameters' final values, ``{name: value}``.
        schedule: their history, ``{name: [(weight step, value), ...]}``.
        probabilities: categorical choice probabilities over time, ``{name: [(step, probs)]}``.
        weight_steps, hyper_steps: optimizer steps taken on weights and hyperparameters.
        val_curve: ``[(weight step, full validation loss), ...]`` (see ``eval_every``).
        final_val_loss: the last entry of ``val_curve``.
        wall_time_s: training wall time (evaluation included).
    """

    final: dict[str, Any]
    schedule: dict[str, list[tuple[int, Any]]]
    probabilities: dict[str, list[tuple[int, list[float]]]]
    weight_steps: int
    hyper_steps: int
    val_curve: list[tuple[int, float]] = field(default_factory=list)
    final_val_loss: float | None = None
    wall_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples become lists), e.g. for a trial's user attributes."""
        return asdict(self)

    def user_attrs(self) -> dict[str, Any]:
        """What a study stores on the trial: ``selftuned.NAME`` (the final value) and
        ``selftuned_schedule.NAME`` (``[[weight step, value], ...]``) per hyperparameter.

        ``Study.results()`` shows them as columns and ``symtune show`` prints them::

            for key, value in result.user_attrs().items():
                trial.set_user_attr(key, value)
        """
        attrs: dict[str, Any] = {}
        for name, value in self.final.items():
            attrs[f"selftuned.{name}"] = value
            attrs[f"selftuned_schedule.{name}"] = _thin(self.schedule.get(name, []))
        return attrs


def _thin(points: list[tuple[int, Any]], most: int = 100) -> list[list[Any]]:
    """At most ``most`` evenly spaced points of a schedule, its first and last included."""
    if len(points) <= most:
        return [list(p) for p in points]
    step = (len(points) - 1) / (most - 1)
    return [list(points[round(i * step)]) for i in range(most)]


class _Batches(Iterator[tuple[Tensor, Tensor]]):
    """Endless minibatches from a pair of tensors (shuffled epochs) or a re-iterable loader."""

    def __init__(self, data: Data, batch_size: int, seed: int | None, what: str) -> None:
        check_pair(data, what, "train_stn")
        self.tensors = as_pair(data)
        self.data, self.batch_size = data, batch_size
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        self._it: Iterator[tuple[Tensor, Tensor]] = iter(())

    def epoch_length(self) -> int:
        if self.tensors is not None:
            return math.ceil(self.tensors[0].shape[0] / self.batch_size)
        if isinstance(self.data, Sized):
            return len(self.data)
        raise ValueError("`epochs` needs tensors or a loader with a length; use `steps` instead")

    def _epoch(self) -> Iterator[tuple[Tensor, Tensor]]:
        return epoch_batches(self.data, self.batch_size, self.generator)

    def __next__(self) -> tuple[Tensor, Tensor]:
        for _ in range(2):
            try:
                return next(self._it)
            except StopIteration:
                self._it = self._epoch()
        raise ValueError("the data yielded no minibatch")


def _full_batches(data: Data, batch_size: int) -> Iterable[tuple[Tensor, Tensor]]:
    pair = as_pair(data)
    if pair is None:
        return cast(Iterable[tuple[Tensor, Tensor]], data)
    return zip(pair[0].split(batch_size), pair[1].split(batch_size), strict=True)


def evaluate_stn(
    model: nn.Module,
    data: Data,
    *,
    loss_fn: LossFn | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Loss (mean over examples) and, for class logits, accuracy of ``model`` on ``data``.

    Runs in eval mode without gradient; STN layers read the current hyperparameter values.
    Returns ``{"loss": ..., "accuracy": ...}`` (accuracy only for ``[B, C]`` logits with
    integer targets). The model is left in eval mode.
    """
    loss_fn = loss_fn or F.cross_entropy
    dev = resolve_device(device, fallback=model, where="evaluate_stn")
    model.eval()
    total, correct, count, classify = 0.0, 0, 0, True
    with torch.no_grad():
        for x, y in _full_batches(data, batch_size):
            x, y = x.to(dev), y.to(dev)
            out = model(x)
            total += float(loss_fn(out, y)) * x.shape[0]
            count += x.shape[0]
            classify = classify and out.dim() == 2 and not torch.is_floating_point(y)
            if classify:
                correct += int((out.argmax(dim=1) == y).sum())
    if count == 0:
        raise ValueError("evaluate_stn got no data")
    result = {"loss": total / count}
    if classify:
        result["accuracy"] = correct / count
    return result


def _check_model(model: nn.Module, hparams: HyperParameters) -> None:
    readers = [m for m in model.modules() if isinstance(m.__dict__.get("hparams"), nn.Module)]
    foreign = [m for m in readers if m.__dict__["hparams"] is not hparams]
    if foreign:
        raise HyperparameterError(
            f"{type(foreign[0]).__name__} reads a different HyperParameters container than "
            "the one passed to train_stn; build the model's STN layers on that one"
        )
    if len(hparams) and not any(hasattr(m, "hyper_scale") for m in readers):
        raise HyperparameterError(
            "the model has no STN layer (StnLinear, StnConv2d) reading the hyperparameters "
            f"{list(hparams.names)}, so a hyperparameter step would have no gradient"
        )


class _Run:
    """The state of one :func:`train_stn` call (one method per kind of step)."""

    def __init__(
        self,
        model: nn.Module,
        hparams: HyperParameters,
        options: StnOptions,
        loss_fn: LossFn,
        device: torch.device,
        total: int,
    ) -> None:
        self.model, self.hparams, self.options, self.loss_fn = model, hparams, options, loss_fn
        self.device, self.total = device, total
        hp_ids = {id(p) for p in hparams.parameters()}
        self.weights = [p for p in model.parameters() if p.requires_grad and id(p) not in hp_ids]
        if options.optimizer == "adam":
            self.w_opt: torch.optim.Optimizer = torch.optim.Adam(self.weights, lr=options.lr)
        else:
            self.w_opt = torch.optim.SGD(self.weights, lr=options.lr, momentum=options.momentum)
        self.hp_params = [p for p in hparams.parameters() if p.numel() > 0]
        self.h_opt = (
            torch.optim.Adam(self.hp_params, lr=options.hyper_lr) if self.hp_params else None
        )
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        if options.lr_schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, total)
        self.penalty = getattr(model, "stn_penalty", None)
        self.step = 0
        self.hyper = 0

    def weight_step(self, batches: _Batches) -> None:
        x, y = (t.to(self.device, non_blocking=True) for t in next(batches))
        self.model.train()
        sampled = self.hparams.sample(x.shape[0], mode="train")
        with self.hparams.using(sampled):
            loss = self.loss_fn(self.model(x), y)
            if callable(self.penalty):
                loss = loss + self.penalty()
        if not torch.isfinite(loss):
            raise FloatingPointError(
                "the weight step produced a non-finite training loss "
                f"({float(loss.detach())}) at step {self.step}; hyperparameters: "
                f"{self.hparams.values()}"
            )
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.options.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.weights, self.options.grad_clip)
        self.w_opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1

    def hyper_step(self, batches: _Batches) -> None:
        if self.h_opt is None:
            return
        x, y = (t.to(self.device, non_blocking=True) for t in next(batches))
        self.model.train()
        sampled = self.hparams.sample(x.shape[0], mode="hyper")
        sampled.regularize = self.options.direct_gradient
        with self.hparams.using(sampled):
            val_loss = self.loss_fn(self.model(x), y)
        loss = val_loss - self.options.entropy_weight * self.hparams.entropy()
        grads = torch.autograd.grad(loss, self.hp_params, allow_unused=True)
        for p, g in zip(self.hp_params, grads, strict=True):
            p.grad = torch.zeros_like(p) if g is None else g
        bad = self.hparams.nonfinite_grad()
        if bad or not torch.isfinite(loss):
            self._nan(bad, f"validation loss {float(val_loss.detach())}, gradient not finite")
        self.h_opt.step()
        self.hyper += 1
        bad = self.hparams.nonfinite()
        if bad:
            self._nan(bad, "the updated value or perturbation scale is not finite")

    def _nan(self, names: list[str], detail: str) -> None:
        raise HyperparameterNaNError(
            self.step, self.hyper, names or list(self.hparams.names), detail
        )

    def evaluate(self, val: Data, batch_size: int) -> float:
        loss = evaluate_stn(
            self.model, val, loss_fn=self.loss_fn, device=self.device, batch_size=batch_size
        )["loss"]
        self.model.train()
        return loss


def _total_steps(options: StnOptions, batches: _Batches) -> int:
    if options.epochs is None:
        return options.steps
    return options.epochs * batches.epoch_length()


def train_stn(
    model: nn.Module,
    train: Data,
    val: Data,
    hparams: HyperParameters,
    options: StnOptions | None = None,
    *,
    device: str | torch.device | None = None,
    loss_fn: LossFn | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> StnResult:
    """Train a self-tuning network: its weights and, online, its hyperparameters.

    Args:
        model: a module built from STN layers and regularisers reading ``hparams``. If it
            has a method ``stn_penalty() -> Tensor`` (like :class:`StnMLP`), the penalty is
            added to the training loss.
        train, val: ``(x, y)`` tensors or re-iterable loaders of ``(x, y)`` minibatches.
        hparams: the hyperparameters to tune (moved to the device with the model).
        options: loop options (defaults: :class:`StnOptions`).
        device: overrides ``options.device``; default: where the model is.
        loss_fn: ``loss_fn(output, target) -> scalar``; default cross-entropy.
        callback: called as ``callback(step, val_loss)`` after each evaluation (see
            ``eval_every``); raise from it to stop (e.g. ``optuna.TrialPruned``).

    Hyperparameter steps run the model in training mode with symtune's regularisers off:
    batch-norm layers use batch statistics (and update their running averages from the
    validation inputs), and plain ``torch.nn.Dropout`` modules would still drop units, so use
    :class:`StnDropout` for dropout that the STN should see.

    Returns:
        An :class:`StnResult` with the final values, the schedule and the step counts.

    Raises:
        HyperparameterNaNError: a hyperparameter step produced NaN (step and names in it).
        FloatingPointError: a weight step produced a non-finite training loss.
        HyperparameterError: the model reads a different container, or none at all.
    """
    options = options or StnOptions()
    dev = resolve_device(device or options.device, fallback=model, where="train_stn")
    _check_model(model, hparams)
    model.to(dev)
    hparams.to(dev)
    seed = options.seed
    train_batches = _Batches(train, options.batch_size, seed, "training")
    val_bs = options.val_batch_size or options.batch_size
    val_batches = _Batches(val, val_bs, None if seed is None else seed + 1, "validation")
    total = _total_steps(options, train_batches)
    run = _Run(model, hparams, options, loss_fn or F.cross_entropy, dev, total)
    history = HyperHistory(hparams)
    hparams._history = history  # the deprecated `hparams.schedule` reads the latest run's
    start = time.perf_counter()
    with seeded(seed, dev):
        curve = _alternate(run, train_batches, val_batches, history, val, val_bs, callback)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return StnResult(
        final=hparams.values(),
        schedule=history.schedule(),
        probabilities=history.probabilities(),
        weight_steps=run.step,
        hyper_steps=run.hyper,
        val_curve=curve,
        final_val_loss=curve[-1][1],
        wall_time_s=time.perf_counter() - start,
    )


def _alternate(
    run: _Run,
    train_batches: _Batches,
    val_batches: _Batches,
    history: HyperHistory,
    val: Data,
    val_bs: int,
    callback: Callable[[int, float], None] | None,
) -> list[tuple[int, float]]:
    """The cycles of weight and hyperparameter steps; returns the validation curve."""
    options, total = run.options, run.total
    curve: list[tuple[int, float]] = []
    history.record(0)
    while run.step < total:
        n = options.warmup_steps - run.step if run.step < options.warmup_steps else 0
        for _ in range(min(n or options.train_steps, total - run.step)):
            run.weight_step(train_batches)
            if options.eval_every and run.step % options.eval_every == 0 and run.step < total:
                curve.append((run.step, run.evaluate(val, val_bs)))
                if callback is not None:
                    callback(*curve[-1])
        if run.step >= options.warmup_steps:
            for _ in range(options.hyper_steps):
                run.hyper_step(val_batches)
            history.record(run.step)
    curve.append((run.step, run.evaluate(val, val_bs)))
    if callback is not None:
        callback(*curve[-1])
    return curve
