"""Every private name of Optuna and Ray that symtune uses, in one place.

symtune supports ``optuna>=5.0,<6`` and ``ray>=2.60,<3`` (``pyproject.toml``). A private name
may change in any release, so nothing else in symtune touches one: it calls a function (or
reads a name) of this module instead. Each entry says what it is for and which public
alternative was ruled out, and ``tests/search/test_compat.py`` has a test per entry that fails
loudly, naming the entry, when an upgrade removes the private thing or changes what symtune
relies on. Optuna and Ray are imported inside the functions, so importing this module is cheap.

Not here because it is no longer used: ``JournalFileBackend``'s private state (``_file_path``,
``_lock``, ``_log_number_offset``); ``FastJournalFileBackend`` keeps its own.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc
    import numpy as np
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage

    # Optuna's ``BaseStorage.get_all_studies`` returns these, but Optuna exports the class
    # from no public module (``optuna.study`` exports ``StudySummary`` only, another type).
    # Used for annotations only, so an upgrade that moves it breaks type checking, not runs.
    from optuna.study._frozen import FrozenStudy as FrozenStudy
    from optuna.trial import TrialState


# -- Optuna --------------------------------------------------------------------------------------


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of a trial (``Trial._trial_id`` / ``FrozenTrial._trial_id``).

    The driver, the relay and stale-trial repair address a trial in the storage by this id.
    Ruled out: ``storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)``,
    one more storage call per trial (a round trip on a database) on the driver's hot path.
    """
    return trial._trial_id


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage an ``optuna.Study`` reads and writes (``Study._storage``).

    For a sampler that writes a user attribute of a trial it is sampling (``Study`` exposes
    no storage, and ``Trial.set_user_attr`` needs the live ``Trial``, which samplers do not
    get). Ruled out: keeping the storage from ``create_study`` (a sampler is given the study
    only).
    """
    return study._storage


def distribution_contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` (external form) is a value of ``distribution`` (``_contains``).

    For a sampler that checks a proposed parameter before returning it. Ruled out:
    ``check_distribution_compatibility`` compares two distributions, not a value, and
    re-implementing the range/step/choices test per distribution class would drift from
    Optuna's own (steps, log scale, ``None`` choices). A value the distribution cannot even
    represent (a choice it lacks, a string for a float) is not contained either.
    """
    try:
        internal = distribution.to_internal_repr(value)
    except (ValueError, TypeError):
        return False
    return bool(distribution._contains(internal))


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The hypervolume of minimised ``points`` (``(n, m)``, each inside ``reference``),
    by ``optuna._hypervolume.compute_hypervolume`` (WFG; exact, fast for 2 and 3 objectives).

    Ruled out: a hypervolume of symtune's own (the WFG algorithm is some hundred lines to
    write and test again); pymoo or botorch (heavy dependencies for one function).
    """
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(points, reference))


def tell_without_copy(
    study: optuna.Study,
    trial: optuna.Trial,
    values: Sequence[float] | None,
    state: TrialState,
) -> None:
    """``study.tell(trial, values, state=state)`` without its final deep copy of the trial.

    Optuna's ``Study.tell`` is ``optuna.study._tell._tell_with_warning`` plus a
    ``copy.deepcopy`` of the stored trial, a third of its cost (measured); the driver reads
    the stored trial itself. Ruled out: ``Study.tell`` (the copy). Falls back to it when the
    private function is gone (the test says so first).
    """
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:  # pragma: no cover - a future Optuna; tests/search/test_compat.py fails
        study.tell(trial, values, state=state)
        return
    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)


def journal_backend(storage: Any) -> Any:
    """The backend of an ``optuna.storages.JournalStorage`` (``_backend``), or ``None`` for
    any other storage.

    To fsync symtune's journal file when a run ends. Ruled out: keeping a reference to each
    backend where the storage is opened (a ``JournalStorage`` the user passes in was not
    opened by symtune; and ``JournalStorage`` has no public accessor).
    """
    return getattr(storage, "_backend", None)


def add_storage_servicer(storage: BaseStorage, server: grpc.Server) -> None:
    """Serve ``storage`` on ``server`` as Optuna's gRPC storage proxy does
    (``optuna.storages._grpc.servicer.OptunaStorageProxyService`` and
    ``..._grpc.auto_generated.api_pb2_grpc.add_StorageServiceServicer_to_server``).

    Ruled out: ``optuna.storages.run_grpc_proxy_server`` (it builds its own ``grpc.server``
    with no interceptor, so calls cannot be required to carry symtune's token, and it binds
    a host and blocks).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _experimental_warning())
        from optuna.storages._grpc import servicer
        from optuna.storages._grpc.auto_generated import api_pb2_grpc

    api_pb2_grpc.add_StorageServiceServicer_to_server(
        servicer.OptunaStorageProxyService(storage), server
    )


