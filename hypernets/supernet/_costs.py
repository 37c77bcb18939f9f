"""Cost measures of a (sub)network: parameters, FLOPs and measured latency.

All three take any ``nn.Module``: a subnet exported with ``Supernet.export`` or a supernet with
the subnet activated (FLOPs and latency follow the active subnet; parameters of a supernet are
those of the whole supernet, so export first to count a subnet's). Each returns a plain float
or int that a study can use as an objective.

Inputs: each takes an example tensor, or a full input shape (batch dimension included) from
which it builds zeros of ``dtype`` (``torch.float32`` by default; ``torch.long`` for a network
whose input is token ids, for which zeros are valid ids).

FLOPs convention: ``torch.utils.flop_counter``'s. A multiply-accumulate is 2 FLOPs, so a matrix
product ``(m, k) @ (k, n)`` is ``2 * m * k * n``; element-wise work (activations, norms, bias
additions, softmax, scaling) is not counted. Attention through
``torch.nn.functional.scaled_dot_product_attention`` with queries ``(B, h, L, d)`` and keys
and values ``(B, h, S, d)`` / ``(B, h, S, d_v)`` counts ``2 * B * h * L * S * d`` for ``Q K^T``
plus ``2 * B * h * L * S * d_v`` for the product with ``V``, the full square also for a causal
mask (as torch's formulas for the CUDA kernels do). Torch 2.13 has no formula for the kernel
that CPU attention dispatches to (``aten._scaled_dot_product_flash_attention_for_cpu``), so
the counter would miss both products there; :func:`count_flops` passes one to the counter
(``FlopCounterMode(custom_mapping=...)``, the counter's public hook; torch's global registry
is left alone), so CPU and CUDA count the same.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from symtune.hypernets._torch import kept_modes, module_device

__all__ = ["count_flops", "count_params", "latency_samples", "measure_latency"]


def count_params(module: nn.Module, *, trainable_only: bool = False) -> int:
    """The number of parameter elements of ``module`` (shared parameters counted once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def _example(
    module: nn.Module, inputs: torch.Tensor | Sequence[int], dtype: torch.dtype | None
) -> torch.Tensor:
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise ValueError(f"`dtype` must be a torch.dtype, but got dtype={dtype!r}")
    if isinstance(inputs, torch.Tensor):
        if dtype is not None and dtype != inputs.dtype:
            raise ValueError(
                "`dtype` applies to an input shape only (a tensor brings its own), but got a "
                f"tensor of dtype {inputs.dtype} with dtype={dtype}"
            )
        return inputs
    shape = tuple(int(s) for s in inputs)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"`input_shape` must be positive ints, but got {tuple(inputs)!r}")
    dtype = torch.float32 if dtype is None else dtype
    return torch.zeros(shape, dtype=dtype, device=module_device(module))


def _attention_flops(
    query_shape: Sequence[int],
    key_shape: Sequence[int],
    value_shape: Sequence[int],
    *args: object,
    **kwargs: object,
) -> int:
    """``Q K^T`` plus ``softmax(.) V``, 2 FLOPs a multiply-accumulate (the full square)."""
    *lead, length, d = (int(s) for s in query_shape)
    source, d_v = int(key_shape[-2]), int(value_shape[-1])
    batch_heads = math.prod(lead)  # (B, h); key/value heads (GQA) broadcast to h
    return 2 * batch_heads * length * source * (d + d_v)


def _missing_formulas() -> dict[object, Callable[..., int]]:
    """Formulas for the attention kernels torch's flop counter has none for (CPU's).

    Should a later torch add its own, this one gives the same count (the convention above).
    """
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return {} if op is None else {op: _attention_flops}


def count_flops(
    module: nn.Module, inputs: torch.Tensor | Sequence[int], *, dtype: torch.dtype | None = None
) -> int:
    """FLOPs of one forward pass of ``module`` on ``inputs``, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (see the module docstring for the convention).

    ``inputs`` is an example tensor or a full input shape (batch dimension included), for which
    zeros of ``dtype`` (default ``torch.float32``; ``torch.long`` for token ids) are built.
    Matrix products and convolutions count ``2 * multiply-accumulates`` (a ``Linear(i, o)`` on
    a batch of ``n`` is ``2 * n * i * o``; attention adds its two products, on CPU too);
    element-wise operations (activations, batch norm, bias additions) are not counted. The
    module runs in eval mode, without gradients, and its training mode is restored afterwards.
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = _example(module, inputs, dtype)
    with (
        kept_modes(module, train=False),
        torch.no_grad(),
        FlopCounterMode(display=False, custom_mapping=_missing_formulas()) as counter,
    ):
        module(x)
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def latency_samples(
    module: nn.Module,
    inputs: torch.Tensor | Sequence[int],
    *,
    device: torch.device | str | None = None,
    repeats: int = 30,
    warmup: int = 5,
    dtype: torch.dtype | None = None,
) -> list[float]:
    """Wall-clock seconds of ``repeats`` forward passes after ``warmup`` unmeasured ones.

    ``inputs`` is an example tensor or a full input shape (zeros of ``dtype``, default
    ``torch.float32``, as in :func:`count_flops`). ``module`` and ``inputs`` are moved to
    ``device`` (default: where ``module`` is); passes run in eval mode without gradients, CUDA
    work is synchronised before each clock reading, and the module's device and training mode
    are restored afterwards.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"`repeats >= 1` and `warmup >= 0` must hold, but got repeats={repeats}, "
            f"warmup={warmup}"
        )
    x = _example(module, inputs, dtype)
    home = module_device(module) if next(module.parameters(), None) is not None else x.device
    target = torch.device(device) if device is not None else home
    x = x.to(target)
    times: list[float] = []
    try:
        with kept_modes(module.to(target), train=False), torch.no_grad():
            for i in range(warmup + repeats):
                _sync(target)
                start = time.perf_counter()
                module(x)
                _sync(target)
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        module.to(home)
    return times


def measure_latency(
    module: nn.Module,
    inputs: torch.Tensor | Sequence[int],
    *,
    device: torch.device | str | None = None,
    repeats: int = 30,
    warmup: int = 5,
    dtype: torch.dtype | None = None,
) -> float:
    """The median latency in seconds of a forward pass (see :func:`latency_samples`)."""
    samples = latency_samples(
        module, inputs, device=device, repeats=repeats, warmup=warmup, dtype=dtype
    )
    return float(statistics.median(samples))
