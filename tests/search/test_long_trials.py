"""Long trials (issue 12): checkpoints that outlive a lost worker or driver, time limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from ray import cloudpickle

from symtune.search import StudyError, TrialTimeout, create_study, load_study
from symtune.search._checkpoints import CheckpointStore
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]

STEPS = 8


def resumable(config: dict[str, Any], trial: Any) -> float:
    """Train for STEPS steps, checkpointing each; the first attempt SIGKILLs its own worker
    right after the checkpoint at step ``kill_at``."""
    checkpoint = trial.load_checkpoint()
    start = 0 if checkpoint is None else checkpoint.step + 1
    total = 0.0 if checkpoint is None else checkpoint.state["total"]
    trial.set_user_attr("first_step", start)
    marker = Path(config["marker"])
    for step in range(start, STEPS):
        total += config["x"]
        if config["objectives"] == 1:
            trial.report(total, step)
        else:
            trial.report([total, -total], step)
        trial.save_checkpoint({"total": total}, step=step)
        if step == config["kill_at"] and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return total if config["objectives"] == 1 else (total, -total)  # type: ignore[return-value]


@pytest.mark.parametrize("objectives", [1, 2])
def test_a_retry_resumes_after_the_checkpoint_of_a_killed_worker(
    tmp_path: Path, objectives: int
) -> None:
    kill_at = 4
    space = {"x": 1.0, "marker": str(tmp_path / "killed"), "kill_at": kill_at}
    space["objectives"] = objectives
    directions = ["minimize"] * objectives
    study = create_study(
        space, resumable, name="ck", storage=str(tmp_path / "s.journal"), directions=directions
    )
    study.optimize(n_trials=1, workers=1)
    first, retry = study.trials
    assert first.user_attrs["fail_kind"] == "worker died"
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == 0
    assert retry.user_attrs["first_step"] == kill_at + 1  # it did not start over
    assert sorted(retry.intermediate_values) == list(range(STEPS))  # no gap, no duplicate
    assert retry.intermediate_values == {s: float(s + 1) for s in range(STEPS)}
    assert retry.values[0] == STEPS  # the state came back: the running total went on
    if objectives == 2:
        vectors = study.intermediate_values(retry.number)
        assert vectors == {s: [s + 1.0, -(s + 1.0)] for s in range(STEPS)}
    root = Path(study.checkpoint_root)
    assert root == tmp_path / "symtune-checkpoints"  # beside the storage file
    assert (root / "ck" / "trial-0" / "LATEST").is_file()


def test_a_checkpoint_root_given_as_a_file_url_and_a_folder(tmp_path: Path) -> None:
    space = {"x": 2.0, "marker": str(tmp_path / "killed"), "kill_at": 2, "objectives": 1}
    url = f"file://{tmp_path / 'shared'}"
    study = create_study(
        space, resumable, name="u", storage=str(tmp_path / "s.journal"), checkpoint_root=url
    )
    assert study.checkpoint_root == url
    assert load_study("u", str(tmp_path / "s.journal")).checkpoint_root == url  # stored
    study.optimize(n_trials=1)
    retry = study.trials[-1]
    assert retry.user_attrs["first_step"] == 3 and retry.value == 2.0 * STEPS
    assert (tmp_path / "shared" / "u" / "trial-0" / "LATEST").is_file()


def test_the_store_on_an_fsspec_memory_url_saves_atomically(tmp_path: Path) -> None:
    store = CheckpointStore("memory://ckpt-test", "study/with odd:name")
    assert store.latest(0) is None
    store.save(0, 3, state={"w": [1, 2]}, trial=0, trial_id=0, reports={2: 1.0, 3: 0.5})
    record = store.latest(0)
    assert record is not None and record.step == 3 and record.reports == {2: 1.0, 3: 0.5}
    assert store.load(0, record).state == {"w": [1, 2]}
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.txt").write_text("A")
    (tmp_path / "f" / "sub").mkdir()
    (tmp_path / "f" / "sub" / "b.bin").write_bytes(b"B")
    store.save(0, 5, folder=tmp_path / "f", trial=1, trial_id=1, reports={})
    loaded = store.load(0, store.latest(0))
    assert loaded.step == 5 and loaded.trial == 1 and loaded.path is not None
    assert (loaded.path / "a.txt").read_text() == "A"
    assert (loaded.path / "sub" / "b.bin").read_bytes() == b"B"
    assert store.lineages() == [0]
    with pytest.raises(TypeError, match=r"torch\.save"):  # nothing written: the old one stays
        store.save(0, 6, state=lambda: None, trial=1, trial_id=1, reports={})
    assert store.latest(0).step == 5
    assert store.remove(0) > 0 and store.lineages() == []


def test_a_crash_while_saving_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CheckpointStore(str(tmp_path), "s")
    store.save(7, 1, state={"v": 1}, trial=7, trial_id=7, reports={})

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.save(7, 2, state={"v": 2}, trial=7, trial_id=7, reports={})
    record = store.latest(7)
    assert record is not None and store.load(7, record).state == {"v": 1}
    latest = json.loads((tmp_path / "s" / "trial-7" / "LATEST").read_text())
    assert latest["step"] == 1


def slow_steps(config: dict[str, Any], trial: Any) -> float:
    for step in range(1000):
        time.sleep(0.05)
        trial.report(float(step), step)
    return 0.0


def hangs(config: dict[str, Any], trial: Any) -> float:
    if config["x"] > 0.5:
        time.sleep(3600)  # never reports: only the driver can stop it
    return float(config["x"])


def test_trials_over_their_time_limit_fail_as_timeout_and_the_study_goes_on(
    tmp_path: Path,
) -> None:
    study = create_study({"x": floatv(0.0, 1.0)}, slow_steps, storage=str(tmp_path / "s.j"))
    study.optimize(n_trials=2, workers=2, trial_timeout=0.6)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    for trial in study.trials:
        assert trial.user_attrs["fail_kind"] == "timeout"
        assert "over trial_timeout=0.6 s" in trial.user_attrs["fail_reason"]
        assert 0.6 <= trial.user_attrs["elapsed_s"] < 5.0
    assert study.counts()["finished"] == 2  # finished, not retried


def test_a_hung_objective_is_killed_after_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from symtune.search import _driver

    monkeypatch.setattr(_driver, "TIMEOUT_GRACE_S", 0.5)  # killed 0.5 s after its limit
    sampler = optuna.samplers.RandomSampler(seed=1)
    study = create_study(
        {"x": floatv(0.0, 1.0)}, hangs, storage=str(tmp_path / "s.j"), sampler=sampler
    )
    study.optimize(n_trials=6, workers=2, trial_timeout=0.5)
    trials = study.trials
    hung = [t for t in trials if t.params["x"] > 0.5]
    assert hung and len(trials) == 6  # the study finished: nothing retried
    for trial in hung:
        assert trial.state == TrialState.FAIL and trial.user_attrs["fail_kind"] == "timeout"
        assert "its worker was killed" in trial.user_attrs["fail_reason"]
    done = [t for t in trials if t.params["x"] <= 0.5]
    assert all(t.state == TrialState.COMPLETE for t in done)


def test_timeouts_are_retried_only_when_asked(tmp_path: Path) -> None:
    study = create_study({"x": floatv(0.0, 1.0)}, slow_steps, storage=str(tmp_path / "s.j"))
    study.optimize(n_trials=1, trial_timeout=0.3, retry_timeouts=True, max_retries=1)
    trials = study.trials
    assert [t.user_attrs["fail_kind"] for t in trials] == ["timeout", "timeout"]
    assert trials[0].user_attrs["timeout_retried"] is True
    assert trials[1].user_attrs["retry_of"] == 0
    assert study.counts()["finished"] == 1  # the retry; its first attempt does not count


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"trial_timeout": 0}, "`trial_timeout` must be None or a number of seconds > 0"),
        ({"trial_timeout": "10"}, "but got '10'"),
        ({"retry_timeouts": 1}, "`retry_timeouts` must be True or False"),
    ],
)
def test_bad_time_limits_are_refused(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    study = create_study({"x": floatv(0.0, 1.0)}, hangs, storage=str(tmp_path / "s.j"))
    with pytest.raises(StudyError, match=match):
        study.optimize(n_trials=1, **kwargs)


def test_the_handle_raises_timeout_past_its_limit() -> None:
    from symtune.search import TrialHandle

    handle = TrialHandle(0, 0, {}, timeout=0.01)
    time.sleep(0.02)
    with pytest.raises(TrialTimeout, match=r"trial 0 ran 0\.\d s, over trial_timeout=0.01 s"):
        handle.report(1.0, 0)
    assert not isinstance(TrialTimeout("x"), Exception)  # `except Exception` lets it through


def test_save_checkpoint_refuses_bad_arguments(tmp_path: Path) -> None:
    from symtune.search import TrialHandle

    handle = TrialHandle(0, 0, {}, checkpoints=CheckpointStore(str(tmp_path), "s"))
    handle._lineage = 0  # no study to ask: a first attempt
    with pytest.raises(ValueError, match=r"exactly one of `state`.*got neither"):
        handle.save_checkpoint(step=1)
    with pytest.raises(ValueError, match="got both"):
        handle.save_checkpoint({}, step=1, folder=tmp_path)
    with pytest.raises(ValueError, match="must be an existing folder"):
        handle.save_checkpoint(folder=tmp_path / "none", step=1)
    handle.save_checkpoint({"a": 1}, step=3)
    with pytest.raises(ValueError, match=r"must not go back, but got step=2 after .* step 3"):
        handle.save_checkpoint({"a": 1}, step=2)
    with pytest.raises(TypeError, match="`step` of `save_checkpoint` must be an int >= 0"):
        handle.save_checkpoint({"a": 1}, step="4")
    with pytest.raises(RuntimeError, match="has no checkpoint root"):
        TrialHandle(0, 0, {}).load_checkpoint()


def test_create_study_refuses_a_bad_checkpoint_root(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="`checkpoint_root` must be a folder path or an fsspec"):
        create_study({"x": 1.0}, hangs, storage=str(tmp_path / "s.j"), checkpoint_root=3)
    with pytest.raises(StudyError, match="needs the fsspec file system for 'nosuchfs'"):
        create_study(
            {"x": 1.0}, hangs, storage=str(tmp_path / "s.j"), checkpoint_root="nosuchfs://x"
        )


def test_clean_checkpoints_keeps_none_the_front_or_all(tmp_path: Path) -> None:
    def saves(config: dict[str, Any], trial: Any) -> float:
        trial.report(config["x"], 0)
        trial.save_checkpoint({"x": config["x"]}, step=0)
        return float(config["x"])

    study = create_study(
        {"x": floatv(0.0, 1.0)},
        saves,
        storage=str(tmp_path / "s.j"),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(n_trials=4, workers=2)
    best = study.best_trial.number
    assert study.clean_checkpoints(keep="all")["removed"] == []
    summary = study.clean_checkpoints(keep="front")
    assert summary["kept"] == [best] and len(summary["removed"]) == 3
    assert summary["bytes_freed"] > 0
    assert study.clean_checkpoints(keep="none")["removed"] == [best]
    with pytest.raises(StudyError, match=r"`keep` must be one of \['all', 'front', 'none'\]"):
        study.clean_checkpoints(keep="best")


DEAD_DRIVER = """
import sys, time
from symtune.search import create_study

