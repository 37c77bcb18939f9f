"""The digits model and data moved to ``symtune.studies.digits`` and ``Choice`` became
``ElasticChoice`` (issue 10); the old ``symtune.hypernets`` names still work for one release,
each use with a DeprecationWarning naming the new place."""

from __future__ import annotations

import subprocess
import sys

import pytest

import symtune.hypernets
import symtune.hypernets.supernet
import symtune.studies.digits

DIGITS = ["DigitsCNN", "DigitsData", "build_digits_cnn", "digits_cnn_space", "load_digits_data"]


@pytest.mark.parametrize("name", DIGITS)
def test_a_digits_name_warns_with_its_new_place_and_is_the_same_object(name: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"moved to symtune.studies.digits.{name}") as rec:
        old = getattr(symtune.hypernets, name)
    assert old is getattr(symtune.studies.digits, name)
    assert all(w.filename == __file__ for w in rec)  # points at the caller


def test_from_import_of_a_digits_name_warns() -> None:
    with pytest.warns(DeprecationWarning, match="symtune.studies.digits.build_digits_cnn"):
        from symtune.hypernets import build_digits_cnn
    assert build_digits_cnn is symtune.studies.digits.build_digits_cnn


def test_choice_is_a_deprecated_alias_of_elastic_choice() -> None:
    with pytest.warns(DeprecationWarning, match="renamed to symtune.hypernets.ElasticChoice"):
        from symtune.hypernets import Choice
    assert Choice is symtune.hypernets.ElasticChoice is symtune.hypernets.supernet.ElasticChoice
    width = Choice([4, 8], name="width")
    assert isinstance(width, symtune.hypernets.ElasticChoice) and width.largest == 8


def test_hypernets_advertises_no_dataset_name_and_no_old_alias() -> None:
    advertised = set(symtune.hypernets.__all__)
    assert not advertised & {*DIGITS, "Choice"}
    assert not [n for n in advertised if "digits" in n.lower()]
    assert (
        set(symtune.hypernets.stn.__all__) | set(symtune.hypernets.supernet.__all__) == advertised
    )
    assert set(DIGITS) <= set(symtune.studies.digits.__all__)


def test_importing_hypernets_imports_neither_studies_nor_search() -> None:
    code = (
        "import sys, symtune.hypernets; "
        "sys.exit(any(m.startswith(('symtune.studies', 'symtune.search')) for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
