"""The offline text corpus of the byte-level language-model study: Python's own stdlib.

Every machine with Python has this corpus: :data:`STDLIB_FILES`, a fixed, sorted list of 283
pure-Python standard-library source files present in every CPython 3.10 and later (about 6
MB). :func:`load_stdlib_corpus` reads them as bytes and splits them into training,
validation and test parts by file (:class:`TextCorpus`, which records the Python version and
folder for reports); :func:`random_windows` draws next-byte training batches from a part,
:func:`fixed_windows` the same held-out windows on every call for scoring subnets, and
:func:`bits_per_byte` turns a cross-entropy in nats into bits per byte.

Example::

    import torch
    from symtune.studies.text import load_stdlib_corpus, random_windows, fixed_windows

    corpus = load_stdlib_corpus(seed=0)
    inputs, targets = random_windows(corpus.train, 128, 32, torch.Generator().manual_seed(0))
    val_inputs, val_targets = fixed_windows(corpus.val, 128, 256)
"""

from __future__ import annotations

from symtune.studies.text._corpus import TextCorpus, load_stdlib_corpus
from symtune.studies.text._files import STDLIB_FILES
from symtune.studies.text._windows import (
    BYTE_VOCAB_SIZE,
    bits_per_byte,
    fixed_windows,
    random_windows,
)

__all__ = [
    "BYTE_VOCAB_SIZE",
    "STDLIB_FILES",
    "TextCorpus",
    "bits_per_byte",
    "fixed_windows",
    "load_stdlib_corpus",
    "random_windows",
]
