"""Windows of a byte corpus for next-byte prediction, and bits per byte.

A window is ``context + 1`` consecutive bytes: the first ``context`` are the inputs, the last
``context`` the targets (the same bytes shifted by one), both as ``int64`` for an embedding
and ``cross_entropy``. :func:`random_windows` draws a fresh batch for training;
:func:`fixed_windows` gives the same held-out windows on every call, so that every subnet is
scored on the same validation sample.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = ["BYTE_VOCAB_SIZE", "bits_per_byte", "fixed_windows", "random_windows"]

BYTE_VOCAB_SIZE = 256
"""The number of symbols of a byte-level model: every byte value."""

_Loss = TypeVar("_Loss", float, torch.Tensor)


def _check_int(name: str, value: Any, where: str, *, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"`{name}` must be an int, but got {type(value).__name__} {value!r} ({where})"
        )
    if value < least:
        raise ValueError(f"`{name} >= {least}` must hold, but got {name}={value} ({where})")


def _check_data(data: Any, context: int, where: str) -> None:
    """``data`` a 1-D ``uint8`` tensor with room for one window of ``context + 1`` bytes."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(
            f"`data` must be a 1-D uint8 torch.Tensor (a TextCorpus part), but got "
            f"{type(data).__name__} ({where})"
        )
    if data.dim() != 1 or data.dtype != torch.uint8:
        raise ValueError(
            f"`data` must be a 1-D uint8 tensor (a TextCorpus part), but got shape "
            f"{tuple(data.shape)} and dtype {data.dtype} ({where})"
        )
    if data.numel() < context + 1:
        raise ValueError(
            f"a window needs `len(data) >= context + 1` bytes, but got len(data)="
            f"{data.numel()}, context={context} ({where})"
        )


def _cut(data: torch.Tensor, starts: torch.Tensor, context: int) -> tuple[torch.Tensor, ...]:
    """(inputs, targets) ``(len(starts), context)`` int64 tensors from windows at ``starts``."""
    index = starts.to(data.device)[:, None] + torch.arange(context + 1, device=data.device)
    windows = data[index].long()
    return windows[:, :-1], windows[:, 1:]


def random_windows(
    data: torch.Tensor,
    context: int,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: ``batch_size`` windows at uniformly random starts in ``data``.

    Returns ``(inputs, targets)``, ``(batch_size, context)`` int64 tensors on ``data``'s
    device, with ``targets[:, t]`` the byte after ``inputs[:, t]``. Starts are drawn with
    ``generator`` (a CPU ``torch.Generator``; the global one when ``None``), so a seeded
    generator gives the same batches again.

    Raises:
        TypeError: for ``data`` that is not a tensor, a count that is not an int, or a
            ``generator`` that is not a ``torch.Generator``.
        ValueError: for ``data`` that is not 1-D ``uint8``, ``context`` or ``batch_size``
            below 1, or ``data`` shorter than ``context + 1`` bytes.
    """
    where = "random_windows"
    _check_int("context", context, where)
    _check_int("batch_size", batch_size, where)
    _check_data(data, context, where)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"`generator` must be a torch.Generator or None, but got "
            f"{type(generator).__name__} ({where})"
        )
    high = data.numel() - context  # the last start leaves context + 1 bytes
    starts = torch.randint(0, high, (int(batch_size),), generator=generator)
    inputs, targets = _cut(data, starts, int(context))
    return inputs, targets


def fixed_windows(
    data: torch.Tensor, context: int, n: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A held-out sample: ``n`` windows of ``data`` that are the same on every call.

    The starts come from a ``torch.Generator`` seeded with ``seed`` (an int in [0, 2**63)),
    sorted, so the same ``(data, context, n, seed)`` give the same windows on any machine:
    score every subnet on them (for instance ``fixed_windows(corpus.val, 256, 512)``) and
    the scores compare. Returns ``(inputs, targets)`` as :func:`random_windows` does.

    Raises:
        TypeError: for ``data`` that is not a tensor or a count or seed that is not an int.
        ValueError: for ``data`` that is not 1-D ``uint8``, ``context`` or ``n`` below 1, a
            seed outside [0, 2**63), or ``data`` shorter than ``context + 1`` bytes.
    """
    where = "fixed_windows"
    _check_int("context", context, where)
    _check_int("n", n, where)
    _check_int("seed", seed, where, least=0)
    if seed >= 2**63:
        raise ValueError(f"`0 <= seed < 2**63` must hold, but got seed={seed} ({where})")
    _check_data(data, context, where)
    generator = torch.Generator().manual_seed(int(seed))
    starts = torch.randint(0, data.numel() - context, (int(n),), generator=generator)
    inputs, targets = _cut(data, starts.sort().values, int(context))
    return inputs, targets


def bits_per_byte(loss_nats: _Loss) -> _Loss:
    """A mean next-byte cross-entropy in nats (what ``torch.nn.functional.cross_entropy``
    returns) as bits per byte: ``loss_nats / ln 2``. Takes and returns a float or a tensor.

    Raises:
        TypeError: for anything that is not a real number or a floating-point tensor.
    """
    if isinstance(loss_nats, torch.Tensor):
        if not loss_nats.is_floating_point():
            raise TypeError(
                f"`loss_nats` must be a floating-point tensor, but got dtype {loss_nats.dtype} "
                "(bits_per_byte)"
            )
        return loss_nats / math.log(2)
    if isinstance(loss_nats, bool) or not isinstance(loss_nats, (int, float, np.number)):
        raise TypeError(
            f"`loss_nats` must be a number or a tensor, but got {type(loss_nats).__name__} "
            f"{loss_nats!r} (bits_per_byte)"
        )
    return float(loss_nats) / math.log(2)
