"""Torch helpers that both hypernetwork families use (private to ``symtune.hypernets``).

One of each: saving and restoring training modes, a module's device, device resolution,
shuffled minibatches of a pair of tensors (or a loader's batches), the warm-up/cosine
learning-rate factor, seeded randomness that leaves torch's global generator as it was, and
mixed precision (the autocast context and gradient scaler of a ``precision`` option).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Literal, TypeAlias, cast

import torch
from torch import Tensor, nn

__all__ = [
    "PRECISIONS",
    "Batches",
    "Precision",
    "as_pair",
    "autocast_context",
    "check_pair",
    "check_precision",
    "epoch_batches",
    "grad_scaler",
    "kept_modes",
    "module_device",
    "n_batches",
    "resolve_device",
    "seeded",
    "warmup_cosine",
]

Batches: TypeAlias = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]
"""Data: a pair of tensors ``(x, y)`` or an iterable of ``(x, y)`` minibatches that can be
iterated again (a ``DataLoader``)."""


@contextmanager
def kept_modes(module: nn.Module, *, train: bool | None = None) -> Iterator[nn.Module]:
    """Inside the block ``module`` is in training mode (``train=True``), eval mode
    (``train=False``) or as it was (``None``); afterwards every submodule's own training flag
    is put back, even on error."""
    modes = {m: m.training for m in module.modules()}
    if train is not None:
        module.train(train)
    try:
        yield module
    finally:
        for m, mode in modes.items():
            m.training = mode


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter (CPU if it has none)."""
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def resolve_device(
    device: str | torch.device | None,
    *,
    fallback: nn.Module | None = None,
    where: str = "",
) -> torch.device:
    """The device to run on.

    ``None`` is where ``fallback`` is (CPU without one); ``"auto"`` is CUDA when available,
    else CPU; anything else is ``torch.device(device)``, which must be available here. A
    string torch does not read, or an unavailable CUDA device, is a ``ValueError`` naming the
    argument, the value and ``where`` (the caller, e.g. ``"train_supernet"``).
    """
    if device is None:
        return module_device(fallback) if fallback is not None else torch.device("cpu")
    at = f" ({where})" if where else ""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            "`device` must be 'auto', 'cpu', 'cuda', 'cuda:N' (or another torch device string "
            f"or torch.device), but got {device!r}{at}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` is {str(device)!r}, but CUDA is not available here{at}")
    return resolved


def as_pair(data: Any) -> tuple[Tensor, Tensor] | None:
    """``(x, y)`` if ``data`` is a pair of tensors, else None (a loader)."""
    if isinstance(data, tuple) and len(data) == 2 and all(torch.is_tensor(t) for t in data):
        return cast(tuple[Tensor, Tensor], data)
    return None


def check_pair(data: Any, what: str, where: str, *, least: int = 1) -> None:
    """Check a pair of tensors ``(x, y)`` up front: as many targets as inputs, and at least
    ``least`` examples (a ``ValueError`` naming ``what`` data and ``where``). A loader (any
    other iterable) is left to yield its own batches; anything else is a ``TypeError``."""
    pair = as_pair(data)
    if pair is None:
        if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
            raise TypeError(
                f"{what} data must be a pair of tensors (x, y) or an iterable of (x, y) "
                f"batches, but got {type(data).__name__} ({where})"
            )
        return
    x, y = pair
    if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0] or x.shape[0] < least:
        n_x = x.shape[0] if x.dim() else "a scalar"
        n_y = y.shape[0] if y.dim() else "a scalar"
        raise ValueError(
            f"{what} data need as many targets as inputs, and at least {least}, but got "
            f"{n_x} inputs and {n_y} targets ({where})"
        )


def n_batches(n: int, batch_size: int, *, skip_single: bool = False) -> int:
    """How many batches :func:`epoch_batches` makes of ``n`` examples (at least one)."""
    return max(1, math.ceil(((n - 1) if skip_single else n) / batch_size))


