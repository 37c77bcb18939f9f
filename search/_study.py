"""``Study``: a search space, an objective and an Optuna study in Optuna's storage."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from symtune.search import _checkpoints, _results, _runs
from symtune.search._errors import StudyError
from symtune.search._storage import NoStorageFile, open_storage
from symtune.search._study_space import (
    check_resumed_space,
    store_space,
    stored_space,
    with_tuned_values,
)
from symtune.search._trial import reported_values

if TYPE_CHECKING:
    import pandas as pd

    from symtune.search._driver import Callback
    from symtune.spaces import Space

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
Objective = Callable[[Any, Any], Any]


class Study:
    """A study: what to search (a ``Space``), how to score a point (the objective), and
    every trial so far, kept in an Optuna storage.

    Build one with :func:`create_study` or :func:`load_study`; run it with
    :meth:`optimize`; read it with :meth:`results`, :meth:`pareto_front`,
    :meth:`hypervolume`, :meth:`plot_pareto_front` and :meth:`best_config`. The underlying
    :class:`optuna.Study` is :attr:`optuna_study`, so every Optuna tool applies too.
    """

    def __init__(
        self,
        optuna_study: optuna.Study,
        *,
        storage: BaseStorage,
        storage_url: str,
        space: Space | None,
        objective: Objective | None,
        pruner: optuna.pruners.BasePruner,
        metric_names: Sequence[str] | None = None,
        space_error: str | None = None,
    ) -> None:
        if metric_names is None:
            n_objectives = len(optuna_study.directions)
            metric_names = optuna_study.metric_names or _default_metric_names(n_objectives)
        self._optuna_study = optuna_study
        self._space_error = space_error
        self._storage = storage
        self._storage_url = storage_url
        self._space = space
        self._objective = objective
        self._metric_names = tuple(metric_names)
        self._pruner = pruner
        self._study_id = storage.get_study_id_from_name(optuna_study.study_name)
        self._live_counts: _runs.Counts | None = None

    # -- what the study is -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The study's name in its storage."""
        return self._optuna_study.study_name

    @property
    def directions(self) -> tuple[str, ...]:
        """One of ``"minimize"``/``"maximize"`` per objective."""
        return tuple(d.name.lower() for d in self._optuna_study.directions)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The objectives' names (``("value",)`` or ``("value_0", ...)`` when none were given)."""
        return self._metric_names

    @property
    def space(self) -> Space | None:
        """The search space (rebuilt from storage for a loaded study, when possible)."""
        return self._space

    @property
    def space_error(self) -> str | None:
        """Why :attr:`space` is ``None`` for a loaded study (e.g. a class of the space that
        this process cannot import); ``None`` when the space is known."""
        return None if self._space is not None else self._space_error

    @property
    def objective(self) -> Objective | None:
        """The objective, ``objective(config, trial)``; ``None`` for a study loaded without one."""
        return self._objective

    @property
    def optuna_study(self) -> optuna.Study:
        """The underlying :class:`optuna.Study`."""
        return self._optuna_study

    @property
    def storage(self) -> BaseStorage:
        """The Optuna storage object the study lives in."""
        return self._storage

    @property
    def storage_url(self) -> str:
        """Where the study lives: a journal file path or a storage URL (password hidden)."""
        return self._storage_url

    @property
    def sampler(self) -> optuna.samplers.BaseSampler:
        """The sampler the driver asks (by default TPE: multivariate for one objective,
        independent for several; both with the constant liar)."""
        return self._optuna_study.sampler

    @property
    def pruner(self) -> optuna.pruners.BasePruner:
        """The pruner that ``trial.should_prune()`` consults on the workers."""
        return self._pruner

    @property
    def study_id(self) -> int:
        """The study's id in its storage."""
        return self._study_id

    @property
    def checkpoint_root(self) -> str:
        """Where the trials' checkpoints go (``create_study(checkpoint_root=...)``): a folder
        or an fsspec URL; by default ``symtune-checkpoints`` beside the storage file."""
        attrs = self._storage.get_study_system_attrs(self._study_id)
        stored = attrs.get(_checkpoints.CHECKPOINT_ROOT_ATTR)
        if isinstance(stored, str) and stored:
            return stored
        return _checkpoints.default_checkpoint_root(self._storage_url)

    def clean_checkpoints(self, keep: str = "front") -> dict[str, Any]:
        """Delete trial checkpoints: ``keep="front"`` keeps those of the Pareto front's trials
        (for one objective, the best), ``"none"`` keeps none, ``"all"`` deletes nothing.
        Trials still running or waiting keep theirs in every case. Returns ``{"removed": [...],
        "kept": [...], "bytes_freed": n, "root": ...}`` (lists of first-attempt numbers)."""
        front = set()
        if keep == "front":
            front = {t.number for t in _results.pareto_trials(self._optuna_study)}
        store = _checkpoints.CheckpointStore(self.checkpoint_root, self.name)
        return _checkpoints.clean(store, self.trials, keep, front)

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, as Optuna's ``FrozenTrial`` objects, by number."""
        return self._optuna_study.get_trials(deepcopy=False)

    def __repr__(self) -> str:
        return (
            f"Study(name={self.name!r}, directions={list(self.directions)}, "
            f"metric_names={list(self.metric_names)}, storage={self.storage_url!r})"
        )

    # -- running -------------------------------------------------------------------------------

    def optimize(
        self,
        n_trials: int | None = None,
        *,
        workers: int = 1,
        cpus_per_trial: float = 1,
        gpus_per_trial: float = 0,
        timeout: float | None = None,
        address: str | None = None,
        max_retries: int = 2,
        callbacks: Sequence[Callback] | None = None,
        show_progress: bool = False,
        stop_after_failures: int | None = 5,
        trial_timeout: float | None = None,
        retry_timeouts: bool = False,
    ) -> None:
        """Run trials on Ray workers until the study has ``n_trials`` finished trials.

        Args:
            n_trials: the study's total of *finished* trials (COMPLETE, PRUNED, or failed
                by the objective; infrastructure failures do not count). Running a study
                again resumes it and only runs what is missing (decided from the storage
                before Ray starts: a finished study starts no Ray). Drivers sharing a study
                end at ``n_trials`` together, plus at most the trials they had in flight
                when it was reached. ``None``: until ``timeout`` or Ctrl-C.
            workers: evaluations kept in flight at all times (one Ray actor each).
            cpus_per_trial, gpus_per_trial: Ray resources of each evaluation; fractions
                allowed (``gpus_per_trial=0.5``: two trials share a GPU).
            timeout: the study's budget in seconds: once it passes no new trial starts, and
                the trials still running are waited for and stored as they end (bound that
                wait with ``trial_timeout``).
            address: a Ray cluster to join (``"host:6379"``, ``"auto"``); left running.
                ``None``: Ray already initialised in this process is used, otherwise a
                local Ray on 127.0.0.1 is started and shut down afterwards.
            max_retries: how often the parameters of a trial whose worker died are
                retried. Only a trial's own deaths count: trials that shared the dying
                worker are retried without spending theirs, and every retry after a death
                runs on a worker alone. Interrupted trials (Ctrl-C, SIGTERM) and stale ones
                (their driver died) are always retried, without spending any.
            callbacks: called in the driver as ``callback(study, frozen_trial)`` after every
                trial it stores (finished, or failed by the infrastructure). A callback may
                enqueue trials (``study.optuna_study.enqueue_trial(params)``); they run next.
            show_progress: show a progress bar on the terminal.
            stop_after_failures: stop with a :class:`StudyError` quoting the exception when
                the first this-many trials of this call all fail with the same exception
                (same type and message: a typo in the objective). Counted from the start of
                each call, also on a resumed study; any other first outcome (a trial that
                completes, is pruned, or fails differently) turns the check off for the rest
                of the call. ``None``: never stop early.
            trial_timeout: seconds each trial may run. A trial over it stops at its next
                ``trial.report``, ``should_prune`` or ``save_checkpoint`` (they raise
                :class:`~symtune.search.TrialTimeout`); one that does not return within
                5 s more has its worker killed. Either way it is stored as FAIL with
                ``fail_kind`` "timeout" and the user attribute ``elapsed_s``, it counts as
                finished, and the study goes on. Trials are then sent one at a time (no
                batching or queueing ahead, which only short trials use).
            retry_timeouts: retry a timed-out trial's parameters (within ``max_retries``)
                instead of counting it finished; a retry resumes from its checkpoint.

        Raises:
            StudyError: bad arguments, a cluster that does not answer, an objective that
                returns the wrong number of values or only fails (``stop_after_failures``),
                workers that cannot import the objective, or workers that keep dying.
            KeyboardInterrupt: after in-flight trials were stored as FAIL "interrupted"
                (Ctrl-C; for SIGTERM to the driver its subclass
                :class:`~symtune.search.Terminated`). ``timeout`` is not an interrupt: when
                it passes no new trial starts, the running ones finish and are stored.
        """
        from symtune.search._driver import OptimizeOptions
        from symtune.search._optimize import run_study

        options = OptimizeOptions(
            n_trials=n_trials,
            workers=workers,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            timeout=timeout,
            address=address,
            max_retries=max_retries,
            callbacks=_as_callbacks(callbacks),
            show_progress=show_progress,
            stop_after_failures=stop_after_failures,
            trial_timeout=trial_timeout,
            retry_timeouts=retry_timeouts,
        )
        options.check()
        if self._objective is None or self._space is None:
            missing = "objective" if self._objective is None else "space"
            raise StudyError(
                f"study {self.name!r} was loaded without its {missing}: pass space= and "
                "objective= to load_study (or use create_study) to optimize it"
            )
        run_study(self, options)

    def counts(self) -> dict[str, int]:
        """Trial counts: ``finished`` (= complete + pruned + failed), ``complete``,
        ``failed`` (by the objective), ``pruned``, ``running``, ``infra_failed``
        (worker died, interrupted or stale; retried, not finished), and ``suggest_failed``
        (the space could not suggest the trial's parameters; not finished, not retried).

        Cheap while :meth:`optimize` runs (kept by the driver), one storage read otherwise.
        """
        if self._live_counts is not None:
            return self._live_counts.as_dict()
        return _runs.Counts.of(self.trials).as_dict()

    # -- reading -------------------------------------------------------------------------------

    def results(self) -> pd.DataFrame:
        """All trials as a pandas DataFrame, one row a trial, by number.

        Columns: ``number``, ``state``; each metric by name; each parameter by its space
        name with a readable value (``Space.describe``; the stored value when the space is
        unknown); ``duration`` (seconds from ask to tell), ``datetime_start``,
        ``datetime_complete``, ``node`` and ``node_id`` (the Ray node), ``retries`` and
        ``retry_of`` (a retry's attempt count and first attempt), ``fail_kind`` and
        ``fail_reason``; then every other user attribute as ``attr_<key>`` (for an
        objective that raised: ``attr_exception_type``, ``attr_exception_message``,
        ``attr_exception_traceback``).

        The study's own user attributes ride along in ``frame.attrs`` (pandas metadata):
        e.g. ``frame.attrs["supernet.kendall_tau"]``, a supernet study's ranking check.
        """
        return self._frame(self.trials)

    def pareto_front(self) -> pd.DataFrame:
        """The non-dominated COMPLETE trials (same columns and ``attrs`` as :meth:`results`).

        Correct for any mix of minimised and maximised metrics; for one objective, the best
        trial(s). Sorted by the first metric, best first.
        """
        return self._frame(_results.pareto_trials(self._optuna_study))

    def intermediate_values(self, trial_number: int) -> dict[int, list[float | None]]:
        """What trial ``trial_number`` reported, ``{step: [one entry per objective]}``.

        With one objective, Optuna's intermediate values (``[value]`` per step). With several,
        the vectors that ``trial.report`` stored (``None`` for an objective not reported at
        that step; see :meth:`~symtune.search.TrialHandle.report`).
        """
        trial = self._trial(trial_number)
        if len(self._optuna_study.directions) == 1:
            return {step: [value] for step, value in sorted(trial.intermediate_values.items())}
        return reported_values(trial)

    def _frame(self, trials: list[FrozenTrial]) -> pd.DataFrame:
        frame = _results.trials_frame(trials, self._metric_names, self._space)
        frame.attrs.update(self._optuna_study.user_attrs)
        return frame

    def hypervolume(self, reference_point: Sequence[float]) -> float:
        """The hypervolume of the COMPLETE trials up to ``reference_point`` (metric units)."""
        return _results.hypervolume(self._optuna_study, reference_point)

    def plot_pareto_front(self, path: str | os.PathLike[str]) -> Path:
        """Write the Pareto front to ``path``: ``.html`` (plotly) or ``.png`` (matplotlib).

        With one objective the front is the best value so far: the plot is then the
        optimization history (every trial's value and the best so far).
        """
        return _results.plot_pareto_front(
            self._optuna_study, self._metric_names, path, space=self._space
        )

    @property
    def best_trial(self) -> FrozenTrial:
        """The best COMPLETE trial of a single-objective study."""
        self._check_single("best_trial")
        try:
            return self._optuna_study.best_trial
        except ValueError:
            raise StudyError(f"study {self.name!r} has no COMPLETE trial yet") from None

    def best_config(self, trial_number: int | None = None) -> Any:
        """The materialised config of the best trial, or of trial ``trial_number``.

        With several objectives there is no single best trial: pass ``trial_number`` (one of
        :meth:`pareto_front`'s ``number`` column).

        Self-tuned hyperparameters (``selftuned(...)``) come as the final values the trial's
        self-tuning network reached (its user attributes ``selftuned.NAME``, which
        ``symtune.hypernets`` results store), not as ``SelfTunedValue`` placeholders. Where the
        trial stored no such value, the placeholder stays (with a warning). Dicts, lists,
        tuples and dataclasses of the config are filled in; an object that a symbolic call
        built from a placeholder keeps it.
        """
        if self._space is None:
            why = f": {self._space_error}" if self._space_error else ""
            raise StudyError(
                f"study {self.name!r} has no space to build configs from{why}; pass space= "
                "to load_study"
            )
        trial = self.best_trial if trial_number is None else self._trial(trial_number)
        return with_tuned_values(self._space.materialize(trial.params), trial)

    def _trial(self, number: int) -> FrozenTrial:
        trials = self.trials
        if (
            not isinstance(number, int)
            or isinstance(number, bool)
            or not (0 <= number < len(trials))
        ):
            raise StudyError(
                f"`trial_number` must be a trial of study {self.name!r} (0 to "
                f"{len(trials) - 1}), but got {number!r}"
            )
        return trials[number]

    def _check_single(self, what: str) -> None:
        if len(self._metric_names) > 1:
            front = [t.number for t in _results.pareto_trials(self._optuna_study)]
            raise StudyError(
                f"`{what}` needs a single objective, but study {self.name!r} has "
                f"{len(self._metric_names)} ({list(self._metric_names)}); pass "
                f"trial_number= (the Pareto front has trials {front})"
            )


