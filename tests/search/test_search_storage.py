"""Storage: the default file, clear errors for bad URLs, and Optuna-compatible journal files."""

from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from symtune.search import StudyError, default_storage, open_storage
from symtune.search._storage import FastJournalFileBackend, is_local_filesystem, redact_url

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
