"""How workers reach their study: the study relay, a Ray actor on the driver's node.

``trial.report`` and ``trial.should_prune`` run on a worker, on any node, and need the study.
The driver serves its storage with Optuna's gRPC storage proxy, on 127.0.0.1 only and for
calls that carry the run's token (:mod:`symtune.search._proxy`). The relay is one small Ray
actor (no CPU) pinned to the driver's own node; it is the proxy's only client. A worker's
storage, :class:`RelayedStorage`, sends each storage call to the relay as a Ray actor call,
so the path ``worker -> relay`` is Ray's own channel (token-authenticated by default in Ray
2.60) and ``relay -> driver`` never leaves the machine. Optuna's ``Trial`` and the study's
pruner run unchanged on the worker, on top of that storage. Whoever passes Ray's
authentication can run code on every node anyway, so the relay narrows nothing further than
to Optuna's storage methods; nobody else can reach the study.

What it costs: each storage call becomes one Ray actor call (about 0.8 ms on its own here)
plus the loopback gRPC call. Measured with a local Ray on the 2-core development machine,
one worker doing 300 ``report`` + ``should_prune`` pairs per trial, the direct gRPC client
(the design before the relay) and the relay alternated, median of 5 trials each, two runs
(the second with the token check on both paths and other jobs loading the machine): with
NopPruner 0.57-0.69 ms a pair directly, 1.71-1.75 ms through the relay (``report`` is one
call; a study's directions, which never change, are kept on the worker); with MedianPruner
over a 30-trial study 1.33-1.47 ms and 3.3-3.9 ms (``should_prune`` adds one call for the
trials, of which the worker keeps an incremental copy, as Optuna's gRPC client does). About
1 ms more a report: nothing next to a training step, and the price of not having an open
port.

A driver connected through Ray Client (``ray://...``) does not run on a cluster node, so no
relay can reach its loopback: there workers cannot report, and a trial that calls
``report`` or ``should_prune`` fails with a :class:`StudyError` saying so (run the driver on
a node instead, e.g. with ``ray job submit``). Everything else works.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from symtune.search import _compat
from symtune.search._errors import StudyError, one_line
from symtune.search._proxy import Served, proxy_client, storage_proxy

_log = logging.getLogger("symtune.search")

if TYPE_CHECKING:
    from symtune.search._compat import FrozenStudy

# What the relay answers: Optuna's storage methods, nothing else of its client.
RELAYED_METHODS = frozenset(
    {*BaseStorage.__abstractmethods__, "get_trial_id_from_study_id_trial_number"}
)

RAY_CLIENT_REASON = (
    "trial.report and trial.should_prune need the driver on a Ray node, but this driver is "
    "connected through Ray Client (a ray:// address), so workers cannot reach the study; run "
    "the driver on a cluster node (e.g. `ray job submit`) or use an objective that does not "
    "report"
)


@dataclass(frozen=True)
class StudyLink:
    """What each worker is given to reach its study: the relay's actor handle, or the reason
    there is none (a driver on Ray Client)."""

    relay: Any = None
    unavailable: str | None = None

    def storage(self) -> BaseStorage:
        """The study's storage as a worker sees it; :class:`StudyError` if there is none."""
        if self.relay is None:
            raise StudyError(self.unavailable or "this study serves no storage to its workers")
        return RelayedStorage(self.relay)


@contextlib.contextmanager
def study_link(storage: BaseStorage, threads: int = 8) -> Iterator[StudyLink]:
    """Serve ``storage`` to the workers of one run (Ray must be connected); yield the link."""
    import ray

    if driver_is_ray_client():
        yield StudyLink(unavailable=RAY_CLIENT_REASON)
        return
    with storage_proxy(storage, threads=threads) as served:
        relay = start_relay(ray, served, concurrency=threads)
        try:
            yield StudyLink(relay)
        finally:
            _stop_relay(ray, relay)


def _stop_relay(ray: Any, relay: Any) -> None:
    """Close the relay's connection (before the proxy's server stops, so gRPC has no lost
    connection to log), then end it. Broad catches, logged: this runs in a ``finally``, where
    an error would hide the run's own (Ray may already be going down)."""
    try:
        ray.get(relay.close.remote(), timeout=5)
    except Exception as exc:  # broad, logged: see the docstring
        _log.debug("the study relay could not be closed: %s", one_line(exc))
    try:
        ray.kill(relay, no_restart=True)
    except Exception as exc:  # broad, logged: see the docstring
        _log.debug("the study relay could not be ended: %s", one_line(exc))


def driver_is_ray_client() -> bool:
    """Whether this process reaches Ray through Ray Client (``ray.init("ray://...")``)."""
    import ray.util.client

    return bool(ray.util.client.ray.is_connected())


