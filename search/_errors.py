"""The error type of symtune.search."""

from __future__ import annotations


class StudyError(ValueError):
    """A bad study definition, a bad argument or a storage/cluster that cannot be used.

    Every message states the rule that was broken, the offending value and where it was
    found (``create_study(directions=...)``, ``load_study('digits')``, a storage URL, ...).
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the driver during ``Study.optimize`` (a batch system preempting it,
    ``kill``, ``docker stop``). It is handled as Ctrl-C is (in-flight trials are stored FAIL
    "interrupted" and retried on the next run), then raised; ``symtune run`` exits with 143."""
