"""No hidden errors (issue 10, rule 7): what symtune.search catches is the error it expects, and
anything broader is logged; and the one way it quotes an exception (rule 8). Without Ray."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from symtune.search import TrialHandle, _results, _runs, create_study, load_study
from symtune.search._driver import Driver, OptimizeOptions, _InFlight
from symtune.search._errors import StudyError, one_line
from symtune.search._optimize import _forget_if_empty
from symtune.search._pool import WorkerPool, WorkerStartError
from symtune.spaces import oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)

LOGGER = "symtune.search"


def objective(config: Any, trial: Any) -> float:
    return float(config["x"])


# -- the one quoting helper ----------------------------------------------------------------------


def test_one_line_quotes_type_and_message_on_one_line() -> None:
    error = ValueError("first line\n  second\tline  ")
    assert one_line(error) == "ValueError: first line second line"
    assert one_line(error, first_line=True) == "ValueError: first line"
    assert one_line(error, with_type=False) == "first line second line"
    assert one_line(KeyError()) == "KeyError"  # no message: the type alone
    assert one_line(RuntimeError("  "), with_type=False) == "RuntimeError"


def test_cli_one_line_is_deprecated_but_still_works() -> None:
    import symtune.search.cli as cli

    with pytest.warns(DeprecationWarning, match=r"symtune\.search\.cli\.one_line is deprecated"):
        old = cli.one_line
    assert old(ValueError("bad\nvalue")) == "bad value"
    with pytest.raises(AttributeError):
        cli.no_such_name  # noqa: B018


# -- reading a study: trials of another version of the space ---------------------------------------


@pytest.fixture()
def study_with_a_misfit(tmp_path: Path) -> Any:
    """A study of ``{"x": oneof([1, 2])}`` holding one trial of that space and one (trial 1)
    whose parameter ``y`` the space does not have."""
    storage = str(tmp_path / "s.journal")
    study = create_study({"x": oneof([1, 2])}, objective, name="s", storage=storage)
    ostudy = study.optuna_study
    trial = ostudy.ask()
    study.space.suggest_params(trial)
    ostudy.tell(trial, 1.0)
    ostudy.add_trial(
        create_trial(params={"y": 3}, distributions={"y": IntDistribution(0, 5)}, value=2.0)
    )
    return load_study("s", storage=storage)


def test_results_over_a_trial_that_does_not_fit_the_space_log_a_warning(
    study_with_a_misfit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        frame = study_with_a_misfit.results()
    assert frame["y"].tolist()[1] == 3  # shown as stored, as before
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == 1, warnings  # one for the table, not one per trial
    assert "1 trial(s) (1) do not fit the study's space" in warnings[0]
    assert "SpaceError" in warnings[0] and "'y'" in warnings[0]


def test_a_plot_over_a_trial_that_does_not_fit_the_space_logs_a_warning(
    study_with_a_misfit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ostudy = study_with_a_misfit.optuna_study
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        shown = _results.readable_study(ostudy, study_with_a_misfit.space)
    assert shown is ostudy  # plotted as stored, as before
    assert any("does not fit the study's space" in r.getMessage() for r in caplog.records)


def test_an_unexpected_error_while_reading_parameters_is_not_swallowed(
    study_with_a_misfit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = study_with_a_misfit.space

    def broken(assignment: Any) -> Any:
        raise RuntimeError("a bug in describe")

    monkeypatch.setattr(type(space), "describe", lambda self, assignment: broken(assignment))
    with pytest.raises(RuntimeError, match="a bug in describe"):
        study_with_a_misfit.results()


# -- the driver's bookkeeping: failures it used to swallow -----------------------------------------


class FailingStorage(optuna.storages.InMemoryStorage):
    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        raise RuntimeError("the database went away")


def test_a_run_end_that_cannot_be_recorded_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    storage = optuna.storages.InMemoryStorage()
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "r")
    run = _runs.Run(storage, study_id)
    run.start()
    run.storage = FailingStorage()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        run.end()  # does not raise: it runs in a `finally`
    assert run.run_id not in _runs._ACTIVE_RUNS
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"the end of run {run.run_id}" in m and "went away" in m for m in messages)


def test_an_empty_study_that_cannot_be_removed_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Storage(optuna.storages.InMemoryStorage):
        def delete_study(self, study_id: int) -> None:
            raise RuntimeError("read-only database")

    storage = Storage()
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "empty")
    study = SimpleNamespace(storage=storage, study_id=study_id, name="empty")
    run = _runs.Run(storage, study_id)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _forget_if_empty(study, run)
    assert any("read-only database" in r.getMessage() for r in caplog.records)


class RayError(Exception):
    pass


class RayTaskError(RayError):
    pass


def fake_ray(get: Any) -> Any:
    return SimpleNamespace(
        get=get,
        wait=lambda refs, num_returns, timeout: (list(refs), []),
        kill=lambda actor, no_restart: None,
        exceptions=SimpleNamespace(RayError=RayError, RayTaskError=RayTaskError),
    )


def test_stopping_logs_an_unexpected_error_and_still_fails_trials_as_interrupted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = optuna.storages.InMemoryStorage()
    ostudy = optuna.create_study(storage=storage, study_name="d")
    trial = ostudy.ask()
    slot = SimpleNamespace(actor=object(), calls=["ref"], exclusive=None)
    counts = _runs.Counts(running=1)
    driver = Driver(
        study=SimpleNamespace(name="d", study_id=0),
        storage=storage,
        optuna_study=ostudy,
        run=None,
        options=OptimizeOptions(),
        proxy=None,
        counts=counts,
    )
    driver._inflight = {"ref": [_InFlight(slot, trial, trial.number, {})]}
    driver._n_inflight = 1

    def get(ref: Any, timeout: float | None = None) -> Any:
        raise AttributeError("a bug while storing a result")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        driver._abort(fake_ray(get), KeyboardInterrupt())
    frozen = ostudy.get_trials()[0]
    assert frozen.state == TrialState.FAIL
    assert frozen.user_attrs["fail_kind"] == _runs.INTERRUPTED
    logged = [r for r in caplog.records if "while stopping" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "a bug while storing a result" in str(logged[0].exc_info[1])


def test_a_worker_that_cannot_start_is_a_worker_start_error_and_a_bug_is_not() -> None:
    def failing(error: Exception) -> WorkerPool:
        def get(ref: Any) -> Any:
            raise error

        ray = fake_ray(get)
        actor = SimpleNamespace(ready=SimpleNamespace(remote=lambda: "ping"))
        return WorkerPool(ray, lambda: actor, 1)

    pool = failing(RayTaskError("ModuleNotFoundError: No module named 'mine'"))
    with pytest.raises(WorkerStartError, match="cannot import module 'mine'"):
        pool.on_ping("ping", "s")
    pool = failing(AttributeError("a bug in symtune"))
    with pytest.raises(AttributeError, match="a bug in symtune"):
        pool.on_ping("ping", "s")


def test_a_death_note_that_cannot_be_read_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from symtune.search import _ray

    def unreachable(key: str, namespace: str) -> bytes:
        raise ConnectionError("GCS unreachable")

    monkeypatch.setattr(_ray, "kv_get", unreachable)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert _ray.read_death_note("abc") is None
    assert any("GCS unreachable" in r.getMessage() for r in caplog.records)
    deleted: list[str] = []
    monkeypatch.setattr(_ray, "kv_get", lambda key, namespace: b"not json")
    monkeypatch.setattr(_ray, "kv_del", lambda key, namespace: deleted.append(key))
    assert _ray.read_death_note("abc") is None
    assert deleted == ["death:abc"]
    monkeypatch.setattr(_ray, "kv_get", lambda key, namespace: b'{"how": "os._exit(3)"}')
    assert _ray.read_death_note("abc") == {"how": "os._exit(3)"}


def test_a_user_attribute_whose_tolist_raises_says_why_it_is_a_string() -> None:
    class Odd:
        def tolist(self) -> Any:
            raise ValueError("no list form")

        def __repr__(self) -> str:
            return "Odd()"

    handle = TrialHandle(0, 0, {})
    with pytest.warns(UserWarning, match=r"tolist\(\) raised ValueError: no list form"):
        handle.set_user_attr("odd", Odd())
    assert handle.user_attrs["odd"] == "Odd()"


def test_syncing_a_deleted_journal_is_nothing_to_do(tmp_path: Path) -> None:
    from symtune.search._storage import _GroupSync

    path = tmp_path / "gone.journal"
    path.write_text("{}\n")
    syncer = _GroupSync(str(path), 0.01)
    syncer.sync_now()
    path.unlink()
    syncer.sync_now()  # the file went away: nothing left to sync, no error


def test_the_cli_prints_user_errors_as_one_line_and_lets_bugs_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search import _cli_commands, cli

    def user_error(args: Any) -> int:
        raise StudyError("a bad\nstudy")

    monkeypatch.setattr(_cli_commands, "cmd_studies", user_error)
    assert cli.main(["studies"]) == cli.EXIT_USER_ERROR
    assert capsys.readouterr().err == "symtune: error: a bad study\n"

    def bug(args: Any) -> int:
        raise AttributeError("a bug")

    monkeypatch.setattr(_cli_commands, "cmd_studies", bug)
    with pytest.raises(AttributeError, match="a bug"):
        cli.main(["studies"])


def test_a_journal_sync_the_disk_refuses_is_logged_and_syncing_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from symtune.search import _storage

    def refused(path: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_storage, "fsync_file", refused)
    syncer = _storage._GroupSync(str(tmp_path / "j.journal"), 0.0)
    syncer._pending = True
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        syncer._run()  # in this thread: one sync that fails, then nothing pending
    assert any("could not be synced" in r.getMessage() for r in caplog.records)


def test_a_stored_space_whose_module_raises_on_import_is_logged_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a SpaceError (a target that is not importable) but the user's module failing: the
    study still loads without its space, the reason says what failed, and the log has it all."""
    import sys

    module = tmp_path / "fragile_targets.py"
    module.write_text("def width(n):\n    return n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from symtune.spaces import Space, symbolic

    space = Space({"x": oneof([1, 2]), "w": symbolic(__import__("fragile_targets").width)(n=3)})
    url = f"sqlite:///{tmp_path / 'study.db'}"
    create_study(space, objective, storage=url, name="fragile")
    module.write_text("raise RuntimeError('this module needs a GPU to import')\n")
    monkeypatch.delitem(sys.modules, "fragile_targets")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        study = load_study("fragile", url)
    with pytest.raises(StudyError, match="RuntimeError: this module needs a GPU"):
        study.best_config()
    assert any("cannot be rebuilt" in r.getMessage() and r.exc_info for r in caplog.records)
