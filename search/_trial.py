"""What the objective gets as ``trial``, and what a worker sends back for each trial."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from symtune.search._checkpoints import (
    Checkpoint,
    CheckpointDamaged,
    CheckpointStore,
    lineage_of,
)
from symtune.search._errors import one_line

if TYPE_CHECKING:
    import optuna
    import torch

REPORT_KEY = "symtune:report:"
"""Prefix of the trial system attributes that hold a multi-objective report, by step."""
CARRIED_PREFIXES = ("symtune:rung:", "completed_rung_")
"""System attributes of pruners' rung decisions (symtune's ParetoPruner, Optuna's successive
halving) that a retry resuming from a checkpoint carries over for the rungs it covers."""


class TrialTimeout(BaseException):
    """Raised inside the objective by ``trial.report``, ``trial.should_prune`` and
    ``trial.save_checkpoint`` once the trial has run longer than ``trial_timeout`` (see
    :meth:`Study.optimize`). It derives from ``BaseException``, as ``KeyboardInterrupt`` does,
    so an ``except Exception`` in the objective does not swallow it; the trial is stored as
    FAIL with ``fail_kind`` "timeout"."""


@dataclass
class Outcome:
    """The result of one evaluation, as a worker returns it to the driver.

    ``state`` is ``"complete"``, ``"pruned"`` or ``"fail"``; for a failure ``fail_kind`` is
    ``"exception"`` or ``"invalid value"`` (see :mod:`symtune.search._runs`), and
    ``fatal`` marks an objective that returns values of the wrong shape (the run stops).
    ``started``/``ended`` are wall-clock seconds (``time.time()``) on the worker.
    """

    state: str
    values: list[float] | None = None
    fail_kind: str | None = None
    fail_reason: str | None = None
    exception: dict[str, str] | None = None
    fatal: bool = False
    user_attrs: dict[str, Any] = field(default_factory=dict)
    node: str = ""
    node_id: str = ""
    started: float = 0.0
    ended: float = 0.0


class TrialHandle:
    """The ``trial`` argument of an objective: ``objective(config, trial)``.

    It runs on a Ray worker. ``report`` and ``should_prune`` reach the study through the
    storage proxy the driver serves (a connection is opened on first use only, once per
    worker); ``set_user_attr`` values are sent back with the result and stored by the driver.
    Raising ``optuna.TrialPruned`` from the objective stores the trial as PRUNED.
    """

    def __init__(
        self,
        number: int,
        trial_id: int,
        params: dict[str, Any],
        *,
        connect: Callable[[int], optuna.Trial] | None = None,
        node: str = "",
        node_id: str = "",
        checkpoints: CheckpointStore | None = None,
        timeout: float | None = None,
    ) -> None:
        self._number = number
        self._trial_id = trial_id
        self._params = dict(params)
        self._connect = connect
        self._optuna_trial: optuna.Trial | None = None
        self._user_attrs: dict[str, Any] = {}
        self._node = node
        self._node_id = node_id
        self._objectives: int | None = None
        self._reported_steps: set[int] = set()
        self._reports: dict[int, Any] = {}  # step -> value (one objective) or vector
        self._checkpoints = checkpoints
        self._lineage: int | None = None
        self._checkpoint_step = -1
        self._timeout = timeout
        self._started = time.monotonic()

    @property
    def number(self) -> int:
        """The trial's number in its study (0, 1, ...)."""
        return self._number

    @property
    def params(self) -> dict[str, Any]:
        """The trial's assignment: ``{parameter name: stored value}`` (a copy)."""
        return dict(self._params)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The user attributes set so far in this evaluation (a copy)."""
        return dict(self._user_attrs)

    @property
    def node(self) -> str:
        """The IP address of the Ray node this trial runs on."""
        return self._node

    @property
    def node_id(self) -> str:
        """The Ray node id (hex) of the node this trial runs on."""
        return self._node_id

    @property
    def device(self) -> torch.device:
        """The torch device Ray assigned: ``cuda:<i>`` for an assigned GPU, else ``cpu``."""
        import ray

        return device_for(ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"))

    def report(self, value: float | Sequence[float], step: int) -> None:
        """Store an intermediate objective value at ``step`` (for pruners and plots).

        One objective: exactly Optuna's ``Trial.report``. Several objectives (which Optuna's
        ``report`` refuses): ``value`` is the first objective's value (a float) or a value
        per objective (a sequence); the first objective's value is stored as Optuna's
        intermediate value (optuna-dashboard draws its curve), and the whole vector as the
        trial system attribute ``symtune:report:<step>``, one entry per objective, ``None``
        for those not reported (read them back with :func:`reported_values`). A step
        reported twice keeps its first value, as in Optuna.
        """
        self._check_time()
        trial = self._optuna()
        n = self._n_objectives(trial)
        if n == 1:
            trial.report(value, step)  # type: ignore[arg-type]
            if isinstance(step, int) and step not in self._reports:
                self._reports[step] = float(value)  # type: ignore[arg-type]
            return
        first, vector = _report_vector(value, n)
        step = _report_step(step)
        if step in self._reported_steps:
            warnings.warn(
                f"trial {self._number}: the value reported again at step={step} is ignored "
                "because that step is already reported",
                UserWarning,
                stacklevel=2,
            )
            return
        self._reported_steps.add(step)
        self._reports[step] = vector
        trial.storage.set_trial_intermediate_value(self._trial_id, step, first)
        trial.storage.set_trial_system_attr(self._trial_id, f"{REPORT_KEY}{step}", vector)

    def should_prune(self) -> bool:
        """Whether the study's pruner says to stop this trial now (then raise TrialPruned).

        One objective: Optuna's ``Trial.should_prune``. Several objectives: the study's
        :class:`~symtune.search.ParetoPruner` judges the reported vectors (Pareto dominance at
        successive-halving rungs). Optuna's own pruners judge one objective only, so with one
        of them the answer is ``False`` (with a warning, once per process, unless the pruner
        is ``NopPruner``).
        """
        self._check_time()
        trial = self._optuna()
        if self._n_objectives(trial) == 1:
            return bool(trial.should_prune())
        pruner = trial.study.pruner
        if getattr(pruner, "judges_vectors", False):  # symtune's ParetoPruner
            return bool(pruner.prune(trial.study, trial.storage.get_trial(self._trial_id)))
        _warn_cannot_prune(pruner)
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable ``value`` to the trial (stored when the trial ends).

        numpy and torch scalars and arrays are stored as Python numbers and lists
        (``value.tolist()``), so a metric kept as ``np.float32`` stays a number in
        ``results()``. Anything else that JSON cannot hold is stored as its ``repr``, with a
        warning naming the key.
        """
        if not isinstance(key, str):
            raise TypeError(f"a user attribute key must be a str, but got {key!r}")
        self._user_attrs[key] = _jsonable(key, value)

    # -- checkpoints -----------------------------------------------------------------------------

    def save_checkpoint(
        self, state: Any = None, *, step: int, folder: str | os.PathLike[str] | None = None
    ) -> None:
        """Save this trial's checkpoint at ``step``: ``state`` (anything ``torch.save`` stores:
        state dicts, tensors, numbers) or the files of a local ``folder``, not both.

        It goes to the study's checkpoint root (``create_study(checkpoint_root=...)``) and
        replaces this trial's previous checkpoint in one step: a crash while saving leaves the
        previous one. Report step ``step`` before saving it: a retry that loads the checkpoint
        keeps the values reported up to ``step`` and goes on at ``step + 1``. Steps must not
        go back (``step`` >= the last saved step).
        """
        self._check_time()
        if not isinstance(step, int) or isinstance(step, bool):
            raise TypeError(
                f"`step` of `save_checkpoint` must be an int >= 0, but got {step!r} "
                f"(trial {self._number})"
            )
        if step < 0:
            raise ValueError(
                f"`step` of `save_checkpoint` must be an int >= 0, but got {step} "
                f"(trial {self._number})"
            )
        number = step
        if (state is None) == (folder is None):
            raise ValueError(
                "`save_checkpoint` needs exactly one of `state` (an object) or `folder` (a "
                f"path), but got {'neither' if state is None else 'both'} (trial {self._number})"
            )
        if number < self._checkpoint_step:
            raise ValueError(
                f"`step` of `save_checkpoint` must not go back, but got step={number} after a "
                f"checkpoint at step {self._checkpoint_step} (trial {self._number})"
            )
        store = self._store()
        reports = {k: v for k, v in self._reports.items() if k <= number}
        try:
            store.save(
                self._lineage_number(),
                number,
                state=state,
                folder=folder,
                trial=self._number,
                trial_id=self._trial_id,
                reports=reports,
            )
        except OSError as exc:  # the root's file system refused: say which root
            raise OSError(
                exc.errno,
                f"saving trial {self._number}'s checkpoint at step {number} under the "
                f"checkpoint root {store.root} failed: {one_line(exc)}",
            ) from exc
        self._checkpoint_step = number

    def load_checkpoint(self, *, map_location: Any = "cpu") -> Checkpoint | None:
        """The latest checkpoint of this trial's parameters, or ``None`` if there is none.

        A fresh trial has none. A retry (its worker died, it was interrupted, or its driver
        died) gets the latest checkpoint of the attempts before it: go on from
        ``checkpoint.step + 1``. Loading it carries the earlier attempt's intermediate values
        up to ``checkpoint.step`` (and the pruner's decisions at the rungs those steps passed)
        over to this trial, so its reported values have no gap and no duplicate. ``state`` is
        loaded with ``torch.load(map_location=map_location)`` (default ``"cpu"``: move it to
        :attr:`device` yourself, or load it into a model already there). A checkpoint that
        cannot be read (a damaged record or state file) gives ``None`` with a warning: the
        trial starts over instead of failing.
        """
        store = self._store()
        lineage = self._lineage_number()
        try:
            record = store.latest(lineage)
            if record is None:
                return None
            checkpoint = store.load(lineage, record, map_location)
        except CheckpointDamaged as exc:  # start over rather than fail the trial for it
            warnings.warn(
                f"trial {self._number}: its checkpoint cannot be read, so it starts over: {exc}",
                UserWarning,
                stacklevel=2,
            )
            return None
        if record.trial_id != self._trial_id and self._checkpoint_step < record.step:
            self._carry_over(record.trial_id, record.step, record.reports)
        self._checkpoint_step = max(self._checkpoint_step, record.step)
        return checkpoint

    def _store(self) -> CheckpointStore:
        if self._checkpoints is None:
            raise RuntimeError(
                f"trial {self._number} has no checkpoint root, so it cannot save or load "
                "checkpoints (it was built outside Study.optimize)"
            )
        return self._checkpoints

    def _lineage_number(self) -> int:
        if self._lineage is None:
            storage = self._optuna().storage
            self._lineage = lineage_of(self._number, storage.get_trial_system_attrs(self._trial_id))
        return self._lineage

    def _carry_over(self, source_id: int, upto: int, reports: dict[int, Any]) -> None:
        """Report again, in this trial, what the attempt ``source_id`` reported up to
        ``upto``; copy its pruner markers for the rungs those steps passed."""
        trial = self._optuna()
        source = trial.storage.get_trial(source_id)
        values: dict[int, Any] = dict(source.intermediate_values)
        values.update(reported_values(source))
        values.update(reports)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # steps this trial already has
            for step in sorted(k for k in values if k <= upto):
                self.report(_first_if_single(values[step], self._n_objectives(trial)), step)
        for key, value in _carried_markers(source, trial.study.pruner, upto).items():
            trial.storage.set_trial_system_attr(self._trial_id, key, value)

    def _check_time(self) -> None:
        if self._timeout is None:
            return
        elapsed = time.monotonic() - self._started
        if elapsed > self._timeout:
            raise TrialTimeout(
                f"trial {self._number} ran {elapsed:.1f} s, over trial_timeout={self._timeout:g} s"
            )

    @property
    def elapsed(self) -> float:
        """Seconds since this evaluation started on its worker."""
        return time.monotonic() - self._started

    def _optuna(self) -> optuna.Trial:
        if self._optuna_trial is None:
            if self._connect is None:
                raise RuntimeError(
                    f"trial {self._number} has no connection to its study, so it cannot "
                    "report or prune (it was built outside Study.optimize)"
                )
            self._optuna_trial = self._connect(self._trial_id)
        return self._optuna_trial

    def _n_objectives(self, trial: optuna.Trial) -> int:
        if self._objectives is None:
            self._objectives = len(trial.study.directions)
        return self._objectives

    def __repr__(self) -> str:
        return f"TrialHandle(number={self._number}, params={self._params!r})"


