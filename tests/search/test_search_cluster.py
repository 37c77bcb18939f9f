"""Two Ray nodes (``ray.cluster_utils.Cluster`` on 127.0.0.1): trials run and report on both."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from ray import cloudpickle

from symtune.search import create_study
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_nodes(ray_on_loopback: None) -> Iterator[Any]:
    """A head and a worker node, one CPU each; the shared local Ray is shut down first."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    local: dict[str, Any] = {"node_ip_address": "127.0.0.1", "num_cpus": 1}
    cluster = Cluster(initialize_head=True, head_node_args={**local, "include_dashboard": False})
    cluster.add_node(**local)
    cluster.wait_for_nodes()
    cluster.connect()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def reporting(config: dict[str, Any], trial: Any) -> float:
    trial.set_user_attr("node_id", trial.node_id)
    for step in range(3):
        trial.report(config["x"] * (step + 1), step)
        time.sleep(0.05)
    time.sleep(0.3)
    return float(config["x"])


def test_trials_run_on_both_nodes_and_report_into_one_study(two_nodes: Any, tmp_path: Path) -> None:
    import ray

    study = create_study(
        {"x": floatv(0.0, 1.0)},
        reporting,
        storage=str(tmp_path / "c.journal"),
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.NopPruner(),
    )
    study.optimize(n_trials=6, workers=2)  # one CPU a node: one worker on each node
    trials = study.trials
    assert all(t.state == TrialState.COMPLETE for t in trials) and len(trials) == 6
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2
    assert {t.user_attrs["node_id"] for t in trials} == nodes
    assert set(study.results()["node_id"]) == nodes
    for trial in trials:
        x = trial.params["x"]
        assert trial.intermediate_values == pytest.approx({0: x, 1: 2 * x, 2: 3 * x})


def pruned_late(config: dict[str, Any], trial: Any) -> float:
    trial.set_user_attr("node_id", trial.node_id)
    for step in range(5):
        trial.report(config["x"] + step, step)  # above the threshold by step 2
        if trial.should_prune():
            raise optuna.TrialPruned()
        time.sleep(0.05)
    return float(config["x"])


def test_a_trial_on_the_other_node_reports_and_is_pruned_through_the_relay(
    two_nodes: Any, tmp_path: Path
) -> None:
    import ray

    study = create_study(
        {"x": floatv(0.0, 1.0)},
        pruned_late,
        storage=str(tmp_path / "p.journal"),
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=optuna.pruners.ThresholdPruner(upper=1.5),
    )
    study.optimize(n_trials=4, workers=2)
    driver_node = ray.get_runtime_context().get_node_id()
    elsewhere = [t for t in study.trials if t.user_attrs["node_id"] != driver_node]
    assert elsewhere, "some trial should run on the node without the driver"
    for trial in study.trials:
        x = trial.params["x"]
        last = next(step for step in range(5) if x + step > 1.5)  # the pruner's first "yes"
        assert trial.state == TrialState.PRUNED
        assert trial.intermediate_values == pytest.approx({s: x + s for s in range(last + 1)})