def grpc_storage_client(
    host: str, port: int, wrap: Callable[[grpc.Channel], grpc.Channel]
) -> BaseStorage:
    """Optuna's ``GrpcStorageProxy`` for ``host:port``, talking through ``wrap(channel)``.

    ``GrpcStorageProxy._setup`` builds the channel, then ``_stub``
    (``..._grpc.auto_generated.api_pb2_grpc.StorageServiceStub``) and ``_cache``
    (``..._grpc.client.GrpcClientCache``) on it; this subclass rebuilds the last two on the
    wrapped channel (symtune's wraps it to send the run's token with every call). Ruled
    out: ``GrpcStorageProxy``'s public arguments (host and port only: no metadata, no
    credentials, no interceptor).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _experimental_warning())
        from optuna.storages import GrpcStorageProxy
        from optuna.storages._grpc.auto_generated import api_pb2_grpc
        from optuna.storages._grpc.client import GrpcClientCache

        class WrappedProxy(GrpcStorageProxy):
            def _setup(self) -> None:
                super()._setup()
                channel = wrap(self._channel)
                self._stub = api_pb2_grpc.StorageServiceStub(channel)
                self._cache = GrpcClientCache(self._stub)

        return WrappedProxy(host=host, port=port)


def _experimental_warning() -> type[Warning]:
    import optuna

    return optuna.exceptions.ExperimentalWarning


# -- Ray -----------------------------------------------------------------------------------------


def set_ray_cluster_enabled(enabled: bool) -> None:
    """Set ``ray._private.ray_constants.ENABLE_RAY_CLUSTER`` in this process.

    ``False`` keeps a Ray that this process starts on 127.0.0.1 (Ray's
    ``services.get_node_ip_address`` then answers the loopback address). Ray reads the
    constant from ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when ``ray_constants`` is first
    imported; symtune sets that variable too (child processes read it), but Ray may have been
    imported before. Ruled out: ``ray.init(_node_ip_address=...)`` (private too, and Ray 2.x
    on Linux resolves 127.0.0.1 to the network address anyway).
    """
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = enabled


TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"
"""The logger of Ray's "Token authentication is enabled for this Ray cluster" notice
(``_warn_token_auth_enabled``), which symtune filters while it starts its own local Ray.
Ruled out: ``RAY_AUTH_MODE=token`` (it silences the notice but changes what a user's own
``ray.init`` does) and raising the ``ray`` logger's level (it hides every other warning)."""


def kv_put(key: str, value: str, namespace: str) -> None:
    """Store ``value`` under ``key`` in Ray's GCS key-value store
    (``ray.experimental.internal_kv._internal_kv_put``).

    For a worker's death note, which must outlive the worker and be readable by the driver
    from any node. Ruled out: a named actor holding the notes (one more process that must be
    alive, and a remote call from a process that is exiting); Ray has no public KV API.
    """
    from ray.experimental import internal_kv

    internal_kv._internal_kv_put(key, value, namespace=namespace)


def kv_get(key: str, namespace: str) -> bytes | None:
    """The value under ``key`` in Ray's GCS key-value store, or ``None``
    (``ray.experimental.internal_kv._internal_kv_get``); see :func:`kv_put`."""
    from ray.experimental import internal_kv

    value = internal_kv._internal_kv_get(key, namespace=namespace)
    return value if value is None else bytes(value)


def kv_del(key: str, namespace: str) -> None:
    """Delete ``key`` from Ray's GCS key-value store
    (``ray.experimental.internal_kv._internal_kv_del``); see :func:`kv_put`."""
    from ray.experimental import internal_kv

    internal_kv._internal_kv_del(key, namespace=namespace)


def sha_rung_resource(pruner: Any) -> Callable[[int], float] | None:
    """The step at which rung ``r`` of Optuna's ``SuccessiveHalvingPruner`` judges a trial
    (``min_resource * reduction_factor ** (min_early_stopping_rate + r)``, from its private
    attributes), or ``None`` for any other pruner (or a SHA whose ``min_resource="auto"`` is
    not estimated yet)."""
    import optuna

    if not isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner):
        return None
    low = getattr(pruner, "_min_resource", None)
    factor = getattr(pruner, "_reduction_factor", None)
    rate = getattr(pruner, "_min_early_stopping_rate", None)
    if not all(isinstance(v, int) for v in (low, factor, rate)):
        return None
    return lambda rung: float(low * factor ** (rate + rung))  # type: ignore[operator]


def driver_study(**kwargs: Any) -> optuna.Study:
    """The driver's ``optuna.Study`` (``optuna.Study(**kwargs)``), in which ``direction`` of a
    study of several objectives is the first objective's instead of an error.

    symtune stores the first objective's value as the intermediate value of multi-objective
    trials (``TrialHandle.report``), so that optuna-dashboard draws it and pruners see it;
    Optuna itself never has such trials, and its TPE sampler ranks PRUNED trials by their last
    intermediate value with ``study.direction`` (``_get_pruned_trial_score``), which raises in
    a multi-objective study. In this study TPE ranks them by the first objective's last
    value; every other use of the study is Optuna's own.
    """
    return _driver_study_class()(**kwargs)


@functools.cache
def _driver_study_class() -> type[optuna.Study]:
    import optuna

    class DriverStudy(optuna.Study):
        @property
        def direction(self) -> optuna.study.StudyDirection:
            directions = self.directions
            return directions[0] if len(directions) > 1 else super().direction

    return DriverStudy
