"""The real optuna-dashboard opens what symtune writes (default storage), over HTTP."""

from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna
import pytest
from ray import cloudpickle

from symtune.search import create_study, default_storage
from symtune.spaces import floatv, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray]


def objective(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    if config["act"] == "bad":
        raise RuntimeError("unsupported activation")
    trial.set_user_attr("act_used", config["act"])
    return config["x"], 1.0 - config["x"] ** 2


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_local: None
) -> Iterator[tuple[str, Any]]:
    """A study written with the default storage, then optuna-dashboard serving that file."""
    from optuna_dashboard import wsgi

    monkeypatch.chdir(tmp_path)
    study = create_study(
        {"x": floatv(0.0, 1.0), "act": oneof(["relu", "tanh", "bad"])},
        objective,
        name="dash",
        directions=["minimize", "maximize"],
        metric_names=["error", "accuracy"],
        sampler=optuna.samplers.RandomSampler(seed=3),
    )
    study.optimize(n_trials=6, workers=2)
    assert Path(default_storage()).is_file()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server: WSGIServer = make_server(
        "127.0.0.1", port, wsgi(default_storage()), handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", study
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_dashboard_lists_the_study_its_trials_and_metric_names(
    dashboard: tuple[str, Any],
) -> None:
    base, study = dashboard
    summaries = get(f"{base}/api/studies")["study_summaries"]
    (summary,) = [s for s in summaries if s["study_name"] == "dash"]
    assert summary["directions"] == ["minimize", "maximize"]
    detail = get(f"{base}/api/studies/{summary['study_id']}")
    assert detail["name"] == "dash"
    assert detail["objective_names"] == ["error", "accuracy"]
    trials = detail["trials"]
    assert [t["number"] for t in trials] == [t.number for t in study.trials]
    assert [t["state"] for t in trials] == [t.state.name.capitalize() for t in study.trials]
    complete = [t for t in trials if t["state"] == "Complete"]
    assert complete and all(len(t["values"]) == 2 for t in complete)
    keys = {attr["key"] for t in trials for attr in t["user_attrs"]}
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert "act_used" in keys
    assert ("fail_reason" in keys) == bool(failed)
    assert len(detail["best_trials"]) == len(study.pareto_front())
