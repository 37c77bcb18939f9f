"""Storage: the default file, clear errors for bad URLs, and Optuna-compatible journal files."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from symtune.search import StudyError, create_study, default_storage, load_study, open_storage
from symtune.search._storage import FastJournalFileBackend, is_local_filesystem, redact_url
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_default_storage_is_a_journal_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_storage() == str(tmp_path / "symtune.journal")
    storage, shown = open_storage(None)
    assert isinstance(storage, JournalStorage)
    assert shown == str(tmp_path / "symtune.journal")
    assert (tmp_path / "symtune.journal").is_file()


@pytest.mark.parametrize(
    "url",
    ["nosuchdialect://host/db", "postgresql+nosuchdriver://user:secret@127.0.0.1:1/db"],
)
def test_a_bad_url_raises_a_study_error_naming_it_without_password(url: str) -> None:
    with pytest.raises(StudyError) as info:
        open_storage(url)
    message = str(info.value)
    assert redact_url(url) in message
    assert "secret" not in message
    assert "\n" not in message


def test_sqlite_url_and_storage_objects_are_accepted(tmp_path: Path) -> None:
    storage, shown = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    optuna.create_study(storage=storage, study_name="s")
    assert shown.endswith("x.db")
    same, _ = open_storage(storage)
    assert same is storage


def test_an_sqlite_file_given_as_a_path_gets_a_hint(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    optuna.create_study(storage=f"sqlite:///{db}", study_name="s")
    with pytest.raises(StudyError, match="sqlite:///"):
        open_storage(str(db))


def test_bad_paths_and_types_raise_study_errors(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="does not exist"):
        open_storage(str(tmp_path / "missing" / "x.journal"))
    with pytest.raises(StudyError, match="directory"):
        open_storage(str(tmp_path))
    with pytest.raises(StudyError, match="storage"):
        open_storage(42)
    with pytest.raises(StudyError, match="does not exist"):
        open_storage(str(tmp_path / "none.journal"), create=False)


def _write_trials(study: optuna.Study, n: int, offset: float = 0.0) -> None:
    for i in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 10)
        trial.set_user_attr("i", i)
        study.tell(trial, x + offset)


def test_symtune_journal_reads_in_plain_optuna_and_back(tmp_path: Path) -> None:
    path = str(tmp_path / "j.journal")
    ours = JournalStorage(FastJournalFileBackend(path))
    study = optuna.create_study(storage=ours, study_name="s")
    _write_trials(study, 5)
    theirs = JournalStorage(JournalFileBackend(path))
    loaded = optuna.load_study(study_name="s", storage=theirs)
    assert [t.params for t in loaded.trials] == [t.params for t in study.trials]
    assert [t.user_attrs for t in loaded.trials] == [{"i": i} for i in range(5)]
    _write_trials(loaded, 2, offset=100.0)  # plain Optuna appends; we see it
    assert len(study.trials) == 7
    assert study.trials[-1].value == loaded.trials[-1].value


def test_interleaved_writers_agree_on_every_trial(tmp_path: Path) -> None:
    """Two processes' worth of storages writing the same file alternately (one of them
    Optuna's own backend) end with the same trials, ids and values as a fresh reader."""
    path = str(tmp_path / "j.journal")
    a = optuna.create_study(storage=JournalStorage(FastJournalFileBackend(path)), study_name="s")
    b = optuna.load_study(study_name="s", storage=JournalStorage(FastJournalFileBackend(path)))
    c = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
    for round_ in range(6):
        for offset, study in ((0.0, a), (1000.0, b), (2000.0, c)):
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            study.tell(trial, x + offset + round_)
    fresh = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
    expected = [(t.number, t.value, t.params) for t in fresh.trials]
    assert len(expected) == 18
    for study in (a, b, c):
        assert [(t.number, t.value, t.params) for t in study.trials] == expected
    assert all(t.state == TrialState.COMPLETE for t in fresh.trials)


def test_sync_and_pickle_keep_the_backend_usable(tmp_path: Path) -> None:
    path = str(tmp_path / "j.journal")
    backend = FastJournalFileBackend(path, sync_interval=0.01)
    study = optuna.create_study(storage=JournalStorage(backend), study_name="s")
    _write_trials(study, 3)
    backend.sync()
    clone = pickle.loads(pickle.dumps(backend))
    assert len(list(clone.read_logs(0))) == len(list(JournalFileBackend(path).read_logs(0)))


