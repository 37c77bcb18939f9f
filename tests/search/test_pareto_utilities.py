"""The public Pareto utilities of ``symtune.search`` on plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.study import StudyDirection

from symtune.search import StudyError, hypervolume_of_losses, non_dominated_ranks


def test_hypervolume_of_losses_of_a_hand_computed_front() -> None:
    points = [[1.0, 2.0], [2.0, 1.0], [2.5, 2.5]]  # the third is dominated: adds nothing
    assert hypervolume_of_losses(points, [3.0, 3.0]) == pytest.approx(3.0)
    assert hypervolume_of_losses([[4.0, 1.0]], [3.0, 3.0]) == 0.0  # outside the reference
    assert hypervolume_of_losses(np.zeros((0, 2)), [3.0, 3.0]) == 0.0
    assert hypervolume_of_losses([], [3.0, 3.0]) == 0.0
    assert hypervolume_of_losses([1.0, 2.0], [4.0]) == pytest.approx(3.0)  # one objective


def test_hypervolume_of_losses_rejects_a_bad_reference() -> None:
    with pytest.raises(StudyError, match=r"`reference` must be 2 finite numbers.*\[3\.0\]"):
        hypervolume_of_losses([[1.0, 2.0]], [3.0])
    with pytest.raises(StudyError, match="in hypervolume_of_losses"):
        hypervolume_of_losses([[1.0, 2.0]], [3.0, float("nan")])
    with pytest.raises(StudyError, match=r"`points` must be an \(n, m\) array"):
        hypervolume_of_losses(np.zeros((2, 2, 2)), [3.0, 3.0])


def test_non_dominated_ranks_minimise_by_default_and_take_optuna_directions() -> None:
    points = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [6, 6], [2, 2]])
    assert non_dominated_ranks(points).tolist() == [0, 0, 0, 1, 2, 0]  # equal points share
    maximise = [StudyDirection.MAXIMIZE, StudyDirection.MAXIMIZE]
    assert non_dominated_ranks(points, maximise).tolist() == [1, 2, 1, 1, 0, 2]
    assert non_dominated_ranks([3.0, 1.0, 2.0]).tolist() == [2, 0, 1]  # one objective
    assert non_dominated_ranks(np.zeros((0, 2)), ["minimize"] * 2).tolist() == []


def test_non_dominated_ranks_rejects_directions_that_do_not_fit() -> None:
    with pytest.raises(StudyError, match=r"each of the 2 objectives, but got \['minimize'\]"):
        non_dominated_ranks([[1, 2]], ["minimize"])
    with pytest.raises(StudyError, match="'minimize' or 'maximize'"):
        non_dominated_ranks([[1, 2]], ["minimize", "up"])


@pytest.mark.parametrize("function", [hypervolume_of_losses, non_dominated_ranks])
def test_docstring_examples_hold(function: object) -> None:
    import doctest

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(function, globs={function.__name__: function}):  # type: ignore[attr-defined]
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0
