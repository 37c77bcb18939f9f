"""Who can reach a study: the storage proxy listens on 127.0.0.1 only, and workers reach the
study through the study relay (a Ray actor on the driver's node), i.e. through Ray."""

from __future__ import annotations

import ipaddress
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from ray import cloudpickle

from symtune.search import StudyError, _relay, create_study
from symtune.search._proxy import Served, proxy_client, storage_proxy
from symtune.search._relay import RAY_CLIENT_REASON, StudyLink, start_relay
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]


# -- the proxy listens on loopback only ----------------------------------------------------------


def listening_sockets() -> set[tuple[str, int]]:
    """``(ip, port)`` of the TCP sockets this process listens on (Linux's /proc)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) byte order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(port, 16)))
    return found


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # gRPC binds 127.0.0.1 as ::ffff:127.0.0.1
    return bool((mapped or address).is_loopback)


def a_network_address() -> str:
    """This machine's address on its default route (no packet is sent), else 0.0.0.0."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("198.51.100.1", 9))  # TEST-NET-2: connect() on UDP sends nothing
            address = str(sock.getsockname()[0])
    except OSError:
        return "0.0.0.0"
    return "0.0.0.0" if address.startswith("127.") else address


def reporting(config: dict[str, Any], trial: Any) -> float:
    for step in range(4):
        trial.report(config["x"] + step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return float(config["x"])


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads Linux's /proc")
def test_the_storage_proxy_listens_on_loopback_even_when_the_node_has_a_network_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    network = a_network_address()
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda *args, **kwargs: network)
    before = listening_sockets()
    during: list[set[tuple[str, int]]] = []
    study = create_study(
        {"x": floatv(0.0, 1.0)},
        reporting,
        storage=str(tmp_path / "s.journal"),
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.ThresholdPruner(upper=2.5),
    )
    study.optimize(
        n_trials=4, workers=2, callbacks=[lambda s, t: during.append(listening_sockets())]
    )
    opened = set().union(*during) - before
    assert opened, "the storage proxy should listen while the study runs"
    assert all(is_loopback(ip) for ip, _ in opened), f"listening beyond loopback: {opened}"
    assert listening_sockets() - before == set()  # closed when the run ends
    states = {t.state for t in study.trials}
    assert TrialState.PRUNED in states and len(study.trials) == 4  # the workers still report


def test_on_loopback_the_proxy_answers_only_calls_with_the_runs_token() -> None:
    import grpc

    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="guarded", storage=storage)
    with storage_proxy(storage) as at:
        assert at.host == "127.0.0.1" and len(at.token) >= 32
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            plain = optuna.storages.GrpcStorageProxy(host=at.host, port=at.port)  # another user
        wrong = proxy_client(Served(at.host, at.port, "guessed"))
        for client in (plain, wrong):
            with pytest.raises(grpc.RpcError) as refused:
                client.get_all_studies()
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError):
                client.get_study_id_from_name("guarded")
        assert proxy_client(at).get_study_id_from_name("guarded") == 0
        plain.close()
        wrong.close()


# -- workers reach the study through the relay ---------------------------------------------------


class OneTrial:
    """Plays a worker: reports and asks to prune through ``link``, as ``Evaluator`` does."""

    def __init__(self, link: StudyLink, study_name: str, pruner: Any) -> None:
        self._study = optuna.Study(study_name=study_name, storage=link.storage(), pruner=pruner)

    def run(self, trial_id: int, values: list[float]) -> list[bool]:
        trial = optuna.Trial(self._study, trial_id)
        answers = []
        for step, value in enumerate(values):
            trial.report(value, step)
            answers.append(trial.should_prune())
        return answers

    def trials(self) -> list[tuple[int, str, dict[int, float]]]:
        return [
            (t.number, t.state.name, dict(t.intermediate_values))
            for t in self._study.get_trials(deepcopy=False)
        ]

    def report_finished(self, trial_id: int) -> str:
        try:
            optuna.Trial(self._study, trial_id).report(1.0, 99)
        except optuna.exceptions.UpdateFinishedTrialError as exc:
            return type(exc).__name__
        return "accepted"

    def storage_type(self) -> str:
        return type(self._study._storage).__name__