def reported_values(trial: optuna.trial.FrozenTrial) -> dict[int, list[float | None]]:
    """The vectors that ``trial.report`` stored in a multi-objective study, by step.

    Each vector has one entry per objective (``None`` where only the first objective's
    value was reported). Empty for a single-objective trial: read Optuna's
    ``intermediate_values`` there.
    """
    out = {}
    for key, value in trial.system_attrs.items():
        if key.startswith(REPORT_KEY) and key[len(REPORT_KEY) :].isdigit():
            out[int(key[len(REPORT_KEY) :])] = list(value)
    return dict(sorted(out.items()))


def _report_vector(value: Any, n: int) -> tuple[float, list[float | None]]:
    """The first objective's value and the vector of ``n`` to store (``None``: not given)."""
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if items is None and hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
        items = value.tolist()  # numpy arrays and torch tensors
    if items is not None and len(items) != n:
        raise ValueError(
            f"`trial.report` in a study of {n} objectives needs one number (the first "
            f"objective's) or one value per objective ({n}), but got {len(items)}: {items!r}"
        )
    raw = items if items is not None else [value]
    try:
        numbers = [float(v) for v in raw]
    except (TypeError, ValueError):
        raise TypeError(
            f"`trial.report` needs numbers (one, or one per objective), but got {value!r}"
        ) from None
    return numbers[0], [*numbers, *([None] * (n - len(numbers)))]


