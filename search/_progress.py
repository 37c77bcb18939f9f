"""The terminal progress bar of ``Study.optimize(show_progress=True)`` and ``symtune run``."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial

if TYPE_CHECKING:
    from rich.console import Console

    from symtune.search._study import Study

_REDRAW_EVERY_S = 0.1

PIPED_WIDTH = 240
"""Columns of symtune's output when stdout is not a terminal (a file, a pipe, a CI log): rich
would fold tables to 80 columns (one character wide for a study with many parameters) and cut
the progress bar's counts and times; a terminal keeps its own width."""


def output_console() -> Console:
    """The rich console for symtune's tables and progress bar: the terminal's width, or
    :data:`PIPED_WIDTH` columns when stdout is not a terminal."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)


class ProgressBar:
    """A rich progress bar: finished / n_trials; complete, failed, pruned and running counts;
    the best value (one objective) or the Pareto front's size (several); elapsed time and ETA.

    It is a driver callback (``callback(study, frozen_trial)``); it redraws at most ten times a
    second so that it costs nothing measurable on studies of short trials.
    """

    def __init__(self, study: Study, n_trials: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._study = study
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=output_console(),
            transient=False,
        )
        self._task = self._progress.add_task(study.name, total=n_trials, detail="")
        self._last = 0.0
        self._redraw()
        self._progress.start()

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        if time.monotonic() - self._last >= _REDRAW_EVERY_S:
            self._redraw()

    def close(self) -> None:
        """Draw the final state and stop (it stays on screen)."""
        self._redraw()
        self._progress.stop()

    def _redraw(self) -> None:
        self._last = time.monotonic()
        counts = self._study.counts()
        detail = (
            f"[green]{counts['complete']} ok[/] [red]{counts['failed']} failed[/] "
            f"[yellow]{counts['pruned']} pruned[/] [cyan]{counts['running']} running[/]"
        )
        if counts.get("infra_failed"):
            detail += f" {counts['infra_failed']} retried"
        self._progress.update(
            self._task, completed=counts["finished"], detail=f"{detail}  {self._best()}"
        )

    def _best(self) -> str:
        ostudy = self._study.optuna_study
        try:
            if len(self._study.directions) == 1:
                return f"best {ostudy.best_value:.4g}"
            return f"front {len(ostudy.best_trials)}"
        except ValueError:  # no completed trial yet
            return ""
