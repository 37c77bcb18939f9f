"""One ``Study.optimize`` call: Ray, the study relay, the run record, then the driver."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import optuna

from symtune.search import _checkpoints, _compat, _runs
from symtune.search._driver import Driver, OptimizeOptions
from symtune.search._driver_storage import DriverStorage
from symtune.search._errors import StudyError, Terminated, one_line
from symtune.search._pool import WorkerStartError
from symtune.search._ray import ray_session
from symtune.search._relay import StudyLink, study_link
from symtune.search._storage import sync_storage

if TYPE_CHECKING:
    from symtune.search._study import Study

_log = logging.getLogger("symtune.search")


def run_study(study: Study, options: OptimizeOptions) -> None:
    """Run ``study`` with ``options`` (already checked); see :meth:`Study.optimize`.

    Whether anything is left to run is decided from the storage alone, before Ray starts:
    stale trials are reconciled and finished trials counted first, so rerunning a finished
    study costs no Ray start-up.
    """
    try:
        study.storage.get_study_name_from_id(study.study_id)
    except KeyError:
        raise StudyError(
            f"study {study.name!r} is no longer in its storage (deleted: for instance "
            "removed, with no trials, because its workers could not start); call "
            "create_study again to make it anew"
        ) from None
    storage = DriverStorage(study.storage, study.study_id)
    ostudy = _compat.driver_study(  # a Study whose `direction` TPE can read: see there
        study_name=study.name, storage=storage, sampler=study.sampler, pruner=study.pruner
    )
    counts = _prepare(study, storage, ostudy, options)
    if options.n_trials is not None and counts.finished >= options.n_trials:
        _log.info("study %r already has %d finished trials", study.name, counts.finished)
        sync_storage(study.storage)
        return
    if not _checkpoints.is_url(study.checkpoint_root):  # a remote root is the workers' to reach
        _checkpoints.CheckpointStore(study.checkpoint_root, study.name).check_writable()
    import ray

    with ray_session(options.address), terminate_as_interrupt():
        check_resources(ray, options)
        _warn_local_checkpoints(ray, study)
        with study_link(study.storage, threads=max(4, options.workers)) as proxy:
            run = _runs.Run(storage, study.study_id)
            run.start()
            try:
                _drive(study, storage, ostudy, run, options, proxy, counts)
            except WorkerStartError:
                _forget_if_empty(study, run)
                raise
            finally:
                study._live_counts = None
                run.end()
                sync_storage(study.storage)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread.

    Without it, the Ray core worker's failure-signal handler in the driver dumps a native
    stack and the process ends with exit code 1. Installed after Ray has started (Ray
    installs its own handlers when it starts) and restored afterwards; only in the main
    thread, where Python runs signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    received: list[int] = []

    def terminated(signum: int, frame: Any) -> None:
        received.append(signum)
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except KeyboardInterrupt as interrupt:
        # Raised inside a Ray call (ray.wait), a handler's exception reaches Python as a
        # plain KeyboardInterrupt: say what it was.
        if received and not isinstance(interrupt, Terminated):
            raise Terminated("SIGTERM") from interrupt
        raise
    finally:  # a handler installed outside Python (Ray's) reads as None: the default, then
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _prepare(
    study: Study, storage: DriverStorage, ostudy: optuna.Study, options: OptimizeOptions
) -> _runs.Counts:
    """Reconcile stale trials (see :mod:`symtune.search._runs`) and count the trials."""
    stale = _runs.reconcile(ostudy, storage, study.study_id, options.max_retries)
    if stale:
        _log.warning(
            "study %r: trials %s were left RUNNING by a run that is gone; "
            "they are failed as stale and retried",
            study.name,
            stale,
        )
    return _runs.Counts.of(ostudy.get_trials(deepcopy=False))


def _forget_if_empty(study: Study, run: _runs.Run) -> None:
    """Delete the study if this run created it for nothing: workers could not even start,
    it has no trial and no other run ever drove it (a study that existed before stays)."""
    storage = study.storage
    try:
        if storage.get_n_trials(study.study_id) > 0:
            return
        if set(_runs.run_records(storage, study.study_id)) - {run.run_id}:
            return
        run.end()
        storage.delete_study(study.study_id)
    except Exception as exc:  # broad: the WorkerStartError being raised must not be hidden
        _log.warning(
            "study %r has no trials, and removing it from the storage failed: %s",
            study.name,
            one_line(exc),
        )
        return
    _log.warning("study %r had no trials and was removed from the storage", study.name)


def _drive(
    study: Study,
    storage: DriverStorage,
    ostudy: optuna.Study,
    run: _runs.Run,
    options: OptimizeOptions,
    proxy: StudyLink,
    counts: _runs.Counts,
) -> None:
    study._live_counts = counts
    callbacks = list(options.callbacks)
    progress = None
    if options.show_progress:
        from symtune.search._progress import ProgressBar

        progress = ProgressBar(study, options.n_trials)
        callbacks.append(progress)
    driver = Driver(
        study=study,
        storage=storage,
        optuna_study=ostudy,
        run=run,
        options=options,
        proxy=proxy,
        counts=counts,
        on_trial=callbacks,
    )
    try:
        driver.execute()
    finally:
        if progress is not None:
            progress.close()


def _warn_local_checkpoints(ray: Any, study: Study) -> None:
    """On a cluster of several nodes, the default checkpoint root (a folder on the driver's
    disk) is not where another node's workers write: say so once per run."""
    from symtune.search import _checkpoints

    root = study.checkpoint_root
    default = _checkpoints.default_checkpoint_root(study.storage_url)
    if root != default or len([n for n in ray.nodes() if n.get("Alive")]) < 2:
        return
    _log.warning(
        "study %r keeps trial checkpoints in %s, a folder on this machine: a trial retried on "
        "another node will not find its checkpoint there; pass create_study(checkpoint_root=...) "
        "a folder every node sees, or an fsspec URL (s3://..., gs://...)",
        study.name,
        root,
    )


def check_resources(ray: Any, options: OptimizeOptions) -> None:
    """Fail fast when no node of the cluster can ever run one trial."""
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    cpus = max((node["Resources"].get("CPU", 0.0) for node in nodes), default=0.0)
    gpus = max((node["Resources"].get("GPU", 0.0) for node in nodes), default=0.0)
    if options.cpus_per_trial <= cpus and options.gpus_per_trial <= gpus:
        return
    message = (
        f"each trial asks for cpus_per_trial={options.cpus_per_trial} and "
        f"gpus_per_trial={options.gpus_per_trial}, but the largest Ray node has {cpus:g} CPU "
        f"and {gpus:g} GPU"
    )
    if options.address is None:
        raise StudyError(message)
    _log.warning("%s; trials wait until the cluster has such a node", message)
