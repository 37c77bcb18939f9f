"""What the objective gets as ``trial``, and what a worker sends back for each trial."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from symtune.search._errors import one_line

if TYPE_CHECKING:
    import optuna
    import torch

REPORT_KEY = "symtune:report:"
"""Prefix of the trial system attributes that hold a multi-objective report, by step."""


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
        trial = self._optuna()
        n = self._n_objectives(trial)
        if n == 1:
            trial.report(value, step)  # type: ignore[arg-type]
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
        trial.storage.set_trial_intermediate_value(self._trial_id, step, first)
        trial.storage.set_trial_system_attr(self._trial_id, f"{REPORT_KEY}{step}", vector)

    def should_prune(self) -> bool:
        """Whether the study's pruner says to stop this trial now (then raise TrialPruned).

        One objective: Optuna's ``Trial.should_prune``. Several objectives: Optuna's pruners
        judge one objective only, so the answer is ``False`` (with a warning, once per
        process, unless the pruner is ``NopPruner``); the reported vectors are kept for
        pruners that judge several objectives.
        """
        trial = self._optuna()
        if self._n_objectives(trial) == 1:
            return bool(trial.should_prune())
        _warn_cannot_prune(trial.study.pruner)
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
