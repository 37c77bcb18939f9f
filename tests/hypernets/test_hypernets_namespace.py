"""The ``symtune.hypernets`` namespace: one warning per deprecated import, a clean ``dir()``."""

from __future__ import annotations

import importlib
import warnings

import pytest

import symtune.hypernets
import symtune.search.samplers


def test_one_from_import_of_an_old_name_warns_exactly_once() -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        from symtune.hypernets import PredictorSampler
    deprecations = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1
    assert deprecations[0].filename == __file__
    assert PredictorSampler is symtune.search.samplers.PredictorSampler


def test_every_import_statement_warns_again() -> None:
    for _ in range(2):
        with pytest.warns(DeprecationWarning, match="renamed to symtune.hypernets.ElasticChoice"):
            from symtune.hypernets import Choice
        assert Choice is symtune.hypernets.ElasticChoice


def test_attribute_access_and_hasattr_still_warn() -> None:
    with pytest.warns(DeprecationWarning, match="symtune.studies.digits.DigitsCNN"):
        assert hasattr(symtune.hypernets, "DigitsCNN")
    with pytest.warns(DeprecationWarning, match="symtune.studies.digits.load_digits_data"):
        _ = importlib.import_module("symtune.hypernets").load_digits_data


def test_dir_lists_the_public_names_only() -> None:
    names = dir(symtune.hypernets)
    assert set(symtune.hypernets.__all__) <= set(names)
    assert {"stn", "supernet"} <= set(names)
    for helper in ("Any", "annotations", "importlib", "warnings", "sys", "PredictorSampler"):
        assert helper not in names


def test_the_docstring_names_the_new_homes_of_the_predictor_names() -> None:
    doc = symtune.hypernets.__doc__ or ""
    assert "now in\n``symtune.search.samplers``" in doc
