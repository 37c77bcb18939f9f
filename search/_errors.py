"""The error types of symtune.search, the one way it quotes an exception in a message, and
where its warnings point."""

from __future__ import annotations

import os
import sys


class StudyError(ValueError):
    """A bad study definition, a bad argument or a storage/cluster that cannot be used.

    Every message states the rule that was broken, the offending value and where it was
    found (``create_study(directions=...)``, ``load_study('digits')``, a storage URL, ...).
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the driver during ``Study.optimize`` (a batch system preempting it,
    ``kill``, ``docker stop``). It is handled as Ctrl-C is (in-flight trials are stored FAIL
    "interrupted" and retried on the next run), then raised; ``symtune run`` exits with 143."""


def one_line(error: BaseException, *, first_line: bool = False, with_type: bool = True) -> str:
    """``error`` quoted on one line, for a message or a stored reason: ``"Type: message"``.

    The message's whitespace (newlines included) is collapsed to single spaces; with
    ``first_line``, only its first non-empty line is kept (a message that goes on with a
    traceback or a long listing). ``with_type=False`` leaves the type out (a user error the
    CLI prints as it is). An empty message gives the type's name alone.
    """
    text = str(error).strip()
    if first_line:
        text = text.splitlines()[0] if text else ""
    text = " ".join(text.split())
    name = type(error).__name__
    if not text:
        return name
    return f"{name}: {text}" if with_type else text


def outside_search_level() -> int:
    """The ``stacklevel`` that makes a warning, issued by this function's caller, point at the
    first frame outside ``symtune.search`` (the user's call)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame, level = frame.f_back, level + 1
    return level
