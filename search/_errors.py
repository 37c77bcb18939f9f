"""The error type of symtune.search."""

from __future__ import annotations


class StudyError(ValueError):
    """A bad study definition, a bad argument or a storage/cluster that cannot be used.

    Every message states the rule that was broken, the offending value and where it was
    found (``create_study(directions=...)``, ``load_study('digits')``, a storage URL, ...).
    """
