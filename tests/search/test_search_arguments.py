"""Bad arguments of ``create_study`` and ``Study.optimize`` that once escaped as raw errors from
deep inside (numpy's seeding, Optuna's RDB commit, iterating an int): each is a ``StudyError``
naming the rule and the value, raised before anything is stored or started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from symtune.search import StudyError, create_study, load_study
from symtune.spaces import floatv

SPACE = {"x": floatv(0.0, 1.0)}


def objective(config: dict[str, Any], trial: Any) -> float:
    return float(config["x"])


@pytest.mark.parametrize("seed", ["a", -1, 2**70, float("nan"), 1.5, True])
def test_a_bad_seed_is_a_study_error_and_stores_nothing(tmp_path: Path, seed: Any) -> None:
    storage = str(tmp_path / "s.journal")
    with pytest.raises(StudyError, match=r"`seed` must be None or an int in \[0, 2\*\*32 - 1\]"):
        create_study(SPACE, objective, storage=storage, seed=seed)
    assert not Path(storage).exists()


def test_seeds_at_the_bounds_are_accepted(tmp_path: Path) -> None:
    for seed in (0, 2**32 - 1):
        create_study(
            SPACE, objective, name=f"s{seed}", storage=str(tmp_path / "s.journal"), seed=seed
        )


def test_a_study_name_longer_than_rdb_storages_hold_is_refused_everywhere(
    storage_url: str,
) -> None:
    with pytest.raises(StudyError, match=r"at most 512 .* \(600 characters\)"):
        create_study(SPACE, objective, name="n" * 600, storage=storage_url)
    longest = create_study(SPACE, objective, name="n" * 512, storage=storage_url)
    assert load_study("n" * 512, storage=storage_url).name == longest.name


@pytest.mark.parametrize("callbacks", [5, "fn", print])
def test_callbacks_that_are_not_a_sequence_are_a_study_error(
    tmp_path: Path, callbacks: Any
) -> None:
    study = create_study(SPACE, objective, storage=str(tmp_path / "s.journal"))
    with pytest.raises(StudyError, match="`callbacks` must be a sequence of callables"):
        study.optimize(n_trials=1, callbacks=callbacks)
