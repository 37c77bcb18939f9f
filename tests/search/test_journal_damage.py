"""Damaged journal files: a torn tail is cut off on open, damage inside is named and repaired."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from symtune.search import (
    JournalDamageError,
    StudyError,
    TornTailWarning,
    create_study,
    load_study,
    open_storage,
    repair_journal,
)
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"x": floatv(0.0, 1.0)}


def objective(config: dict[str, float], trial: object) -> float:
    return config["x"]


def write_trials(study: optuna.Study, n: int) -> list[float]:
    values = []
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("twice", 2 * x)
        study.tell(trial, x)
        values.append(x)
    return values


def a_study(path: Path, n: int = 4) -> list[float]:
    """A symtune study with ``n`` finished trials, written through symtune's own storage."""
    study = create_study(SPACE, objective, name="s", storage=str(path))
    return write_trials(study.optuna_study, n)


def plain_optuna(path: Path) -> optuna.Study:
    return optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))


def finished(study: optuna.Study) -> list[float]:
    return [t.value for t in study.trials if t.state == TrialState.COMPLETE]  # type: ignore[misc]


HALF_RECORD = b'{"op_code":8,"worker_id":"crashed-0","trial_id":3,"user_at'

DAMAGE = {
    "NUL bytes": b"\x00" * 64,
    "a record cut mid-line": HALF_RECORD,
    "a garbage line": b"garbage\n",
    "binary garbage": b"\xff\xfe\x00junk",
    "several bad lines": b"not json\n\x00\x00\n" + HALF_RECORD,
    "valid JSON that is no record": b"[1, 2, 3]\n",
}


@pytest.mark.parametrize("tail", list(DAMAGE.values()), ids=list(DAMAGE))
def test_a_torn_tail_is_cut_off_saved_and_the_study_resumes_with_every_trial(
    tmp_path: Path, tail: bytes
) -> None:
    path = tmp_path / "study.journal"
    values = a_study(path)
    healthy = path.read_bytes()
    with path.open("ab") as file:
        file.write(tail)
    with pytest.warns(TornTailWarning, match="cut off") as caught:
        study = create_study(SPACE, objective, name="s", storage=str(path))
    (warning,) = [w for w in caught if issubclass(w.category, TornTailWarning)]
    assert warning.filename == __file__  # it points at the caller, not into symtune
    (saved,) = tmp_path.glob("study.journal.torn-*")
    assert saved.read_bytes() == tail and path.read_bytes().startswith(healthy)
    assert finished(study.optuna_study) == values
    values += write_trials(study.optuna_study, 2)  # appends land on a clean line
    assert finished(plain_optuna(path)) == values  # ... which plain Optuna reads
    with warnings.catch_warnings():
        warnings.simplefilter("error", TornTailWarning)  # warned once: the file is whole now
        assert finished(load_study("s", str(path)).optuna_study) == values


