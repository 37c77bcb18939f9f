"""The digits CNN: a small architecture space on scikit-learn's 8x8 digits and its one builder.

Three stages, each with its own width, kernel size and depth (``4 * 2 * 3 = 24`` options per
stage, 13,824 subnets); a stage's first block sets its width (and halves the resolution after
the first stage), its further blocks are residual. The one builder, :func:`build_digits_cnn`,
makes the stand-alone CNN of a concrete config and, through ``Supernet.from_space``, the
supernet::

    from symtune.hypernets import Supernet
    from symtune.studies.digits import build_digits_cnn, digits_cnn_space

    space = digits_cnn_space()
    supernet = Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))
    standalone = build_digits_cnn(space.materialize(space.sample(0)))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import torch
from torch import nn

from symtune.hypernets import (
    ElasticBatchNorm2d,
    ElasticChoice,
    ElasticConv2d,
    ElasticLinear,
    ElasticSequential,
)

if TYPE_CHECKING:
    from symtune.spaces import Space

__all__ = ["DigitsCNN", "build_digits_cnn", "digits_cnn_space"]

Size: TypeAlias = int | ElasticChoice
"""A width, kernel size or depth: an int (stand-alone) or an ``ElasticChoice`` (supernet)."""


def digits_cnn_space(
    n_stages: int = 3,
    widths: Sequence[int] = (2, 4, 8, 16),
    kernels: Sequence[int] = (3, 5),
    depths: tuple[int, int] = (1, 3),
) -> Space:
    """The architecture space: per stage a width, a kernel size and a depth.

    Parameters are named ``stages[i].width``, ``stages[i].kernel`` and ``stages[i].depth``.
    The default widths span a factor of 8, so subnets range from about 4 kFLOPs to 2.5 MFLOPs per
    image and from about 50% to 98% validation accuracy: a broad error-vs-FLOPs front, and
    scoring fast enough for thousands of subnets on a laptop CPU.
    """
    from symtune.spaces import Space, intv, oneof

    if n_stages < 1:
        raise ValueError(f"`n_stages >= 1` must hold, but got n_stages={n_stages}")
    return Space(
        {
            "stages": [
                {
                    "width": oneof(list(widths)),
                    "kernel": oneof(list(kernels)),
                    "depth": intv(depths[0], depths[1]),
                }
                for _ in range(n_stages)
            ]
        }
    )


class ConvBNReLU(nn.Sequential):
    """Convolution, batch norm, ReLU; elastic in width and kernel size."""

    def __init__(
        self, in_channels: Size, out_channels: Size, kernel: Size, stride: int = 1
    ) -> None:
        super().__init__(
            ElasticConv2d(in_channels, out_channels, kernel, stride=stride, bias=False),
            ElasticBatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """``relu(x + bn(conv(x)))``: a block that keeps its input's width, so skipping it (a
    shallower subnet) leaves the stage's output meaningful."""

    def __init__(self, width: Size, kernel: Size) -> None:
        super().__init__()
        self.conv = ElasticConv2d(width, width, kernel, bias=False)
        self.bn = ElasticBatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual update of ``x``."""
        return torch.relu(x + self.bn(self.conv(x)))


class DigitsCNN(nn.Module):
    """Stages of blocks (each stage after the first halves the resolution), global average
    pooling and a linear classifier. A stage's first block (conv-BN-ReLU) sets its width and
    resolution; the others are residual, as in Once-for-All, so elastic depth drops blocks
    whose input and output already agree.

    Args:
        stages: per stage a mapping with ``width``, ``kernel`` and ``depth``; each an int
            (stand-alone) or an ``ElasticChoice`` (supernet).
        num_classes: the number of output classes.
        in_channels: the number of input channels.
    """

    def __init__(
        self,
        stages: Sequence[Mapping[str, Size]],
        num_classes: int = 10,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in: Size = in_channels
        for i, stage in enumerate(stages):
            blocks.append(_stage(c_in, stage["width"], stage["kernel"], stage["depth"], i > 0))
            c_in = stage["width"]
        self.stages = nn.Sequential(*blocks)
        self.head = ElasticLinear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of ``(N, 1, 8, 8)`` images."""
        return self.head(self.stages(x).mean(dim=(2, 3)))


def _stage(c_in: Size, width: Size, kernel: Size, depth: Size, down: bool) -> ElasticSequential:
    def block(j: int) -> nn.Module:
        if j == 0:
            return ConvBNReLU(c_in, width, kernel, 2 if down else 1)
        return ResidualBlock(width, kernel)

    return ElasticSequential.repeat(block, depth)


def build_digits_cnn(config: Mapping[str, Any]) -> DigitsCNN:
    """The builder: ``DigitsCNN(config["stages"])``, for concrete configs and supernets alike."""
    return DigitsCNN(config["stages"])