def test_network_filesystems_keep_optunas_lock(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\n"
        "server:/export /mnt/shared nfs4 rw 0 0\n"
        "sshfs#me@host: /mnt/remote fuse.sshfs rw 0 0\n"
    )
    assert is_local_filesystem("/home/me/s.journal", str(mounts))
    assert not is_local_filesystem("/mnt/shared/s.journal", str(mounts))
    assert not is_local_filesystem("/mnt/remote/a/s.journal", str(mounts))
    assert not is_local_filesystem("/home/me/s.journal", str(tmp_path / "no-such-file"))


# -- opening a fresh SQLite file from several processes at once ----------------------------------


def _open_in_rounds(urls: list[str], barrier: Any, results: Any) -> None:
    from symtune.search import open_storage as open_it

    for url in urls:
        barrier.wait(timeout=60)
        try:
            open_it(url)
            results.put("ok")
        except Exception as exc:
            results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork of a process that may run Ray
    urls = [f"sqlite:///{tmp_path / f'fresh{i}.db'}" for i in range(6)]
    barrier, results = context.Barrier(3), context.Queue()
    processes = [
        context.Process(target=_open_in_rounds, args=(urls, barrier, results)) for _ in range(3)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(len(urls) * len(processes))]
    for process in processes:
        process.join(timeout=60)
    assert outcomes == ["ok"] * len(outcomes)
    for url in urls:  # and each file holds one working Optuna schema
        optuna.create_study(storage=url, study_name="s")


def test_a_database_that_keeps_failing_is_named_as_such_not_as_a_bad_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy.exc

    import symtune.search._storage as storage_module

    calls: list[str] = []

    def locked(url: str) -> Any:
        calls.append(url)
        raise sqlalchemy.exc.OperationalError("INSERT ...", {}, Exception("database is locked"))

    monkeypatch.setattr(storage_module, "_OPEN_BACKOFF", 0.001)
    monkeypatch.setattr(storage_module, "_connect", locked)
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    with pytest.raises(StudyError) as info:
        open_storage(url)
    message = str(info.value)
    assert "database is locked" in message and f"{len(calls)} attempts" in message
    assert len(calls) > 1 and "is expected" not in message and "\n" not in message


def test_a_failure_of_the_first_attempt_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy.exc

    import symtune.search._storage as storage_module

    real, calls = storage_module._connect, []

    def once_racing(url: str) -> Any:
        calls.append(url)
        if len(calls) == 1:
            raise sqlalchemy.exc.IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint"))
        return real(url)

    monkeypatch.setattr(storage_module, "_connect", once_racing)
    storage, _ = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    optuna.create_study(storage=storage, study_name="s")
    assert len(calls) == 2


# -- read-only storages ---------------------------------------------------------------------------