def epoch_batches(
    data: Batches,
    batch_size: int,
    generator: torch.Generator,
    *,
    skip_single: bool = False,
    device: torch.device | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of minibatches: a pair of tensors is shuffled by ``generator`` into batches of
    ``batch_size`` (a last batch of one example dropped with ``skip_single``, for batch norm);
    a loader yields its own batches. With ``device``, each batch is moved there."""
    pair = as_pair(data)
    if pair is None:
        batches: Iterable[tuple[Tensor, Tensor]] = cast(Iterable[tuple[Tensor, Tensor]], data)
    else:
        x, y = pair
        parts = list(torch.randperm(x.shape[0], generator=generator).split(batch_size))
        if skip_single and parts and len(parts[-1]) == 1:
            parts.pop()
        batches = ((x[i], y[i]) for i in parts)
    for inputs, targets in batches:
        if device is None:
            yield inputs, targets
        else:
            yield inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The learning-rate factor at ``step`` of ``total``: linear warm-up over ``warmup`` steps,
    then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@contextmanager
def seeded(seed: int | None, device: torch.device | None = None) -> Iterator[None]:
    """Run the block with torch's global generator seeded by ``seed`` (and that of ``device``,
    if CUDA), then put the caller's generator states back: what the block draws is
    reproducible, and the caller's random stream is the same after it as before.
    ``seed=None`` runs the block on the caller's generators, unchanged."""
    if seed is None:
        yield
        return
    index: int | None = None
    if device is not None and device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
    with torch.random.fork_rng(devices=[] if index is None else [index]):
        torch.default_generator.manual_seed(seed)
        if index is not None:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


Precision: TypeAlias = Literal["fp32", "bf16", "fp16"]
"""A ``precision`` option: ``"fp32"`` (no autocast), ``"bf16"`` (bfloat16 autocast, CPU and
CUDA) or ``"fp16"`` (float16 autocast with a gradient scaler, CUDA only)."""

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(
    precision: Any, device: torch.device | str | None = None, *, where: str
) -> None:
    """Refuse a ``precision`` that is not one of :data:`PRECISIONS`, and ``"fp16"`` on a device
    that is not CUDA (float16 autocast with a gradient scaler is a CUDA feature; use ``"bf16"``
    on CPU): a ``ValueError`` naming the rule, the value and ``where``. ``device=None`` checks
    the string only (the device is not known yet, e.g. ``"auto"``)."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {', '.join(map(repr, PRECISIONS))}, but got "
            f"{precision!r} ({where})"
        )
    try:
        kind = None if device is None else torch.device(device).type
    except (RuntimeError, TypeError, ValueError):
        kind = None  # "auto", or a device string that resolve_device refuses on its own
    if precision == "fp16" and kind is not None and kind != "cuda":
        raise ValueError(
            "`precision='fp16'` needs a CUDA device (float16 autocast with a gradient scaler), "
            f"but the device is {kind!r}: use precision='bf16' there ({where})"
        )


def autocast_context(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """The context that forward passes run in: ``torch.autocast`` on ``device``'s type with
    bfloat16 (``"bf16"``) or float16 (``"fp16"``), nothing for ``"fp32"``. Compute losses and
    metrics from outputs cast back to float32 (``logits.float()``)."""
    check_precision(precision, device, where="autocast_context")
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler for ``precision`` on ``device``: enabled for ``"fp16"`` only (float16
    gradients underflow without one); disabled otherwise, when its ``scale``, ``unscale_``,
    ``step`` and ``update`` are plain pass-throughs, so one training loop serves every
    precision."""
    check_precision(precision, device, where="grad_scaler")
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def flat_logits(
    logits: torch.Tensor, y: torch.Tensor, where: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, classes)`` logits and ``(N,)`` class-index targets; sequence logits ``(B, T,
    classes)`` with targets ``(B, T)`` are flattened over the tokens (``N = B * T``). Targets
    that are not integer class indices in ``[0, classes)`` are a clear error (the range is
    checked on CPU tensors only: on CUDA it would synchronise every step)."""
    if logits.dim() < 2 or logits.shape[:-1] != y.shape:
        raise ValueError(
            "the logits must be (..., classes) for targets of shape (...), but got logits of "
            f"shape {tuple(logits.shape)} for targets of shape {tuple(y.shape)} ({where})"
        )
    classes = logits.shape[-1]
    if y.dtype not in (torch.long, torch.int32, torch.uint8):
        raise TypeError(f"targets must be integer class indices, but got dtype {y.dtype} ({where})")
    if y.device.type == "cpu" and y.numel():
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            raise ValueError(
                f"targets must lie in [0, {classes}) (the logits' classes), but got "
                f"{low if low < 0 else high} ({where})"
            )
    return logits.reshape(-1, classes), y.reshape(-1).long()
