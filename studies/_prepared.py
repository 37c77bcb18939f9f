"""What a supernet study's ``prepare`` builds, kept on disk so a resume does not build it again.

A supernet study trains its supernet and runs its ranking check in the driver before the first
trial: minutes on a CPU (the stdlib language model: about 15 CPU-minutes). ``symtune run``
calls ``prepare`` again on every resume, and training is deterministic (seeded, one thread),
so the second run would only repeat the first. :func:`cached_prepare` keeps the trained weights
and the study attributes in one file per recipe under the cache folder, and loads them when
the same recipe is prepared again.

The file's name holds a hash of the recipe (the study's sizes and options), the Python, torch
and symtune versions, the corpus it read where the recipe names one, and the source of the
study module and of ``symtune.hypernets``: any change to what the training depends on gives a
new file, never a stale one. The folder is ``$SYMTUNE_CACHE_DIR``, else
``$XDG_CACHE_HOME/symtune``, else ``~/.cache/symtune``; ``SYMTUNE_CACHE_DIR=off`` builds every
time. Delete a file (its path is printed) to build again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symtune.hypernets import RankingResult

Prepared = tuple[dict[str, Any], dict[str, Any]]
"""The weights (a CPU state dict) and the study's user attributes."""

_OFF = ("off", "0", "no", "false")


def cache_folder() -> Path | None:
    """The folder prepared studies are kept in (``None``: ``SYMTUNE_CACHE_DIR=off``)."""
    given = os.environ.get("SYMTUNE_CACHE_DIR")
    if given is not None and given.strip().lower() in _OFF:
        return None
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "symtune"


def _sources(module_file: str) -> list[tuple[str, str]]:
    """``(name, sha256)`` of the study module and of every source file of symtune.hypernets."""
    import symtune.hypernets

    files = [Path(module_file)]
    files += sorted(Path(symtune.hypernets.__file__).parent.rglob("*.py"))
    return [(f.name, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files]


def recipe_key(recipe: dict[str, Any], module_file: str) -> str:
    """A 16-hex-digit hash of ``recipe`` (JSON-ready) with the versions and sources it
    depends on."""
    from importlib.metadata import version

    import torch

    whole = {
        "recipe": recipe,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "symtune": version("symtune"),
        "sources": _sources(module_file),
    }
    text = json.dumps(whole, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _load(path: Path) -> Prepared | None:
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return dict(saved["state_dict"]), dict(saved["attrs"])
    except Exception as error:  # any unreadable file is built again
        warnings.warn(
            f"the prepared study in {path} cannot be read ({type(error).__name__}: {error}); "
            "building it again",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def _save(path: Path, prepared: Prepared) -> None:
    """Write atomically: a crash mid-write leaves no file, never a torn one."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save({"state_dict": prepared[0], "attrs": prepared[1]}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cached_prepare(
    name: str, recipe: dict[str, Any], module_file: str, build: Callable[[], Prepared]
) -> Prepared:
    """``build()``'s weights and attributes, from the cache when this recipe was built
    before (see the module docstring); ``name`` names the file and the messages."""
    folder = cache_folder()
    if folder is None:
        return build()
    path = folder / "studies" / f"{name}-{recipe_key(recipe, module_file)}.pt"
    if path.exists():
        loaded = _load(path)
        if loaded is not None:
            print(
                f"{name}: using the supernet prepared earlier ({path}; delete it to train again)",
                file=sys.stderr,
            )
            return loaded
    try:  # told before the build (minutes), not after it
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a read-only home still runs the study
        warnings.warn(
            f"cannot keep the prepared study in {path} ({error}); a resume trains again",
            RuntimeWarning,
            stacklevel=2,
        )
        return build()
    prepared = build()
    try:
        _save(path, prepared)
    except OSError as error:
        warnings.warn(
            f"cannot keep the prepared study in {path} ({error}); a resume trains again",
            RuntimeWarning,
            stacklevel=2,
        )
    return prepared


def ranking_attrs(ranking: RankingResult) -> dict[str, Any]:
    """The study attributes of a supernet's ranking check: the supernet's Kendall tau and the
    honest baselines' against the same stand-alone scores (ranking by parameter count, and by
    FLOPs, bigger predicted better; all higher = better), the subnets compared, and how many
    stand-alone runs converged before their cap."""
    return {
        "supernet.kendall_tau": round(float(ranking.tau), 4),
        "supernet.kendall_tau_params": round(float(ranking.tau_params), 4),
        "supernet.kendall_tau_flops": round(float(ranking.tau_flops), 4),
        "supernet.ranking_subnets": len(ranking.standalone_scores),
        "supernet.standalone_converged": f"{ranking.converged_count}/{len(ranking.converged)}",
    }


def nsga2_sampler() -> Any:
    """NSGA-II, the supernet studies' sampler (their figures were measured with it; symtune's
    default for several objectives is TPE, chosen by ``benchmarks/samplers.py``). A factory:
    ``StudySpec`` calls it once per run."""
    import optuna

    return optuna.samplers.NSGAIISampler()