# -- building studies ---------------------------------------------------------------------------


def create_study(
    space: Any,
    objective: Objective,
    *,
    name: str | None = None,
    directions: Sequence[str] | str = ("minimize",),
    metric_names: Sequence[str] | None = None,
    storage: str | os.PathLike[str] | BaseStorage | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    load_if_exists: bool = True,
    seed: int | None = None,
    allow_space_change: bool = False,
    checkpoint_root: str | os.PathLike[str] | None = None,
) -> Study:
    """Create a study (or, with ``load_if_exists``, resume the one of that name).

    Args:
        space: a :class:`~symtune.spaces.Space`, or anything ``Space(value)`` accepts.
        objective: ``objective(config, trial) -> float | sequence of floats``, where
            ``config = space.materialize(params)`` and ``trial`` is a
            :class:`~symtune.search.TrialHandle`. It runs on Ray workers, so it must be
            picklable (functions, closures and callable objects are).
        name: the study's name; default: the objective's name.
        directions: ``"minimize"``/``"maximize"``, one per value the objective returns.
        metric_names: a name per objective (shown in tables, plots and optuna-dashboard).
        storage: ``None`` (``./symtune.journal``), an Optuna storage URL, a journal file path
            or an ``optuna.storages.BaseStorage``.
        sampler: any Optuna sampler; default ``TPESampler(multivariate=True,
            constant_liar=True)`` for one objective and ``TPESampler(multivariate=False,
            constant_liar=True)`` for several (chosen by ``benchmarks/samplers.py``).
        pruner: any Optuna pruner, used by ``trial.should_prune()``; default
            ``MedianPruner`` for one objective, :class:`~symtune.search.ParetoPruner` (Pareto
            dominance at successive-halving rungs) for several.
        load_if_exists: reuse a study of the same name (its directions, metric names and
            space must match).
        seed: seed of the default sampler. A resumed study's default sampler is seeded
            from ``(seed, number of trials already in the study)``: it goes on where the
            study stopped instead of replaying its first proposals, and the same seed and
            the same history give the same next proposals. A ``sampler`` you pass is used
            as it is (symtune cannot reseed it): seed it from the history yourself, e.g.
            ``NSGAIISampler(seed=seed + n)`` with ``n`` the study's number of trials so far
            (``len(load_study(name, storage).trials)``, 0 for a new study).
        allow_space_change: resume a study of the same name whose stored space differs
            from ``space`` (otherwise a ``StudyError`` names the difference). The new space
            is stored; the old trials stay and the sampler sees them: TPE and NSGA-II use
            their values of parameters whose distributions are unchanged (or compatible),
            ignore old trials for parameters they lack, and ``results()`` shows old trials'
            parameters as stored. Changes that Optuna's storages refuse within one study are
            a ``StudyError`` even so: a ``oneof`` or ``manyof`` slot whose candidates changed
            (Optuna keeps one list of choices per parameter), or a parameter whose kind or
            log scale changed; use a new study name, or keep the old parameter and add the
            new candidates under a new parameter name.
        checkpoint_root: where trials save checkpoints (``trial.save_checkpoint``): a
            folder (on a cluster, one every node sees) or an fsspec URL (``s3://bucket/x``).
            Stored with the study; default ``symtune-checkpoints`` beside the storage file
            (in the working directory for a database).
    """
    space = _as_space(space)
    root = None if checkpoint_root is None else _checkpoints.check_root(checkpoint_root)
    if not callable(objective):
        raise StudyError(
            f"`objective` must be callable as objective(config, trial), but got {objective!r}"
        )
    dirs = _check_directions(directions)
    names = _check_metric_names(metric_names, len(dirs))
    study_name = _check_name(name) if name is not None else _default_name(objective)
    seed = _check_seed(seed)
    inner, url = open_storage(storage)
    sampler = _check_sampler(sampler)
    pruner = _check_pruner(pruner) or _default_pruner(len(dirs))
    try:
        ostudy = optuna.create_study(
            storage=inner,
            study_name=study_name,
            directions=[StudyDirection[d.upper()] for d in dirs],
            sampler=sampler or _default_sampler(len(dirs), seed),
            pruner=pruner,
        )
    except optuna.exceptions.DuplicatedStudyError:
        if not load_if_exists:
            raise StudyError(
                f"a study named {study_name!r} already exists in {url}; pass "
                "load_if_exists=True to resume it, or choose another name"
            ) from None
        ostudy = _load_optuna_study(inner, study_name, sampler, pruner, seed)
        _check_resumed(ostudy, inner, url, space, dirs, names, allow_space_change)
    else:
        _store_new(ostudy, inner, space, names)
    study = Study(
        ostudy, storage=inner, storage_url=url, space=space, objective=objective, pruner=pruner
    )
    stored = inner.get_study_system_attrs(study.study_id)
    if root is not None or _checkpoints.CHECKPOINT_ROOT_ATTR not in stored:
        inner.set_study_system_attr(
            study.study_id,
            _checkpoints.CHECKPOINT_ROOT_ATTR,
            root or _checkpoints.default_checkpoint_root(url),
        )
    return study


