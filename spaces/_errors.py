"""The one error type of symtune.spaces."""

from __future__ import annotations


class SpaceError(ValueError):
    """A bad space definition or a bad assignment.

    Every message states the rule that was broken, the offending values and, where known,
    the path in the space (``model.layers[1].width``).
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        if path:
            message = f"{message} (at {path})"
        super().__init__(message)
