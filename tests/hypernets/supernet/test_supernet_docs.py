"""The docstring examples of the supernet modules run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

torch.set_num_threads(1)


@pytest.mark.parametrize(
    "module", ["symtune.hypernets.supernet._elastic", "symtune.hypernets.supernet._supernet"]
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