def load_study(
    name: str,
    storage: str | os.PathLike[str] | BaseStorage | None = None,
    *,
    space: Any = None,
    objective: Objective | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> Study:
    """Open the study ``name`` in ``storage`` (default ``./symtune.journal``).

    Results, the Pareto front and plots work from the storage alone; the space is rebuilt
    from the JSON stored with the study when possible (for readable parameters and
    :meth:`Study.best_config`). To :meth:`Study.optimize` it, pass ``space`` and
    ``objective``.
    """
    if not isinstance(name, str) or not name:
        raise StudyError(f"`name` must be a non-empty study name, but got {name!r} (load_study)")
    try:
        inner, url = open_storage(storage, create=False)
    except NoStorageFile as exc:
        raise StudyError(f"no study named {name!r}: {exc}") from None
    try:
        study_id = inner.get_study_id_from_name(name)
    except KeyError:
        known = sorted(s.study_name for s in inner.get_all_studies())
        raise StudyError(
            f"no study named {name!r} in {url}; the studies there are {known}"
        ) from None
    sampler = _check_sampler(sampler)
    pruner = _check_pruner(pruner) or _default_pruner(len(inner.get_study_directions(study_id)))
    ostudy = _load_optuna_study(inner, name, sampler, pruner)
    resolved, why = (_as_space(space), None) if space is not None else stored_space(inner, study_id)
    return Study(
        ostudy,
        storage=inner,
        storage_url=url,
        space=resolved,
        objective=objective,
        pruner=pruner,
        space_error=why,
    )


def _load_optuna_study(
    storage: BaseStorage,
    name: str,
    sampler: optuna.samplers.BaseSampler | None,
    pruner: optuna.pruners.BasePruner,
    seed: int | None = None,
) -> optuna.Study:
    """Optuna's study ``name`` (it exists) with ``sampler``, or with the default sampler,
    seeded for the history so far (:func:`_resumed_seed`)."""
    if sampler is None:
        n_objectives = len(storage.get_study_directions(storage.get_study_id_from_name(name)))
        sampler = _default_sampler(n_objectives, _resumed_seed(seed, storage, name))
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def _store_new(
    ostudy: optuna.Study, storage: BaseStorage, space: Space, names: list[str] | None
) -> None:
    """Store what a new study keeps besides Optuna's own: its metric names and its space."""
    if names is not None:
        _set_metric_names(ostudy, names)
    store_space(
        storage, storage.get_study_id_from_name(ostudy.study_name), ostudy.study_name, space
    )


def _check_resumed(
    ostudy: optuna.Study,
    storage: BaseStorage,
    url: str,
    space: Space,
    dirs: list[str],
    names: list[str] | None,
    allow_space_change: bool,
) -> None:
    """Check that the stored study ``create_study`` resumes is the one it describes; store
    metric names it gained."""
    stored_dirs = [d.name.lower() for d in ostudy.directions]
    if stored_dirs != dirs:
        raise StudyError(
            f"study {ostudy.study_name!r} in {url} has directions {stored_dirs}, but "
            f"create_study got directions={dirs}; use another name for a different study"
        )
    stored_names = ostudy.metric_names
    if names is not None and stored_names is not None and list(stored_names) != names:
        raise StudyError(
            f"study {ostudy.study_name!r} in {url} has metric_names {list(stored_names)}, "
            f"but create_study got metric_names={names}"
        )
    study_id = storage.get_study_id_from_name(ostudy.study_name)
    check_resumed_space(storage, study_id, ostudy.study_name, url, space, allow_space_change)
    if names is not None and stored_names is None:
        _set_metric_names(ostudy, names)


def _as_space(value: Any) -> Space:
    from symtune.spaces import Space

    return value if isinstance(value, Space) else Space(value)


def _check_directions(directions: Sequence[str] | str) -> list[str]:
    items = [directions] if isinstance(directions, (str, StudyDirection)) else directions
    try:
        items = list(items)
    except TypeError:
        items = None  # type: ignore[assignment]
    if not items:
        raise StudyError(
            "`directions` must be a non-empty sequence of 'minimize'/'maximize', but got "
            f"{directions!r} (in create_study)"
        )
    out = []
    for item in items:
        text = item.name.lower() if isinstance(item, StudyDirection) else item
        if text not in ("minimize", "maximize"):
            raise StudyError(
                f"every direction must be 'minimize' or 'maximize', but got {item!r} in "
                f"directions={directions!r} (in create_study)"
            )
        out.append(text)
    return out


def _check_metric_names(names: Sequence[str] | None, n: int) -> list[str] | None:
    if names is None:
        return None
    items = [names] if isinstance(names, str) else list(names)
    if len(items) != n:
        raise StudyError(
            f"`metric_names` must name each of the {n} objective(s) (one per direction), but "
            f"got {len(items)}: {items!r} (in create_study)"
        )
    if not all(isinstance(x, str) and x for x in items) or len(set(items)) != len(items):
        raise StudyError(
            f"`metric_names` must be distinct non-empty strings, but got {items!r} "
            "(in create_study)"
        )
    return items


MAX_NAME_LENGTH = 512
"""The longest study name: what Optuna's RDB storages hold (``study_name`` is VARCHAR(512)),
so that a study's name works in every storage."""


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        shown = name if not isinstance(name, str) or len(name) <= 60 else f"{name[:40]}..."
        raise StudyError(
            "a study name must be a non-empty string of at most "
            f"{MAX_NAME_LENGTH} letters, digits, '_', '-' and '.', but got name={shown!r}"
            + (f" ({len(name)} characters)" if isinstance(name, str) else "")
            + " (in create_study)"
        )
    return name


def _as_callbacks(callbacks: Any) -> tuple[Any, ...]:
    if callbacks is None:
        return ()
    if callable(callbacks) or isinstance(callbacks, (str, bytes)):
        items = None
    else:
        try:
            items = tuple(callbacks)
        except TypeError:
            items = None
    if items is None:
        raise StudyError(
            "`callbacks` must be a sequence of callables callback(study, frozen_trial), but "
            f"got {callbacks!r} (in Study.optimize; wrap a single one in a list)"
        )
    return items


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise StudyError(
            f"`seed` must be None or an int in [0, 2**32 - 1], but got seed={seed!r} "
            "(in create_study)"
        )
    return seed


def _default_name(objective: Any) -> str:
    raw = getattr(objective, "__name__", None) or type(objective).__name__
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "_", str(raw)).strip("_")
    return cleaned[:MAX_NAME_LENGTH] or "study"


