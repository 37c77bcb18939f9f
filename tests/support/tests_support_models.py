"""Importable classes and functions for tests (JSON round-trips need module paths)."""

from __future__ import annotations

from typing import Any

from symtune.spaces import symbolic


@symbolic
class Block:
    """A toy building block."""

    def __init__(self, width: int, kernel: int = 3) -> None:
        self.width = width
        self.kernel = kernel

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Block(width={self.width}, kernel={self.kernel})"


@symbolic
class Net:
    """A toy network of blocks."""

    def __init__(self, blocks: list[Any], act: str = "relu") -> None:
        self.blocks = blocks
        self.act = act

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Net(blocks={self.blocks!r}, act={self.act!r})"


def make_block(width: int) -> dict[str, int]:
    """A plain function used as a candidate value."""
    return {"width": width}