def test_a_last_record_cut_short_loses_only_that_record(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    values = a_study(path)
    data = path.read_bytes()
    path.write_bytes(data[:-25])  # the last trial's result, cut mid-line
    with pytest.warns(TornTailWarning):
        study = create_study(SPACE, objective, name="s", storage=str(path))
    assert finished(study.optuna_study) == values[:-1]
    assert study.optuna_study.trials[-1].state == TrialState.RUNNING  # retried as stale later
    write_trials(study.optuna_study, 1)
    assert len(plain_optuna(path).trials) == len(values) + 1


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    values = a_study(path)
    path.write_bytes(path.read_bytes()[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", TornTailWarning)  # nothing is cut
        study = create_study(SPACE, objective, name="s", storage=str(path))
    assert finished(study.optuna_study) == values
    values += write_trials(study.optuna_study, 1)
    assert finished(plain_optuna(path)) == values
    assert not list(tmp_path.glob("*.torn-*"))


def test_a_torn_tail_of_a_read_only_file_is_read_around(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import symtune.search._journal as journal

    path = tmp_path / "study.journal"
    values = a_study(path)
    with path.open("ab") as file:
        file.write(b"\x00" * 16)
    damaged = path.read_bytes()

    real_open = os.open

    def read_only(file: str, flags: int, *args: int) -> int:  # what chattr +i does, for root too
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(1, "Operation not permitted", file)
        return real_open(file, flags, *args)

    monkeypatch.setattr(journal.os, "open", read_only)
    with pytest.warns(TornTailWarning, match="cannot be cut"):
        study = load_study("s", str(path))
    assert finished(study.optuna_study) == values
    assert path.read_bytes() == damaged and not list(tmp_path.glob("*.torn-*"))


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_damage_in_the_middle_names_the_line_and_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    a_study(path)
    lines = lines_of(path)
    offset = sum(len(line) for line in lines[:5])
    path.write_bytes(b"".join([*lines[:5], b"\x00\x00garbage\n", *lines[5:]]))
    with pytest.raises(JournalDamageError) as info:
        create_study(SPACE, objective, name="s", storage=str(path))
    message = str(info.value)
    assert f"line 6 (byte offset {offset}" in message
    assert "symtune repair" in message and "\n" not in message
    with pytest.raises(StudyError, match="line 6"):
        load_study("s", str(path))


def test_repair_recovers_a_file_that_an_append_after_a_torn_tail_broke(tmp_path: Path) -> None:
    """What the issue saw: a record torn by a crash, the next run's records appended right
    after it (glued to its line), and from then on a file that Optuna cannot read."""
    path = tmp_path / "study.journal"
    values = a_study(path, n=7)
    lines = lines_of(path)
    fifth = [i for i, line in enumerate(lines) if line.startswith(b'{"op_code":4,')][5]
    path.write_bytes(b"".join([*lines[:fifth], HALF_RECORD, *lines[fifth:]]))
    original = path.read_bytes()
    with pytest.raises(json.JSONDecodeError):
        plain_optuna(path)

    report = repair_journal(path)
    assert report.changed and report.salvaged == 1 and report.dropped == 0
    assert len(report.bad_lines) == 1 and report.bad_lines[0].reason == "not valid JSON"
    assert report.backup is not None and Path(report.backup).read_bytes() == original
    assert finished(plain_optuna(path)) == values  # every finished trial is back
    assert "kept" in report.summary() and report.backup in report.summary()
    study = create_study(SPACE, objective, name="s", storage=str(path))
    values += write_trials(study.optuna_study, 1)  # and the study resumes
    assert finished(plain_optuna(path)) == values


def test_repair_keeps_every_record_when_a_lost_line_created_nothing(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    values = a_study(path, n=5)
    lines = lines_of(path)
    (attr,) = [i for i, line in enumerate(lines) if b'"twice"' in line][2:3]
    lines[attr] = b"\x00" * (len(lines[attr]) - 1) + b"\n"  # a hole of zeros
    path.write_bytes(b"".join(lines))
    report = repair_journal(path)
    assert report.kept == len(lines) - 1 and report.dropped == 0
    assert report.bad_lines[0].number == attr + 1 and report.bad_lines[0].reason == "NUL bytes"
    trials = plain_optuna(path).trials
    assert [t.value for t in trials] == values
    assert ["twice" in t.user_attrs for t in trials] == [True, True, False, True, True]


def test_repair_drops_what_a_lost_creation_record_would_misattribute(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    values = a_study(path, n=5)
    lines = lines_of(path)
    creations = [i for i, line in enumerate(lines) if line.startswith(b'{"op_code":4,')]
    lines[creations[2]] = b"lost\n"  # trial 2's creation: later records would shift by one
    path.write_bytes(b"".join(lines))
    report = repair_journal(path)
    assert report.dropped > 0 and "created before it" in report.policy
    trials = plain_optuna(path).trials
    assert [t.value for t in trials] == values[:2]  # no trial got another trial's records
    assert [t.user_attrs["twice"] for t in trials] == [2 * v for v in values[:2]]
    study = create_study(SPACE, objective, name="s", storage=str(path))
    write_trials(study.optuna_study, 1)
    assert len(plain_optuna(path).trials) == 3


def test_repair_leaves_a_healthy_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    a_study(path)
    before = path.read_bytes()
    report = repair_journal(path)
    assert not report.changed and report.dropped == 0 and report.kept == len(lines_of(path))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "study.journal"
    ]


def test_repair_refuses_what_is_no_journal_file(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="does not exist"):
        repair_journal(tmp_path / "none.journal")
    db = tmp_path / "s.db"
    optuna.create_study(storage=f"sqlite:///{db}", study_name="s")
    with pytest.raises(StudyError, match="SQLite"):
        repair_journal(db)


def test_open_storage_reads_a_healthy_long_file_without_cutting(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    study = create_study(SPACE, objective, name="s", storage=str(path))
    study.optuna_study.set_user_attr("big", "y" * 70_000)  # a last line longer than one probe
    with warnings.catch_warnings():
        warnings.simplefilter("error", TornTailWarning)
        storage, _ = open_storage(str(path))
    assert storage.get_study_user_attrs(storage.get_study_id_from_name("s"))["big"] == "y" * 70_000
