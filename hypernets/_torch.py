"""Torch helpers that both hypernetwork families use (private to ``symtune.hypernets``).

One of each: saving and restoring training modes, a module's device, device resolution,
shuffled minibatches of a pair of tensors (or a loader's batches), the warm-up/cosine
learning-rate factor, and seeded randomness that leaves torch's global generator as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias, cast

import torch
from torch import Tensor, nn

__all__ = [
    "Batches",
    "as_pair",
    "check_pair",
    "epoch_batches",
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
