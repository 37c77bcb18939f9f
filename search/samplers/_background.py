"""One predictor fit in a background thread, its result or its error handed to the driver."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from symtune.search.samplers._config import Assignment

_POLL_S = 0.1  # the waiting ask wakes this often, so Ctrl-C reaches it at once


class PredictorFitError(RuntimeError):
    """A background fit of :class:`~symtune.search.samplers.PredictorSampler` raised; the
    original exception is its ``__cause__``."""


class BackgroundFit:
    """Runs ``fit()`` (a list of assignments) in a daemon thread, started at once; or waits on
    a fit already submitted to a fit process (``fit`` is its ``Future``).

    The thread gets plain data only (``fit`` closes over copies of the history); it touches
    no Optuna storage. Being a daemon, it never keeps a finished or interrupted study's
    process alive: a fit still running then is dropped with its thread.
    """

    def __init__(
        self, round_: int, fit: Callable[[], list[Assignment]] | Future[list[Assignment]]
    ) -> None:
        self.round = round_
        self._done = threading.Event()
        self._result: list[Assignment] = []
        self._error: BaseException | None = None
        if isinstance(fit, Future):  # submitted to a fit process: its future reports back
            fit.add_done_callback(self._collect)
            return
        self._fit = fit
        self._thread = threading.Thread(
            target=self._run, name=f"symtune-predictor-fit-{round_}", daemon=True
        )
        self._thread.start()

    def _collect(self, future: Future[list[Assignment]]) -> None:
        self._settle(future.result)

    def _run(self) -> None:
        self._settle(self._fit)

    def _settle(self, produce: Callable[[], list[Assignment]]) -> None:
        """Keep what ``produce()`` returns or raises, then wake the waiting ask."""
        try:
            self._result = produce()
        except BaseException as error:  # broad: handed to the driver by result(), not lost
            self._error = error
        finally:
            self._done.set()

    def done(self) -> bool:
        """Whether the fit has finished (result or error)."""
        return self._done.is_set()

    def result(self) -> tuple[list[Assignment], float]:
        """Wait for the fit; return its assignments and the seconds this call waited.

        Raises:
            PredictorFitError: the fit raised (its exception is the cause).
        """
        start = time.perf_counter()
        while not self._done.wait(_POLL_S):
            pass
        waited = time.perf_counter() - start
        if self._error is not None:
            hint = ""
            if isinstance(self._error, BrokenProcessPool):
                hint = (
                    " (the fit process died: with fit_in='process' a script that starts the "
                    "study needs `if __name__ == '__main__':`, as multiprocessing's spawn does; "
                    "or use fit_in='thread')"
                )
            raise PredictorFitError(
                f"the predictor's background fit of round {self.round} failed: "
                f"{type(self._error).__name__}: {self._error}{hint}"
            ) from self._error
        return self._result, waited


def plain_copy(history: list[tuple[dict[str, Any], tuple[float, ...]]]) -> list[Any]:
    """A copy of ``(params, values)`` pairs that the driver's later changes cannot reach."""
    return [(dict(params), tuple(values)) for params, values in history]


def fit_process(owner: object) -> ProcessPoolExecutor:
    """One spawned process for an owner's fits (its caches, e.g. of exact FLOPs, persist),
    shut down without waiting when the owner is collected or the interpreter exits."""
    import multiprocessing

    executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    weakref.finalize(owner, executor.shutdown, wait=False, cancel_futures=True)
    return executor
