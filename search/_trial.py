"""What the objective gets as ``trial``, and what a worker sends back for each trial."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import torch


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

    def report(self, value: float, step: int) -> None:
        """Store an intermediate objective value at ``step`` (for pruners and plots)."""
        self._optuna().report(value, step)

    def should_prune(self) -> bool:
        """Whether the study's pruner says to stop this trial now (then raise TrialPruned)."""
        return self._optuna().should_prune()

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable ``value`` to the trial (stored when the trial ends)."""
        if not isinstance(key, str):
            raise TypeError(f"a user attribute key must be a str, but got {key!r}")
        self._user_attrs[key] = value

    def _optuna(self) -> optuna.Trial:
        if self._optuna_trial is None:
            if self._connect is None:
                raise RuntimeError(
                    f"trial {self._number} has no connection to its study, so it cannot "
                    "report or prune (it was built outside Study.optimize)"
                )
            self._optuna_trial = self._connect(self._trial_id)
        return self._optuna_trial

    def __repr__(self) -> str:
        return f"TrialHandle(number={self._number}, params={self._params!r})"


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
