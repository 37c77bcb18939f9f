"""Each private Optuna or Ray name in ``symtune.search._compat``: it exists, and behaves as
symtune relies on. A failure here after an upgrade names the entry of ``_compat`` to redo."""

from __future__ import annotations

import importlib
import inspect
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import InMemoryStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from symtune.search import _compat, _ray


def _study() -> tuple[optuna.Study, InMemoryStorage]:
    storage = InMemoryStorage()
    return optuna.create_study(storage=storage, study_name="compat"), storage


# -- Optuna --------------------------------------------------------------------------------------


def test_trial_id_is_the_storage_id_of_live_and_frozen_trials() -> None:
    study, storage = _study()
    study.ask()
    live = study.ask()
    study_id = storage.get_study_id_from_name("compat")
    expected = storage.get_trial_id_from_study_id_trial_number(study_id, live.number)
    assert _compat.trial_id(live) == expected
    frozen = study.get_trials(deepcopy=False)[live.number]
    assert _compat.trial_id(frozen) == expected
    assert storage.get_trial(_compat.trial_id(frozen)).number == live.number


def test_study_storage_is_the_storage_the_study_writes() -> None:
    study, storage = _study()
    assert _compat.study_storage(study) is storage
    trial = study.ask()
    _compat.study_storage(study).set_trial_user_attr(_compat.trial_id(trial), "round", 3)
    assert study.get_trials()[0].user_attrs == {"round": 3}


@pytest.mark.parametrize(
    ("distribution", "inside", "outside"),
    [
        (FloatDistribution(0.0, 1.0), 0.5, 1.5),
        (FloatDistribution(1e-3, 1.0, log=True), 0.01, 0.0),
        (IntDistribution(0, 10, step=2), 4, 5),
        (CategoricalDistribution(["a", None, 3]), None, "z"),
    ],
)
def test_distribution_contains_follows_optuna(distribution: Any, inside: Any, outside: Any) -> None:
    assert _compat.distribution_contains(distribution, inside) is True
    assert _compat.distribution_contains(distribution, outside) is False


def test_hypervolume_is_optunas_wfg() -> None:
    points = np.array([[1.0, 2.0], [2.0, 1.0]])
    assert _compat.hypervolume(points, np.array([3.0, 3.0])) == pytest.approx(3.0)
    cube = np.array([[0.0, 0.0, 0.0]])
    assert _compat.hypervolume(cube, np.array([1.0, 2.0, 3.0])) == pytest.approx(6.0)


def test_tell_without_copy_is_optunas_private_tell_and_stores_the_result() -> None:
    from optuna.study import _tell

    parameters = inspect.signature(_tell._tell_with_warning).parameters
    assert {"study", "trial", "value_or_values", "state"} <= set(parameters)
    study, _ = _study()
    trial = study.ask({"x": FloatDistribution(0.0, 1.0)})
    _compat.tell_without_copy(study, trial, [0.25], TrialState.COMPLETE)
    stored = study.get_trials()[0]
    assert stored.state == TrialState.COMPLETE and stored.values == [0.25]
    failed = study.ask()
    _compat.tell_without_copy(study, failed, None, TrialState.FAIL)
    assert study.get_trials()[1].state == TrialState.FAIL


def test_journal_backend_is_the_journal_storages_backend(tmp_path: Any) -> None:
    backend = JournalFileBackend(str(tmp_path / "s.journal"))
    assert _compat.journal_backend(JournalStorage(backend)) is backend
    assert _compat.journal_backend(InMemoryStorage()) is None


def test_frozen_study_is_what_get_all_studies_returns() -> None:
    from optuna.study._frozen import FrozenStudy

    _, storage = _study()
    (summary,) = storage.get_all_studies()
    assert isinstance(summary, FrozenStudy) and summary.study_name == "compat"


class _Count(grpc.UnaryUnaryClientInterceptor):
    def __init__(self) -> None:
        self.calls = 0

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.calls += 1
        return continuation(details, request)