def start_relay(ray: Any, served: Served, concurrency: int = 8) -> Any:
    """Start the relay actor on this process's own Ray node; return its handle."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    actor = ray.remote(StudyRelay).options(
        num_cpus=0,
        max_concurrency=max(1, min(concurrency, 64)),
        max_restarts=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False),
    )
    return actor.remote(served)  # the token travels through Ray, authenticated


class StudyRelay:
    """The Ray actor between workers and the driver's storage proxy (see the module
    docstring). Each call answers ``(True, result)`` or ``(False, exception)``."""

    def __init__(self, served: Served) -> None:
        self._storage = proxy_client(served)

    def close(self) -> None:
        """Close the connection to the driver's proxy (the run is ending)."""
        close = getattr(self._storage, "close", None)
        if close is not None:
            close()

    def node_id(self) -> str:
        """The Ray node this relay runs on (hex)."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def call(self, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """Run the storage method ``method(*args, **kwargs)`` on the driver's storage."""
        if method not in RELAYED_METHODS:
            return False, StudyError(f"the study relay serves storage methods only, not {method!r}")
        try:
            return True, getattr(self._storage, method)(*args, **kwargs)
        except Exception as exc:  # any storage's error: handed to the worker, which raises it
            return False, _portable(exc)

    def trials_since(
        self, study_id: int, unfinished: Container[int], last_finished: int
    ) -> tuple[bool, Any]:
        """The trials of ``study_id`` newer than ``last_finished`` (a trial id) or among
        ``unfinished``: what a worker's copy of the trials lacks (see :class:`RelayedStorage`)."""
        try:
            trials = self._storage.get_all_trials(study_id, deepcopy=False)
        except Exception as exc:  # any storage's error: handed to the worker, which raises it
            return False, _portable(exc)
        return True, [
            t for t in trials if (i := _compat.trial_id(t)) > last_finished or i in unfinished
        ]


def _portable(exc: Exception) -> Exception:
    """``exc`` if it is one of the errors storages raise by contract, else a RuntimeError with
    its type and first line (gRPC's errors carry live state and do not pickle)."""
    if isinstance(exc, (KeyError, ValueError, TypeError, optuna.exceptions.OptunaError)):
        return exc
    return RuntimeError(
        "the study relay could not reach the driver's storage: " + one_line(exc, first_line=True)
    )


class _TrialCopy:
    def __init__(self) -> None:
        self.trials: dict[int, FrozenTrial] = {}
        self.unfinished: set[int] = set()
        self.last_finished = -1

    def add(self, trial: FrozenTrial) -> None:
        self.trials[trial.number] = trial
        if trial.state.is_finished():
            self.unfinished.discard(_compat.trial_id(trial))
            self.last_finished = max(self.last_finished, _compat.trial_id(trial))
        else:
            self.unfinished.add(_compat.trial_id(trial))


class RelayedStorage(BaseStorage):
    """A worker's storage: each call is a Ray call to the study relay.

    It keeps what cannot change (a study's directions) and, like Optuna's gRPC client, an
    incremental copy of the trials: ``get_all_trials`` fetches only trials that were unfinished
    or are new, so a pruner that reads every trial does not move the whole study each time.
    """

    def __init__(self, relay: Any) -> None:
        self._relay = relay
        self._lock = threading.Lock()
        self._directions: dict[int, list[StudyDirection]] = {}
        self._copies: dict[int, _TrialCopy] = {}

    def _ask(self, method: str, *args: Any) -> Any:
        import ray

        ok, value = ray.get(getattr(self._relay, method).remote(*args))
        if not ok:
            raise value
        return value

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._ask("call", method, args, kwargs)

    # -- what the worker keeps --------------------------------------------------------------

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        if study_id not in self._directions:
            self._directions[study_id] = list(self._call("get_study_directions", study_id))
        return list(self._directions[study_id])

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        with self._lock:
            known = self._copies.setdefault(study_id, _TrialCopy())
            news = self._ask("trials_since", study_id, set(known.unfinished), known.last_finished)
            for trial in news:
                known.add(trial)
            trials = [known.trials[n] for n in sorted(known.trials)]
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    # -- forwarded as they are --------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return int(self._call("create_new_study", list(directions), study_name))

    def delete_study(self, study_id: int) -> None:
        self._call("delete_study", study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_user_attr", study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_system_attr", study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._call("get_study_id_from_name", study_name))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._call("get_study_name_from_id", study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_user_attrs", study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_system_attrs", study_id))

    def get_all_studies(self) -> list[FrozenStudy]:
        return list(self._call("get_all_studies"))

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return int(self._call("create_new_trial", study_id, template_trial))

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._call("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return int(self._call("get_trial_id_from_study_id_trial_number", study_id, trial_number))

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        return bool(self._call("set_trial_state_values", trial_id, state, values))

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._call("set_trial_intermediate_value", trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call("set_trial_user_attr", trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call("set_trial_system_attr", trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial: FrozenTrial = self._call("get_trial", trial_id)
        return trial
