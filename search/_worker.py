"""The Ray worker that evaluates trials: one long-lived actor per concurrent evaluation.

Why actors rather than one Ray task per trial: measured with two evaluations in flight on
the development machine, a round trip costs about 0.8 ms through an actor and 1.2 ms
through a task, and an actor receives the space, the objective and the pruner once (in its
constructor) instead of once per trial. Each actor holds ``cpus_per_trial`` CPUs and
``gpus_per_trial`` GPUs for its lifetime, so Ray's placement of the actors is the placement
of the trials: two 0.5-GPU actors share a GPU, a third waits for resources, and the driver
only sends trials to actors that have started.
"""

from __future__ import annotations

import math
import numbers
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from symtune.search._checkpoints import CheckpointStore
from symtune.search._relay import StudyLink
from symtune.search._runs import EXCEPTION, INVALID_VALUE, TIMEOUT
from symtune.search._trial import Outcome, TrialHandle, TrialTimeout

_MAX_TRACEBACK = 20_000

# What a trial may raise. Every exception of the objective (and of materialising its config)
# fails that trial only, with its own type, even a ``BaseException``: a ``KeyboardInterrupt``
# or a custom ``BaseException`` raised by the objective's code is the objective's exception
# (Ray starts its workers with SIGINT blocked, so Ctrl-C in the driver's terminal does not
# reach them; the driver stops them itself). The one exception that is let through is
# ``SystemExit`` (``sys.exit()`` in the objective, ``ray.actor.exit_actor()``, or Ray's
# SIGTERM handler): it ends the worker process, as asked, and the driver reports the trial
# as "worker died" with the exit code.


class _ExitRecorder:
    """Leaves a death note (``symtune.search._ray.leave_death_note``) when the worker process
    exits during an evaluation: ``os._exit(code)`` is wrapped (in this process only: a forked
    child's ``os._exit`` is left alone) and ``SystemExit`` is noted by :meth:`Evaluator.run`.
    A signal such as SIGKILL leaves no note; Ray's own message is all there is."""

    def __init__(self) -> None:
        self.actor_id = ""
        self.pid = -1
        self.evaluating: int | None = None

    def leave(self, note: dict[str, Any]) -> None:
        if self.evaluating is None or os.getpid() != self.pid or not self.actor_id:
            return
        from symtune.search._ray import leave_death_note

        leave_death_note(self.actor_id, {**note, "trial": self.evaluating})


_EXITS = _ExitRecorder()
_real_os_exit = os._exit


def _noted_os_exit(code: int) -> None:
    _EXITS.leave({"how": f"os._exit({code})", "exit_code": code})
    _real_os_exit(code)


def _record_exits(actor_id: str | None) -> None:
    _EXITS.actor_id, _EXITS.pid = actor_id or "", os.getpid()
    os._exit = _noted_os_exit  # type: ignore[assignment]