def _report_step(step: Any) -> int:
    try:
        number = int(step)
    except (TypeError, ValueError):
        raise TypeError(f"`step` of `trial.report` must be an int, but got {step!r}") from None
    if number < 0:
        raise ValueError(f"`step` of `trial.report` must be non-negative, but got step={step}")
    return number


_warned_cannot_prune = False


def _warn_cannot_prune(pruner: optuna.pruners.BasePruner) -> None:
    global _warned_cannot_prune
    import optuna

    if _warned_cannot_prune or isinstance(pruner, optuna.pruners.NopPruner):
        return
    _warned_cannot_prune = True
    warnings.warn(
        f"{type(pruner).__name__} cannot judge several objectives, so `trial.should_prune()` "
        "answers False in this multi-objective study (the reported values are kept); pass "
        "pruner=optuna.pruners.NopPruner() to create_study to silence this",
        UserWarning,
        stacklevel=3,
    )


def _jsonable(key: str, value: Any) -> Any:
    """``value`` as JSON can store it: itself, its ``tolist()`` (numpy, torch), or its repr."""
    if _is_json(value):
        return value
    why = ""
    if callable(getattr(value, "tolist", None)):
        try:
            listed = value.tolist()
        except Exception as exc:  # a tolist() that is not numpy's or torch's may raise anything
            listed, why = None, f" (its tolist() raised {one_line(exc)})"
        if listed is not None and _is_json(listed):
            return listed
    warnings.warn(
        f"user attribute {key!r} is not JSON-serialisable ({type(value).__name__}): it is "
        f"stored as its repr, a string{why}",
        stacklevel=3,
    )
    return repr(value)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def device_for(gpu_ids: Sequence[int | str], cuda_visible_devices: str | None) -> torch.device:
    """The torch device for the GPUs Ray assigned (``ray.get_gpu_ids()``); cpu if none.

    Ray normally sets ``CUDA_VISIBLE_DEVICES`` to the assigned GPUs, so the first assigned
    GPU is at its index in that list (``cuda:0`` for a single GPU). Without that variable,
    the id itself is the CUDA index.
    """
    import torch

    if not gpu_ids:
        return torch.device("cpu")
    first = str(gpu_ids[0]).strip()
    if cuda_visible_devices:
        visible = [item.strip() for item in cuda_visible_devices.split(",")]
        if first in visible:
            return torch.device("cuda", visible.index(first))
    return torch.device("cuda", int(first)) if first.isdigit() else torch.device("cuda", 0)


def _first_if_single(value: Any, n_objectives: int) -> Any:
    """A stored report as ``report`` takes it back: a float for one objective, else the
    vector (``None`` entries, never reported, are left out at the end)."""
    if n_objectives == 1:
        return float(value[0]) if isinstance(value, list) else float(value)
    if not isinstance(value, list):
        return float(value)
    given = [v for v in value if v is not None]
    return given[0] if len(given) == 1 else given


def _carried_markers(source: optuna.trial.FrozenTrial, pruner: Any, upto: int) -> dict[str, Any]:
    """The pruner markers of ``source`` for rungs whose resource is at most ``upto``: those
    rungs were passed before the checkpoint, so the retry is not judged there again."""
    resource = getattr(pruner, "rung_resource", None)
    if resource is None:
        from symtune.search import _compat

        resource = _compat.sha_rung_resource(pruner)
    out = {}
    for key, value in source.system_attrs.items():
        for prefix in CARRIED_PREFIXES:
            tail = key[len(prefix) :]
            passed = key.startswith(prefix) and tail.isdigit() and resource is not None
            if passed and resource(int(tail)) <= upto:
                out[key] = value
    return out
