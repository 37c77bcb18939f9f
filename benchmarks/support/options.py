"""The options every benchmark takes: ``--quick``, ``--out DIR``, ``--seeds N|list``, ``--device``.

``--seeds 3`` means seeds 0, 1, 2; ``--seeds 0,4,7`` those seeds. In a benchmark that measures
timings rather than seeded runs, each seed is one repeat of every system. ``--device auto`` is
CUDA when torch sees a GPU, else the CPU; ``--device cuda`` without one is a usage error
(exit 2, one line).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from support.report import RESULTS

DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class Options:
    """The parsed common options (``device`` resolved to ``cpu`` or ``cuda``)."""

    quick: bool
    out: Path
    seeds: tuple[int, ...]
    device: str

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"3"`` -> ``(0, 1, 2)``; ``"0,4,7"`` -> ``(0, 4, 7)`` (argparse type)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes a count (3) or a comma-separated list (0,4,7), but got {text!r}"
        ) from None
    if len(numbers) == 1 and "," not in text:
        if numbers[0] < 1:
            raise argparse.ArgumentTypeError(f"--seeds count must be >= 1, but got {text!r}")
        return tuple(range(numbers[0]))
    if not numbers or len(set(numbers)) != len(numbers) or min(numbers) < 0:
        raise argparse.ArgumentTypeError(
            f"--seeds list must hold distinct seeds >= 0, but got {text!r}"
        )
    return tuple(numbers)


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` needs one."""
    if requested == "cpu":
        return "cpu"
    try:
        import torch

        available = torch.cuda.is_available()
    except ImportError:
        available = False
    if requested == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ValueError("--device cuda needs a CUDA device, but torch sees none")
    return "cuda"


def parser(
    description: str, *, seeds: str, quick_seeds: str | None = None
) -> argparse.ArgumentParser:
    """The common parser; ``seeds`` is the full mode's default, ``quick_seeds`` the quick one's."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--quick", action="store_true", help="the same experiment, smaller")
    result.add_argument("--out", type=Path, default=RESULTS, help=f"report folder ({RESULTS})")
    result.add_argument(
        "--seeds",
        type=parse_seeds,
        default=None,
        help=f"a count or a list (default: {seeds}; quick: {quick_seeds or seeds})",
    )
    result.add_argument("--device", choices=DEVICES, default="cpu", help="default: cpu")
    result.set_defaults(_seeds=seeds, _quick_seeds=quick_seeds or seeds)
    return result


def parse(
    description: str,
    argv: Sequence[str] | None = None,
    *,
    seeds: str,
    quick_seeds: str | None = None,
) -> Options:
    """Parse the common options; a usage error exits 2 with one line."""
    p = parser(description, seeds=seeds, quick_seeds=quick_seeds)
    args = p.parse_args(argv)
    chosen = args.seeds or parse_seeds(args._quick_seeds if args.quick else args._seeds)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        p.error(str(exc))
    return Options(quick=args.quick, out=args.out, seeds=chosen, device=device)