def objective(config, trial):
    checkpoint = trial.load_checkpoint()
    start = 0 if checkpoint is None else checkpoint.step + 1
    trial.set_user_attr("first_step", start)
    for step in range(start, 12):
        trial.report(float(step), step)
        trial.save_checkpoint({"step": step}, step=step)
        time.sleep(0.3 if checkpoint is None else 0.0)
    return 1.0

study = create_study({"x": 1.0}, objective, name="victim", storage=sys.argv[1])
study.optimize(n_trials=1, address=sys.argv[2])
"""


@pytest.mark.slow
def test_a_killed_driver_s_checkpointed_trial_is_resumed(tmp_path: Path) -> None:
    import ray

    storage = str(tmp_path / "s.journal")
    script = tmp_path / "driver.py"
    script.write_text(DEAD_DRIVER)
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [sys.executable, str(script), storage, address], stderr=subprocess.PIPE
    )
    latest = tmp_path / "symtune-checkpoints" / "victim" / "trial-0" / "LATEST"
    deadline = time.monotonic() + 90
    while not (latest.exists() and json.loads(latest.read_text())["step"] >= 3):
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the driver never checkpointed"
        time.sleep(0.05)
    driver.kill()  # SIGKILL: the run leaves its trial RUNNING
    driver.wait()
    sys.path.insert(0, str(tmp_path))
    try:
        ns: dict[str, Any] = {}
        exec(compile(DEAD_DRIVER.split("study =")[0], "driver", "exec"), ns)
        study = create_study({"x": 1.0}, ns["objective"], name="victim", storage=storage)
        study.optimize(n_trials=1)
    finally:
        sys.path.remove(str(tmp_path))
    first, retry = study.trials
    assert first.user_attrs["fail_kind"] == "stale"
    assert retry.state == TrialState.COMPLETE
    saved = retry.user_attrs["first_step"] - 1
    assert saved >= 3  # resumed after the checkpoint, not from 0
    assert sorted(retry.intermediate_values) == list(range(12))


def curve(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    """A learning curve that falls to ``config["x"]``; the second objective is a fixed cost."""
    checkpoint = trial.load_checkpoint()
    start = 0 if checkpoint is None else checkpoint.step  # it saved step + 1 below
    for step in range(start, 9):
        error = config["x"] + 1.0 / (step + 1)
        trial.report([error, config["cost"]], step + 1)
        trial.save_checkpoint({"step": step}, step=step + 1)
        if trial.should_prune():
            raise optuna.TrialPruned
        if config.get("kill_at") == step + 1 and not Path(config["marker"]).exists():
            Path(config["marker"]).touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return config["x"], config["cost"]


def test_a_two_objective_study_prunes_by_pareto_dominance(tmp_path: Path) -> None:
    from symtune.search import ParetoPruner

    space = {"x": floatv(0.0, 1.0), "cost": floatv(0.0, 1.0)}
    study = create_study(
        space,
        curve,
        directions=["minimize", "minimize"],
        storage=str(tmp_path / "s.j"),
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=ParetoPruner(min_resource=1, reduction_factor=3),
    )
    study.optimize(n_trials=24, workers=2)
    counts = study.counts()
    assert counts["pruned"] >= 6 and counts["complete"] >= 2  # it prunes for real
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    stopped = [max(t.intermediate_values) for t in pruned]
    assert set(stopped) <= {1, 3, 9} and min(stopped) < 9  # at rungs, some early


def test_a_resumed_retry_keeps_the_rung_decisions_its_checkpoint_covers(tmp_path: Path) -> None:
    from symtune.search import ParetoPruner

    space = {"x": 0.5, "cost": 0.5, "kill_at": 4, "marker": str(tmp_path / "killed")}
    study = create_study(
        space,
        curve,
        directions=["minimize", "minimize"],
        storage=str(tmp_path / "s.j"),
        pruner=ParetoPruner(min_resource=1, reduction_factor=3),
    )
    study.optimize(n_trials=1)
    first, retry = study.trials
    assert first.user_attrs["fail_kind"] == "worker died"
    markers = sorted(k for k in retry.system_attrs if k.startswith("symtune:rung:"))
    assert markers == ["symtune:rung:0", "symtune:rung:1", "symtune:rung:2"]
    assert retry.system_attrs["symtune:rung:1"] == first.system_attrs["symtune:rung:1"]
    assert sorted(study.intermediate_values(retry.number)) == list(range(1, 10))


def test_the_cli_lists_and_cleans_checkpoints_and_checks_trial_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search.cli import main

    storage = str(tmp_path / "s.j")
    store = CheckpointStore(str(tmp_path / "symtune-checkpoints"), "c")

    def objective(config: dict[str, Any], trial: Any) -> float:
        return float(config["x"])

    study = create_study({"x": floatv(0.0, 1.0)}, objective, name="c", storage=storage)
    ids = [study.optuna_study.ask() for _ in range(3)]
    for value, trial in zip([0.3, 0.1, 0.2], ids, strict=True):
        trial.suggest_float("x", 0.0, 1.0)
        study.optuna_study.tell(trial, value)
        store.save(trial.number, 0, state={}, trial=trial.number, trial_id=0, reports={})
    assert main(["checkpoints", "c", "--storage", storage]) == 0
    out = capsys.readouterr().out
    assert "3 trials keep checkpoints: 0, 1, 2" in out and "symtune-checkpoints" in out
    assert main(["checkpoints", "c", "--storage", storage, "--keep", "front"]) == 0
    out = capsys.readouterr().out
    assert "removed those of 2 trials" in out and "1 trials keep checkpoints: 1" in out
    assert store.lineages() == [1]
    assert main(["run", "zdt", "--trial-timeout", "0", "--storage", storage]) == 2
    assert "--trial-timeout must be > 0, but got 0.0" in capsys.readouterr().err


def test_a_cluster_is_warned_about_the_default_local_checkpoint_root(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from symtune.search import _optimize

    class TwoNodes:
        @staticmethod
        def nodes() -> list[dict[str, Any]]:
            return [{"Alive": True}, {"Alive": True}]

    storage = str(tmp_path / "s.j")
    default = create_study({"x": 1.0}, hangs, name="a", storage=storage)
    shared = create_study(
        {"x": 1.0}, hangs, name="b", storage=storage, checkpoint_root=tmp_path / "nfs"
    )
    with caplog.at_level(logging.WARNING, logger="symtune.search"):
        _optimize._warn_local_checkpoints(TwoNodes, default)
        assert "will not find its checkpoint there" in caplog.text
        caplog.clear()
        _optimize._warn_local_checkpoints(TwoNodes, shared)  # a root given: trusted
        assert caplog.text == ""


@pytest.mark.parametrize("damage", ["record", "state", "folder"])
def test_a_damaged_checkpoint_starts_the_trial_over_with_a_warning(
    tmp_path: Path, damage: str
) -> None:
    from symtune.search import TrialHandle

    store = CheckpointStore(str(tmp_path), "s")
    store.save(0, 4, state={"a": 1}, trial=0, trial_id=0, reports={})
    folder = next((tmp_path / "s" / "trial-0").glob("step-*"))
    if damage == "record":
        (tmp_path / "s" / "trial-0" / "LATEST").write_text('{"step": 4, "fold')
    elif damage == "state":
        (folder / "state.pt").write_bytes(b"not a torch file")
    else:
        import shutil

        shutil.rmtree(folder)
    handle = TrialHandle(1, 1, {}, checkpoints=store)
    handle._lineage = 0
    with pytest.warns(UserWarning, match="its checkpoint cannot be read, so it starts over"):
        assert handle.load_checkpoint() is None


def test_a_checkpoint_root_that_cannot_hold_checkpoints_is_refused_before_any_trial(
    tmp_path: Path,
) -> None:
    (tmp_path / "afile").write_text("")
    study = create_study(
        {"x": 1.0}, hangs, storage=str(tmp_path / "s.j"), checkpoint_root=tmp_path / "afile" / "c"
    )
    with pytest.raises(StudyError, match=r"cannot hold checkpoints \(.*afile is not a folder\)"):
        study.optimize(n_trials=1)
    assert study.trials == []  # refused before Ray and before any trial
    store = CheckpointStore(str(tmp_path / "afile" / "c"), "s")
    handle_error = None
    from symtune.search import TrialHandle

    handle = TrialHandle(3, 3, {}, checkpoints=store)
    handle._lineage = 3
    try:
        handle.save_checkpoint({"a": 1}, step=0)
    except OSError as exc:
        handle_error = str(exc)
    assert handle_error is not None and "under the checkpoint root" in handle_error
    with pytest.raises(ValueError, match="must be an int >= 0, but got -1"):
        handle.save_checkpoint({"a": 1}, step=-1)


STUDY_FILE = """
from symtune.search import StudySpec
from symtune.spaces import Space, floatv

def objective(config, trial):
    trial.save_checkpoint({"x": config["x"]}, step=0)
    return config["x"]

STUDY = StudySpec(name="flags", space=Space({"x": floatv(0.0, 1.0)}), objective=objective,
                  metric_names=("x",), n_trials=2)
"""


def test_symtune_run_takes_the_checkpoint_root_max_retries_and_says_when_timeout_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search.cli import main

    (tmp_path / "flags.py").write_text(STUDY_FILE)
    storage = str(tmp_path / "s.j")
    root = tmp_path / "ckpt"
    base = ["run", str(tmp_path / "flags.py"), "--storage", storage, "--no-progress"]
    assert main([*base, "--max-retries", "-1"]) == 2
    assert "--max-retries must be >= 0, but got -1" in capsys.readouterr().err
    assert main([*base, "--checkpoint-root", str(root), "--max-retries", "0"]) == 0
    assert load_study("flags", storage).checkpoint_root == str(root)
    assert sorted(p.name for p in (root / "flags").iterdir()) == ["trial-0", "trial-1"]
    capsys.readouterr()
    assert main([*base, "--trials", "1000", "--timeout", "0.5"]) == 0
    assert "--timeout 0.5 s passed: no new trial was started after it" in capsys.readouterr().out