def _system_exit_note(exc: SystemExit) -> dict[str, Any]:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    from symtune.search._ray import ray_exit_message

    ray_message = ray_exit_message(exc)
    if ray_message is not None:
        return {"how": ray_message.rstrip("."), "exit_code": code}
    return {"how": f"the objective raised SystemExit({exc.code!r})", "exit_code": code}


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a run shares: where checkpoints go and the time limit."""

    checkpoint_root: str | None = None
    trial_timeout: float | None = None


class Evaluator:
    """Evaluates trials of one study (used as a Ray actor; see the module docstring).

    ``payload`` is ``(space, objective, pruner)``; ``link`` how to reach the study (through
    the study relay, :mod:`symtune.search._relay`), used only when the objective reports or
    asks to prune.
    """

    def __init__(
        self,
        payload: tuple[Any, Any, optuna.pruners.BasePruner],
        link: StudyLink | None,
        study_name: str,
        metric_names: Sequence[str],
        settings: TrialSettings | None = None,
    ) -> None:
        self._space, self._objective, self._pruner = payload
        self._link = link
        self._study_name = study_name
        self._metric_names = list(metric_names)
        self._settings = settings or TrialSettings()
        root = self._settings.checkpoint_root
        self._checkpoints = None if root is None else CheckpointStore(root, study_name)
        self._study: optuna.Study | None = None
        import ray

        self._node = ray.util.get_node_ip_address()
        self._node_id = ray.get_runtime_context().get_node_id()
        _record_exits(ray.get_runtime_context().get_actor_id())

    def ready(self) -> tuple[str, str, int]:
        """``(node ip, node id, pid)``: answered once the actor has started."""
        return self._node, self._node_id, os.getpid()

    def run(self, number: int, trial_id: int, params: dict[str, Any]) -> Outcome:
        """Materialise ``params``, call the objective and package what happened."""
        handle = TrialHandle(
            number,
            trial_id,
            params,
            connect=self._connect,
            node=self._node,
            node_id=self._node_id,
            checkpoints=self._checkpoints,
            timeout=self._settings.trial_timeout,
        )
        started = time.time()
        _EXITS.evaluating = number
        try:
            config = self._space.materialize(params)
            outcome = check_values(self._objective(config, handle), self._metric_names, number)
        except optuna.TrialPruned:
            outcome = Outcome("pruned")
        except TrialTimeout as exc:  # raised by the handle once the trial is over its limit
            outcome = Outcome("fail", fail_kind=TIMEOUT, fail_reason=f"timeout: {exc}")
        except SystemExit as exc:  # the worker process is leaving: say why, then go
            _EXITS.leave(_system_exit_note(exc))
            raise
        except BaseException as exc:  # see "What a trial may raise" above
            outcome = exception_outcome(exc)
        finally:
            _EXITS.evaluating = None
        outcome.user_attrs = handle.user_attrs
        if outcome.fail_kind == TIMEOUT:
            outcome.user_attrs["elapsed_s"] = round(handle.elapsed, 3)
        outcome.node, outcome.node_id = self._node, self._node_id
        outcome.started, outcome.ended = started, time.time()
        return outcome

    def run_batch(self, items: Sequence[tuple[int, int, dict[str, Any]]]) -> list[Outcome]:
        """:meth:`run` on each ``(number, trial_id, params)``, in order: one Ray call for
        several short trials (see ``symtune.search._driver.BATCH_BELOW_S``)."""
        return [self.run(number, trial_id, params) for number, trial_id, params in items]

    def _connect(self, trial_id: int) -> optuna.Trial:
        if self._study is None:
            if self._link is None:
                raise RuntimeError("this study serves no storage to its workers")
            self._study = optuna.Study(
                study_name=self._study_name,
                storage=self._link.storage(),
                sampler=optuna.samplers.RandomSampler(),
                pruner=self._pruner,
            )
        return optuna.Trial(self._study, trial_id)


def exception_outcome(exc: BaseException) -> Outcome:
    """A failed outcome that records ``exc``: type, message and traceback."""
    kind = type(exc).__qualname__
    message = str(exc)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Outcome(
        "fail",
        fail_kind=EXCEPTION,
        fail_reason=f"{kind}: {message}" if message else kind,
        exception={"type": kind, "message": message, "traceback": text[-_MAX_TRACEBACK:]},
    )


def check_values(raw: Any, metric_names: Sequence[str], number: int) -> Outcome:
    """Turn what the objective returned into an outcome.

    Values of the wrong shape or type are a *fatal* failure (the objective is wrong, the
    run stops); NaN or infinite values fail this trial only.
    """
    n = len(metric_names)
    items = _as_sequence(raw)
    if items is None or len(items) != n or not all(_is_number(v) for v in items):
        rule = "one number" if n == 1 else f"a sequence of {n} numbers"
        return Outcome(
            "fail",
            fail_kind=INVALID_VALUE,
            fail_reason=(
                f"the objective must return {rule} (one per metric {list(metric_names)}), but "
                f"trial {number} returned {_short_repr(raw)}"
            ),
            fatal=True,
        )
    values = [float(v) for v in items]
    bad = [
        f"{name}={v}" for name, v in zip(metric_names, values, strict=True) if not math.isfinite(v)
    ]
    if bad:
        return Outcome(
            "fail",
            fail_kind=INVALID_VALUE,
            fail_reason=f"the objective returned a non-finite value: {', '.join(bad)}",
        )
    return Outcome("complete", values=values)


def _as_sequence(raw: Any) -> list[Any] | None:
    if _is_number(raw):
        return [raw]
    if isinstance(raw, (str, bytes)) or raw is None:
        return None
    if hasattr(raw, "tolist") and not isinstance(raw, Sequence):
        raw = raw.tolist()  # numpy arrays and torch tensors
        if _is_number(raw):
            return [raw]
    if isinstance(raw, Sequence):
        return list(raw)
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return isinstance(value.item(), numbers.Real) and not isinstance(value.item(), bool)
    return False


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
