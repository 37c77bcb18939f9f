"""Predictor-guided search moved to ``symtune.search.samplers`` (issue 10); the old names in
``symtune.hypernets`` still work for one release, each use with a DeprecationWarning."""

from __future__ import annotations

import subprocess
import sys

import pytest

import symtune.hypernets
import symtune.search
import symtune.search.samplers

MOVED = {
    "PredictorSampler": "symtune.search.samplers.PredictorSampler",
    "PredictorSearchConfig": "symtune.search.samplers.PredictorSearchConfig",
    "PredictorSearchResult": "symtune.search.samplers.PredictorSearchResult",
    "enqueue_predicted_front": "symtune.search.samplers.enqueue_predicted_front",
    "make_regressor": "symtune.search.samplers.make_regressor",
    "predictor_guided_search": "symtune.search.samplers.predictor_guided_search",
    "propose_candidates": "symtune.search.samplers.propose_candidates",
    "non_dominated_ranks": "symtune.search.non_dominated_ranks",
}


@pytest.mark.parametrize("name", sorted(MOVED))
def test_old_name_warns_with_the_new_place_and_is_the_same_object(name: str) -> None:
    module, _, new_name = MOVED[name].rpartition(".")
    with pytest.warns(DeprecationWarning, match=f"moved to {MOVED[name]}") as record:
        old = getattr(symtune.hypernets, name)
    assert old is getattr(sys.modules[module], new_name)
    assert all(w.filename == __file__ for w in record)  # points at the caller, not at symtune


def test_from_import_of_an_old_name_warns() -> None:
    with pytest.warns(DeprecationWarning, match="symtune.search.samplers.PredictorSampler"):
        from symtune.hypernets import PredictorSampler
    assert PredictorSampler is symtune.search.samplers.PredictorSampler


def test_old_names_are_not_advertised_and_unknown_names_still_fail() -> None:
    assert not set(MOVED) & set(symtune.hypernets.__all__)
    assert set(MOVED) - {"non_dominated_ranks"} <= set(symtune.search.samplers.__all__)
    assert "non_dominated_ranks" in symtune.search.__all__
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = symtune.hypernets.NoSuchName


def test_importing_hypernets_does_not_import_search() -> None:
    code = (
        "import sys, symtune.hypernets; "
        "sys.exit(sorted(m for m in sys.modules if m.startswith('symtune.search')) != [])"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
