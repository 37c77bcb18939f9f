"""Cost measures of a (sub)network: parameters, FLOPs and measured latency.

All three take any ``nn.Module``: a subnet exported with ``Supernet.export`` or a supernet with
the subnet activated (FLOPs and latency follow the active subnet; parameters of a supernet are
those of the whole supernet, so export first to count a subnet's). Each returns a plain float
or int that a study can use as an objective.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

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


def _example(module: nn.Module, inputs: torch.Tensor | Sequence[int]) -> torch.Tensor:
    if isinstance(inputs, torch.Tensor):
        return inputs
    shape = tuple(int(s) for s in inputs)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"`input_shape` must be positive ints, but got {tuple(inputs)!r}")
    return torch.zeros(shape, device=module_device(module))


def count_flops(module: nn.Module, inputs: torch.Tensor | Sequence[int]) -> int:
    """FLOPs of one forward pass of ``module`` on ``inputs`` (a tensor or a full input shape,
    batch dimension included), counted by ``torch.utils.flop_counter.FlopCounterMode``.

    Matrix products and convolutions count ``2 * multiply-accumulates`` (a ``Linear(i, o)`` on
    a batch of ``n`` is ``2 * n * i * o``); element-wise operations (activations, batch norm,
    bias additions) are not counted. The module runs in eval mode, without gradients, and its
    training mode is restored afterwards.
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = _example(module, inputs)
    with (
        kept_modes(module, train=False),
        torch.no_grad(),
        FlopCounterMode(display=False) as counter,
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
) -> list[float]:
    """Wall-clock seconds of ``repeats`` forward passes after ``warmup`` unmeasured ones.

    ``module`` and ``inputs`` are moved to ``device`` (default: where ``module`` is); passes
    run in eval mode without gradients, CUDA work is synchronised before each clock reading,
    and the module's device and training mode are restored afterwards.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"`repeats >= 1` and `warmup >= 0` must hold, but got repeats={repeats}, "
            f"warmup={warmup}"
        )
    x = _example(module, inputs)
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
) -> float:
    """The median latency in seconds of a forward pass (see :func:`latency_samples`)."""
    samples = latency_samples(module, inputs, device=device, repeats=repeats, warmup=warmup)
    return float(statistics.median(samples))