def _default_metric_names(n: int) -> tuple[str, ...]:
    return ("value",) if n == 1 else tuple(f"value_{i}" for i in range(n))


def _default_sampler(n_objectives: int, seed: int | None) -> optuna.samplers.BaseSampler:
    """Chosen by measurement (``benchmarks/samplers.py``, the README's sampler table): with
    two trials in flight, multivariate TPE with the constant liar ranked first over one
    objective, and independent TPE with the constant liar over several (NSGA-II's first
    generations were no better than random search there). Spelled out, so that a change of
    Optuna's own defaults does not change symtune's."""
    if n_objectives == 1:
        return optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
    return optuna.samplers.TPESampler(multivariate=False, constant_liar=True, seed=seed)


def _default_pruner(n_objectives: int) -> optuna.pruners.BasePruner:
    """``MedianPruner`` for one objective; ``ParetoPruner`` for several (Optuna's pruners
    judge one objective only)."""
    if n_objectives == 1:
        return optuna.pruners.MedianPruner()
    from symtune.search._pareto_pruner import ParetoPruner

    return ParetoPruner()


def _resumed_seed(seed: int | None, storage: BaseStorage, study_name: str) -> int | None:
    """The default sampler's seed for a study resumed with ``seed`` (``None``: unseeded).

    Seeding it with ``seed`` again would replay the first run's proposals (NSGA-II's first
    generation, TPE's start-up trials); mixing in the number of trials so far makes it go on,
    and keeps it reproducible: the same seed and the same history give the same seed.
    """
    if seed is None:
        return None
    study_id = storage.get_study_id_from_name(study_name)
    n_trials = len(storage.get_all_trials(study_id, deepcopy=False))
    if n_trials == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, n_trials]).generate_state(1)[0])


def _check_sampler(sampler: Any) -> optuna.samplers.BaseSampler | None:
    if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
        raise StudyError(
            f"`sampler` must be an optuna.samplers.BaseSampler, but got {sampler!r} "
            "(in create_study)"
        )
    return sampler


def _check_pruner(pruner: Any) -> optuna.pruners.BasePruner | None:
    if pruner is not None and not isinstance(pruner, optuna.pruners.BasePruner):
        raise StudyError(
            f"`pruner` must be an optuna.pruners.BasePruner, but got {pruner!r} (in create_study)"
        )
    return pruner


def _set_metric_names(ostudy: optuna.Study, names: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ostudy.set_metric_names(names)
