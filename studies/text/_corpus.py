"""The Python standard library's own source files as a byte corpus, split by file.

:func:`load_stdlib_corpus` reads the fixed list :data:`~symtune.studies.text.STDLIB_FILES` as
bytes from the running Python's stdlib folder (or a folder given as ``root``), shuffles the
list by a seed, and cuts it into training, validation and test files, so no file's text is in
two parts. Each part is the concatenation of its files' bytes, in sorted name order, as a 1-D
``uint8`` tensor: the input of a byte-level language model (256 symbols, no tokenizer). No
separator is put between files (each non-empty one ends in a newline), so a window may span
the end of one file and the start of the next, always within one part.
"""

from __future__ import annotations

import os
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from symtune.studies._checks import check_number, check_seed
from symtune.studies.text._files import STDLIB_FILES

__all__ = ["TextCorpus", "load_stdlib_corpus"]

SplitName = Literal["train", "val", "test"]
_WHERE = "(load_stdlib_corpus)"
_SHOWN = 5  # missing files named in the error; the rest are counted


@dataclass(frozen=True)
class TextCorpus:
    """A byte corpus split by file: 1-D ``uint8`` tensors per part, the file names that made
    each part (sorted; concatenated in that order), and where the bytes came from.

    ``python_version`` is the running interpreter's (``platform.python_version()``), which
    says which stdlib was read when ``root`` was not given; ``stdlib_path`` is the folder
    the files were read from. ``test`` is empty when the corpus was loaded with
    ``test_fraction=0``.
    """

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    train_files: tuple[str, ...]
    val_files: tuple[str, ...]
    test_files: tuple[str, ...]
    python_version: str
    stdlib_path: str
    seed: int

    def split(self, name: SplitName) -> torch.Tensor:
        """The bytes of the part ``name``: ``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise ValueError(
                f"a corpus part is 'train', 'val' or 'test', but got {name!r} (TextCorpus.split)"
            )
        return getattr(self, name)

    def summary(self) -> dict[str, Any]:
        """What a study's report records: the source, the seed, and files and bytes per part."""
        return {
            "corpus": "python-stdlib",
            "python_version": self.python_version,
            "stdlib_path": self.stdlib_path,
            "seed": self.seed,
            "files": {p: len(getattr(self, f"{p}_files")) for p in ("train", "val", "test")},
            "bytes": {p: int(getattr(self, p).numel()) for p in ("train", "val", "test")},
        }


def _split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Checked ``(n_val, n_test)`` file counts: ``int(n * fraction)`` each, at least one
    validation file (and one test file when ``test_fraction > 0``), at least one training."""
    check_number("val_fraction", val_fraction, float, _WHERE)
    check_number("test_fraction", test_fraction, float, _WHERE)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"`0 < val_fraction < 1` must hold, but got val_fraction={val_fraction} {_WHERE}"
        )
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(
            f"`0 <= test_fraction < 1` must hold, but got test_fraction={test_fraction} {_WHERE}"
        )
    n_val, n_test = int(n * val_fraction), int(n * test_fraction)
    if n_val < 1 or (test_fraction > 0 and n_test < 1) or n - n_val - n_test < 1:
        raise ValueError(
            "every part needs at least one file, but val_fraction="
            f"{val_fraction}, test_fraction={test_fraction} give {n - n_val - n_test} training, "
            f"{n_val} validation and {n_test} test files of {n} {_WHERE}"
        )
    return n_val, n_test


def _folder(root: str | os.PathLike[str] | None) -> Path:
    """The folder to read: ``root``, or the running Python's stdlib folder."""
    if root is None:
        return Path(sysconfig.get_path("stdlib"))
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(
            f"`root` must be a path (str or os.PathLike) or None, but got "
            f"{type(root).__name__} {root!r} {_WHERE}"
        )
    folder = Path(root)
    if not folder.is_dir():
        raise NotADirectoryError(
            f"`root` must be a folder holding the standard library's sources (a CPython "
            f"source tree's Lib/), but {str(folder)!r} is not a folder {_WHERE}"
        )
    return folder


def _read_all(folder: Path, given_root: bool) -> dict[str, bytes]:
    """Every listed file's bytes; all missing files reported at once, never skipped."""
    missing = [name for name in STDLIB_FILES if not (folder / name).is_file()]
    if missing:
        shown = ", ".join(missing[:_SHOWN])
        more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        fix = (
            "point `root=` at the Lib/ folder of a CPython 3.10+ source tree"
            if given_root
            else "install your distribution's full standard library (some distributions strip "
            "or split the sources), or pass `root=` pointing at the Lib/ folder of a CPython "
            "3.10+ source tree"
        )
        raise FileNotFoundError(
            f"the stdlib corpus needs all {len(STDLIB_FILES)} of its files, but "
            f"{len(missing)} are missing from {str(folder)!r}: {shown}{more}; {fix} {_WHERE}"
        )
    return {name: (folder / name).read_bytes() for name in STDLIB_FILES}


def _concat(texts: dict[str, bytes], names: tuple[str, ...]) -> torch.Tensor:
    """The files' bytes end to end as a 1-D ``uint8`` tensor (its own memory, writable)."""
    joined = bytearray(b"".join(texts[name] for name in names))
    return (
        torch.frombuffer(joined, dtype=torch.uint8) if joined else torch.zeros(0, dtype=torch.uint8)
    )


def load_stdlib_corpus(
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
) -> TextCorpus:
    """The stdlib byte corpus, split into training, validation and test parts by file.

    The fixed, sorted list of :data:`STDLIB_FILES` (283 files, about 6 MB) is shuffled by
    ``numpy.random.default_rng(seed)`` (``seed`` an int in [0, 2**32)); the first
    ``int(N * test_fraction)`` files are the test part, the next ``int(N * val_fraction)``
    validation, the rest training. So a seed gives the same split on every machine, and the
    bytes differ only where the Python versions' files do (the corpus records the version).

    Files are read from the running Python's stdlib folder (``sysconfig.get_path("stdlib")``),
    or from ``root``, for instance the ``Lib/`` folder of a CPython source tree where a
    distribution strips or splits the sources.

    Raises:
        FileNotFoundError: when any listed file is missing from the folder (naming the files,
            the folder and what to do): the corpus is never silently smaller.
        NotADirectoryError: when ``root`` is not a folder.
        ValueError: for ``val_fraction`` outside (0, 1), ``test_fraction`` outside [0, 1),
            fractions that leave a part without a file, or a seed outside [0, 2**32).
        TypeError: for a fraction that is not a number, a seed that is not an int (bools are
            neither), or a ``root`` that is not a path.
    """
    check_seed(seed, _WHERE)
    n_val, n_test = _split_sizes(len(STDLIB_FILES), val_fraction, test_fraction)
    folder = _folder(root)
    texts = _read_all(folder, given_root=root is not None)
    order = np.random.default_rng(int(seed)).permutation(len(STDLIB_FILES))
    shuffled = [STDLIB_FILES[i] for i in order]
    test = tuple(sorted(shuffled[:n_test]))
    val = tuple(sorted(shuffled[n_test : n_test + n_val]))
    train = tuple(sorted(shuffled[n_test + n_val :]))
    return TextCorpus(
        train=_concat(texts, train),
        val=_concat(texts, val),
        test=_concat(texts, test),
        train_files=train,
        val_files=val,
        test_files=test,
        python_version=platform.python_version(),
        stdlib_path=str(folder),
        seed=int(seed),
    )