def test_grpc_server_and_client_serve_a_storage_through_a_wrapped_channel() -> None:
    storage = InMemoryStorage()
    pool = ThreadPoolExecutor(max_workers=2)
    server = grpc.server(pool)
    _compat.add_storage_servicer(storage, server)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    counter = _Count()
    try:
        client = _compat.grpc_storage_client(
            "127.0.0.1", port, wrap=lambda channel: grpc.intercept_channel(channel, counter)
        )
        client.wait_server_ready(timeout=30)
        study = optuna.create_study(storage=client, study_name="over_grpc")
        study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
        assert len(optuna.load_study(study_name="over_grpc", storage=storage).trials) == 2
        assert counter.calls > 0  # every call went through the wrapped channel
        client.close()
    finally:
        server.stop(grace=None)
        pool.shutdown(wait=False)


# -- Ray -----------------------------------------------------------------------------------------


def test_set_ray_cluster_enabled_is_the_constant_ray_reads_for_its_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ray._private import ray_constants, services

    assert isinstance(ray_constants.ENABLE_RAY_CLUSTER, bool)
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", ray_constants.ENABLE_RAY_CLUSTER)
    _compat.set_ray_cluster_enabled(False)
    assert ray_constants.ENABLE_RAY_CLUSTER is False
    assert "ray_constants.ENABLE_RAY_CLUSTER" in inspect.getsource(services.get_node_ip_address)
    monkeypatch.setattr(services.ray._private.worker, "_global_node", None)
    assert services.get_node_ip_address() == services.get_localhost_ip()
    _compat.set_ray_cluster_enabled(True)
    assert ray_constants.ENABLE_RAY_CLUSTER is True


def test_token_notice_logger_is_where_ray_logs_the_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(_compat.TOKEN_NOTICE_LOGGER)
    logger = logging.getLogger(_compat.TOKEN_NOTICE_LOGGER)
    assert module.logger is logger
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.WARNING)
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logger, "_cache", {})
    try:
        module._warn_token_auth_enabled()
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 1 and seen[0].startswith(_ray.TOKEN_NOTICE)


def test_kv_functions_take_a_namespace() -> None:
    from ray.experimental import internal_kv

    for name in ("_internal_kv_put", "_internal_kv_get", "_internal_kv_del"):
        assert "namespace" in inspect.signature(getattr(internal_kv, name)).parameters, name


@pytest.mark.ray
def test_kv_put_get_del_round_trip_in_rays_store(ray_local: None) -> None:
    _compat.kv_put("compat:probe", '{"exit_code": 3}', namespace="symtune-test")
    assert _compat.kv_get("compat:probe", namespace="symtune-test") == b'{"exit_code": 3}'
    assert _compat.kv_get("compat:probe", namespace="other") is None
    _compat.kv_del("compat:probe", namespace="symtune-test")
    assert _compat.kv_get("compat:probe", namespace="symtune-test") is None


def test_tpe_in_the_driver_study_ranks_pruned_multi_objective_trials_by_the_first() -> None:
    """Optuna's TPE reads ``study.direction`` for PRUNED trials with intermediate values, which
    symtune's multi-objective trials have (the first objective's): an error in a plain
    ``optuna.Study``, the first direction in the driver's."""
    storage = InMemoryStorage()
    optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize"])
    sampler = optuna.samplers.TPESampler(n_startup_trials=2, seed=0)
    plain = optuna.Study(study_name="s", storage=storage, sampler=sampler)
    x: dict[str, BaseDistribution] = {"x": FloatDistribution(0.0, 1.0)}
    for i in range(4):
        pruned = optuna.trial.create_trial(
            state=TrialState.PRUNED,
            params={"x": i / 4},
            distributions=x,
            intermediate_values={1: float(i)},
        )
        plain.add_trial(pruned)
    plain.add_trial(optuna.trial.create_trial(params={"x": 0.9}, distributions=x, values=[1, 1]))
    with pytest.raises(RuntimeError, match="single direction cannot be retrieved"):
        plain.ask(x)  # Optuna as it is
    driver = _compat.driver_study(study_name="s", storage=storage, sampler=sampler)
    assert driver.direction == optuna.study.StudyDirection.MAXIMIZE  # the first objective's
    assert 0.0 <= driver.ask(x).params["x"] <= 1.0
    single = optuna.create_study(storage=storage, study_name="one")
    assert _compat.driver_study(study_name="one", storage=storage).direction == single.direction