def _immutable(path: Path) -> None:
    """``chattr +i``: read-only even for root (these tests run as root in CI)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: no read-only mechanism that binds root")
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {result.stderr.strip()}")


@pytest.fixture()
def read_only(tmp_path: Path) -> Iterator[Any]:
    """Makes paths immutable (``chattr +i``), and writable again after the test."""
    made: list[Path] = []

    def make(path: Path) -> None:
        _immutable(path)
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _toy(config: dict[str, float], trial: Any) -> float:
    return config["x"]


def _stored(storage: str) -> None:
    study = create_study({"x": floatv(0.0, 1.0)}, _toy, name="s", storage=storage)
    _write_trials(study.optuna_study, 2)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_storage_cannot_be_resumed_but_can_be_read(
    tmp_path: Path, read_only: Any, kind: str, what: str
) -> None:
    file = tmp_path / ("s.journal" if kind == "journal" else "s.db")
    storage = str(file) if kind == "journal" else f"sqlite:///{file}"
    _stored(storage)
    if kind == "journal" and what == "directory":
        file = tmp_path / "new.journal"  # an existing journal in it can still be appended to
        storage = str(file)
    read_only(file if what == "file" else tmp_path)
    with pytest.raises(StudyError, match="cannot be written") as info:
        create_study({"x": floatv(0.0, 1.0)}, _toy, name="s", storage=storage)
    assert str(file if what == "file" else tmp_path) in str(info.value)
    if file.exists():
        assert len(load_study("s", storage).trials) == 2  # reading still works


def test_a_storage_that_turns_read_only_during_a_run_is_a_study_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import symtune.search._storage as storage_module

    path = tmp_path / "s.journal"
    study = create_study({"x": floatv(0.0, 1.0)}, _toy, name="s", storage=str(path))
    real_open = os.open

    def refuse_writes(file: Any, flags: int, *args: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(1, "Operation not permitted", str(file))
        return real_open(file, flags, *args)

    monkeypatch.setattr(storage_module.os, "open", refuse_writes)
    with pytest.raises(StudyError, match=r"cannot be written \(.*Operation not permitted"):
        study.optuna_study.ask()


def test_symtune_run_on_a_read_only_storage_is_one_line_and_exit_code_2(
    tmp_path: Path, read_only: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search.cli import main

    (tmp_path / "toy_study.py").write_text(
        "from symtune.search import StudySpec\n"
        "from symtune.spaces import floatv\n"
        "def objective(config, trial):\n"
        "    return config['x']\n"
        "STUDY = StudySpec(name='s', space={'x': floatv(0.0, 1.0)}, objective=objective)\n"
    )
    storage = tmp_path / "s.journal"
    _stored(str(storage))
    read_only(storage)
    code = main(["run", str(tmp_path / "toy_study.py"), "--storage", str(storage)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot be written" in err and str(storage) in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["show", "s", "--storage", str(storage)]) == 0  # reading still works
    assert "2 finished" in capsys.readouterr().out


def test_load_study_on_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StudyError, match=r"no study named 's'.*does not exist"):
        load_study("s", f"sqlite:///{missing}")
    assert not missing.exists()


@pytest.mark.parametrize("storage_url", ["postgresql"], indirect=True)
def test_a_plain_postgresql_url_uses_the_installed_psycopg(storage_url: str) -> None:
    plain = storage_url.replace("postgresql+psycopg://", "postgresql://", 1)
    storage, shown = open_storage(plain)
    optuna.create_study(storage=storage, study_name="s")
    assert shown == redact_url(plain) and "***" in shown


def test_a_read_only_journal_with_a_torn_tail_is_still_read(tmp_path: Path, read_only: Any) -> None:
    from symtune.search import TornTailWarning

    path = tmp_path / "s.journal"
    _stored(str(path))
    with path.open("ab") as file:
        file.write(b'{"op_code":6,"trial')
    read_only(path)
    with pytest.warns(TornTailWarning, match="cannot be cut"):
        assert len(load_study("s", str(path)).trials) == 2
    with pytest.raises(StudyError, match="cannot be written"):
        create_study({"x": floatv(0.0, 1.0)}, _toy, name="s", storage=str(path))


def _asked_and_told(study: Any, n: int) -> None:
    for _ in range(n):
        trial = study.optuna_study.ask()
        study.optuna_study.tell(trial, trial.suggest_float("x", 0.0, 1.0))


@pytest.mark.parametrize("damage", ["deleted", "replaced", "truncated"])
def test_a_journal_deleted_or_replaced_under_an_open_study_is_named_as_such(
    tmp_path: Path, damage: str
) -> None:
    """Before, the next write recreated the file without the study's creation record: the
    run then ended calling it "damaged at line N", and ``symtune repair`` found nothing."""
    path = tmp_path / "s.journal"
    study = create_study({"x": floatv(0.0, 1.0)}, lambda c, t: 0.0, name="s", storage=str(path))
    _asked_and_told(study, 3)
    if damage == "deleted":
        path.unlink()
    elif damage == "replaced":
        copy = tmp_path / "copy.journal"
        shutil.copy(path, copy)
        copy.replace(path)  # a new file (another inode), even with the same records
    else:
        with path.open("r+b") as file:
            file.truncate(path.stat().st_size // 2)
    what = "deleted" if damage == "deleted" else "replaced or truncated"
    with pytest.raises(StudyError, match=f"was {what} while the study was open"):
        _asked_and_told(study, 1)
    if damage == "deleted":
        assert not path.exists()  # not recreated without the study's beginning
