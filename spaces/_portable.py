"""Why another process could not import a space's target: the rule behind
``Space.unportable_targets`` and ``Space.unportable_reasons``.

A target is portable when any process that has the same installed modules imports it by its
``module.qualname``. It is not when it is defined in ``__main__`` (a script, a notebook),
inside a function or as a lambda, when its module path does not lead back to it, or when its
module is importable only because the running script's folder is on the path (a module beside
the script, not installed and not on ``PYTHONPATH``).
"""

from __future__ import annotations

import importlib.machinery
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from symtune.spaces._structural import callable_parts

_log = logging.getLogger(__name__)


def reason(target: Any, leads_back: Callable[[str, str], bool], folders: set[str]) -> str | None:
    """Why another process cannot import ``target``, or ``None`` when it can.

    ``leads_back(module, qualname)`` tells whether importing the name gives ``target`` back;
    ``folders`` are :func:`script_folders`.
    """
    module, qualname = callable_parts(target)
    if not module or not qualname:
        return "it has no module path (a callable object, not a class or function)"
    if module == "__main__":
        return "it is defined in __main__ (a script or notebook), which only this process runs"
    if "<lambda>" in qualname:
        return "it is a lambda, which has no importable name"
    if "<" in qualname:
        return "it is defined inside a function, which has no importable name"
    if not leads_back(module, qualname):
        return f"its module path {module}:{qualname} does not lead back to it"
    folder = script_folder_of(module, folders)
    if folder is not None:
        return f"from {folder}, the script's folder (its module is not installed nor on PYTHONPATH)"
    return None


def script_folders() -> set[str]:
    """Folders whose modules only this process can import by name: the ones Python put on
    the path for the way it was started, the running script's folder (``python script.py``)
    and the working directory (``python -m``, ``-c``, a notebook or the REPL), unless the
    folder is also on the path another way (``PYTHONPATH``, an editable install's ``.pth``).
    Folders a tool puts on the path by its configuration (pytest's ``pythonpath``) are not
    among them: every run of that tool has them."""
    found: set[str] = set()
    cwd = os.path.realpath(os.curdir)
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if isinstance(main_file, str):
        found.add(os.path.dirname(os.path.realpath(main_file)))
    if (
        "" in sys.path
        or os.curdir in sys.path
        or (sys.path and os.path.realpath(sys.path[0]) == cwd)
    ):
        found.add(cwd)
    elsewhere = {os.path.realpath(p) for p in sys.path[1:] if p not in ("", os.curdir)}
    return found - elsewhere


def script_folder_of(module: str, folders: set[str]) -> str | None:
    """The folder of ``folders`` that ``module``'s top-level package or module lies in, if it
    is not installed (under ``site-packages``/``dist-packages``) nor importable otherwise."""
    file = getattr(sys.modules.get(module), "__file__", None)
    if not isinstance(file, str) or not folders:
        return None
    resolved = os.path.realpath(file)
    parts = set(resolved.split(os.sep))
    if "site-packages" in parts or "dist-packages" in parts:
        return None
    top = module.partition(".")[0]
    for folder in folders:
        package = os.path.join(folder, top)
        if resolved == package + ".py" or resolved.startswith(package + os.sep):
            return None if _importable_elsewhere(top, folders) else folder
    return None


def _importable_elsewhere(top: str, folders: set[str]) -> bool:
    """Whether ``top`` can be imported without ``folders`` on the path: through the rest of
    ``sys.path`` or another import hook (an editable install's finder)."""
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) not in folders]
    standard = (
        importlib.machinery.BuiltinImporter,
        importlib.machinery.FrozenImporter,
        importlib.machinery.PathFinder,
    )
    for finder in sys.meta_path:
        try:
            if finder is importlib.machinery.PathFinder:
                spec = importlib.machinery.PathFinder.find_spec(top, rest)
            elif finder in standard or not hasattr(finder, "find_spec"):
                continue
            else:
                spec = finder.find_spec(top, None)
        except Exception:  # a third-party hook that cannot answer: not another way in
            _log.debug("import hook %r failed to look up %r", finder, top, exc_info=True)
            continue
        if spec is not None and spec.origin != "built-in":
            return True
    return False