@pytest.fixture()
def served() -> Any:
    """An in-memory study served on loopback, its relay, and a worker actor using it."""
    import ray

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="relayed", storage=storage)
    with storage_proxy(storage) as at:
        relay = start_relay(ray, at)
        worker: Any = ray.remote(OneTrial).remote(
            StudyLink(relay), "relayed", optuna.pruners.ThresholdPruner(upper=2.0)
        )
        try:
            yield study, relay, worker
        finally:
            ray.kill(worker)
            ray.kill(relay)


def test_a_worker_reports_and_prunes_through_the_relay(served: Any) -> None:
    import ray

    study, relay, worker = served
    here = ray.get_runtime_context().get_node_id()
    assert ray.get(relay.node_id.remote()) == here  # pinned to the driver's node
    assert ray.get(worker.storage_type.remote()) == "RelayedStorage"
    trial = study.ask()
    assert ray.get(worker.run.remote(trial._trial_id, [1.0, 1.5, 3.0])) == [False, False, True]
    stored = study.trials[0]
    assert stored.intermediate_values == {0: 1.0, 1: 1.5, 2: 3.0}
    study.tell(trial, state=TrialState.PRUNED)
    # the worker's copy of the trials follows the study: new trials, and changed states
    second = study.ask()
    assert ray.get(worker.run.remote(second._trial_id, [0.5])) == [False]
    study.tell(second, 0.5)
    assert ray.get(worker.trials.remote()) == [
        (0, "PRUNED", {0: 1.0, 1: 1.5, 2: 3.0}),
        (1, "COMPLETE", {0: 0.5}),
    ]
    # a storage's own errors reach the worker as themselves
    assert ray.get(worker.report_finished.remote(second._trial_id)) == "UpdateFinishedTrialError"


def test_the_relay_serves_storage_methods_only(served: Any) -> None:
    import ray

    _, relay, _ = served
    ok, error = ray.get(relay.call.remote("_setup", (), {}))
    assert not ok and isinstance(error, StudyError) and "'_setup'" in str(error)
    ok, directions = ray.get(relay.call.remote("get_study_directions", (0,), {}))
    assert ok and directions == [optuna.study.StudyDirection.MINIMIZE]


def test_existing_reporting_studies_go_through_the_relay(tmp_path: Path) -> None:
    def which(config: dict[str, Any], trial: Any) -> float:
        trial.report(config["x"], 0)
        trial.set_user_attr("storage", type(trial._optuna().storage).__name__)
        return float(config["x"])

    study = create_study({"x": floatv(0.0, 1.0)}, which, storage=str(tmp_path / "s.journal"))
    study.optimize(n_trials=2, workers=1)
    assert [t.user_attrs["storage"] for t in study.trials] == ["RelayedStorage"] * 2
    assert all(t.intermediate_values == {0: t.params["x"]} for t in study.trials)


# -- a driver on Ray Client ----------------------------------------------------------------------


def test_a_link_without_relay_is_a_clear_study_error() -> None:
    with pytest.raises(StudyError, match=r"Ray Client .*ray job submit"):
        StudyLink(unavailable=RAY_CLIENT_REASON).storage()


def test_on_ray_client_trials_that_report_fail_with_the_reason_and_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_relay, "driver_is_ray_client", lambda: True)

    def maybe_report(config: dict[str, Any], trial: Any) -> float:
        if trial.number == 0:
            trial.report(1.0, 0)
        time.sleep(0.01)
        return float(config["x"])

    study = create_study({"x": floatv(0.0, 1.0)}, maybe_report, storage=str(tmp_path / "s.journal"))
    study.optimize(n_trials=3, workers=1)
    first, *rest = study.trials
    assert first.state == TrialState.FAIL
    assert "Ray Client" in first.user_attrs["fail_reason"]
    assert "StudyError" in first.user_attrs["fail_reason"]
    assert [t.state for t in rest] == [TrialState.COMPLETE, TrialState.COMPLETE]
