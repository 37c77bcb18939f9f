"""Damaged journal files: a torn tail is cut off on open, damage inside is repaired on request.

An Optuna journal file is one JSON record a line, appended. A crash or a power cut can leave
the last record cut mid-line, or NUL bytes or other garbage at the end (a file system that
extended the file but never wrote its blocks). Optuna reads such a file without a word (a bad
*last* line is skipped, as it might be a line still being written), but the next record
appended lands after the bad bytes, and from then on the file cannot be read at all: a bad
line followed by more lines is an error. So:

* :func:`cut_torn_tail` runs when symtune opens a journal file. Bad lines at the end of the
  file (after the last whole record) are cut off and saved beside it as
  ``<file>.torn-<UTC time>``, with one warning. A last record that is whole but lacks its
  newline is kept and completed instead.
* Damage followed by good records (a bad line in the middle) is not guessed at on open: the
  reader raises :class:`JournalDamageError` naming the line, and :func:`repair_journal` (the
  CLI's ``symtune repair FILE``) rewrites the file with every record that can safely be
  kept, after saving the original.

Concurrent writers. A line that another live process is appending is not torn, and must not
be cut. symtune's own writer appends each batch of records with one ``O_APPEND`` ``write``,
which a local file system makes visible all at once; Optuna's writer (and symtune's on a
network file system) holds Optuna's lock file (``<file>.lock``) while appending. The tail is
therefore inspected, and cut, while holding that lock: what lacks its newline then is not a
write in progress, but what a crash left. (The one window left is a symtune writer on a
local file system that appends between the lock-holder's last look at the file's size and
the cut, a few microseconds, and only on a file that was found damaged.)

What :func:`repair_journal` keeps. Optuna numbers studies and trials by the order of their
creation records, so dropping a record that created a trial would silently give every later
trial's records to the wrong trial. The repair therefore keeps every readable record
(including a whole record found glued to the end of a damaged line) only when the records
after the damage still refer to studies and trials that exist when they are replayed; when
they do not (so the lost line was most likely a creation), it keeps the records before the
damage and, after it, only the records about studies and trials that existed before it. The
result is checked to load in plain Optuna before it replaces the file. The check is a good
witness, not a proof: symtune writes a trial's parameters right after creating it, so a lost
creation shows at once as records about a trial that does not exist yet, but a lost creation
that no later record betrays would go unseen; the report names every unreadable line.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileSymlinkLock

from symtune.search._errors import StudyError, one_line, outside_search_level

_OPS = frozenset(range(11))  # optuna.storages.journal JournalOperation values
_CREATE_STUDY, _DELETE_STUDY, _CREATE_TRIAL, _DISCARD = 0, 1, 4, 10
_STUDY_OPS = frozenset({1, 2, 3, 4})  # records that name a study_id
_TRIAL_OPS = frozenset({5, 6, 7, 8, 9})  # records that name a trial_id
_GLUE = b'{"op_code":'  # how every record that Optuna or symtune writes begins
_TAIL_PROBE = 1 << 16


class JournalDamageError(StudyError):
    """A journal file has an unreadable line followed by good records."""


class TornTailWarning(UserWarning):
    """A journal file's torn tail was cut off (and saved beside it) when it was opened."""


@dataclass(frozen=True)
class BadLine:
    """An unreadable line of a journal file: its 1-based number, byte offset and what is wrong."""

    number: int
    offset: int
    length: int
    reason: str

    def describe(self) -> str:
        return f"line {self.number} (byte offset {self.offset}, {self.length} bytes): {self.reason}"


@dataclass
class RepairReport:
    """What :func:`repair_journal` did.

    ``kept``: records written back, in their order; ``dropped``: good records left out
    because they could no longer be replayed safely; ``bad_lines``: the unreadable lines;
    ``salvaged``: whole records recovered from the end of damaged lines; ``backup``: the
    original file's copy (``None`` when the file was healthy and left as it was).
    """

    path: str
    kept: int = 0
    dropped: int = 0
    salvaged: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    backup: str | None = None
    policy: str = "nothing to repair"

    @property
    def changed(self) -> bool:
        return self.backup is not None

    def summary(self) -> str:
        if not self.changed:
            return f"{self.path}: no damage found ({self.kept} records); left as it was"
        lines = "; ".join(bad.describe() for bad in self.bad_lines[:3])
        more = f" and {len(self.bad_lines) - 3} more" if len(self.bad_lines) > 3 else ""
        salvaged = (
            f", {self.salvaged} of them recovered from damaged lines" if self.salvaged else ""
        )
        return (
            f"{self.path}: kept {self.kept} records{salvaged}, dropped {self.dropped} good "
            f"records and {len(self.bad_lines)} unreadable line(s) ({lines}{more}); "
            f"{self.policy}; the original is saved as {self.backup}"
        )


# -- reading lines ------------------------------------------------------------------------------


def parse_record(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """``(record, "")`` for a whole journal record line, else ``(None, what is wrong)``."""
    if not line.endswith(b"\n"):
        return None, "no newline at the end (a record cut short)"
    if b"\x00" in line:
        return None, "NUL bytes"
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
        return None, "not valid JSON"
    if not isinstance(record, dict) or record.get("op_code") not in _OPS:
        return None, "valid JSON but not an Optuna journal record"
    return record, ""


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` for every line of the file (the last one may lack its newline)."""
    offset = 0
    with open(path, "rb") as file:
        for line in file:
            yield offset, line
            offset += len(line)


def damage_error(path: str, bad: BadLine) -> JournalDamageError:
    """The error for a bad line in the middle of journal file ``path``."""
    return JournalDamageError(
        f"journal file {path!r} is damaged at {bad.describe()}, and good records follow it, "
        f"so Optuna cannot read past it; run `symtune repair {path}` (or "
        "symtune.search.repair_journal) to keep every readable record (the original is saved)"
    )


# -- the tail, on open ----------------------------------------------------------------------------


def _tail_is_healthy(path: str) -> bool:
    """Whether the file is empty or ends in a whole record line (one small read)."""
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        if size == 0:
            return True
        file.seek(max(0, size - _TAIL_PROBE))
        chunk = file.read()
    start = chunk.rfind(b"\n", 0, len(chunk) - 1) + 1
    if start == 0 and size > len(chunk):
        return False  # a last line longer than the probe: let the full scan judge
    return parse_record(chunk[start:])[0] is not None


def _last_good_end(path: str) -> tuple[int, bool, int]:
    """``(end of the last whole record line, whether a whole record without its newline
    ends the file after it, records)``."""
    good_end, records, unterminated = 0, 0, False
    for offset, line in _lines(path):
        record, _ = parse_record(line)
        if record is not None:
            good_end, records, unterminated = offset + len(line), records + 1, False
        elif not line.endswith(b"\n"):  # the last line
            unterminated = parse_record(line + b"\n")[0] is not None
    return good_end, unterminated, records


def cut_torn_tail(path: str, *, lock_grace_period: int = 30) -> str | None:
    """Cut unreadable bytes off the end of journal file ``path``; see the module docstring.

    Returns the path of the file the cut bytes were saved to (``None`` when the tail was
    healthy, or only lacked the newline of a whole last record, which is added). Warns once
    (:class:`TornTailWarning`) when it cuts, and when the file cannot be written (a
    read-only study: then nothing is changed, and readers skip the bad tail).
    """
    if _tail_is_healthy(path):
        return None
    lock = JournalFileSymlinkLock(path, grace_period=lock_grace_period)
    try:
        lock.acquire()
    except OSError as exc:
        _warn_read_only(path, exc)
        return None
    try:
        return _cut_locked(path)
    except OSError as exc:
        _warn_read_only(path, exc)
        return None
    finally:
        lock.release()


def _cut_locked(path: str) -> str | None:
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # a read-only file: change nothing
    size = os.stat(path).st_size
    good_end, unterminated, records = _last_good_end(path)
    if unterminated:
        with open(path, "ab") as file:  # a whole last record without its newline: keep it
            file.write(b"\n")
        return None
    if good_end == size:
        return None
    with open(path, "rb") as file:
        file.seek(good_end)
        torn = file.read(size - good_end)
    saved = _free_name(f"{path}.torn-{_stamp()}")
    with open(saved, "xb") as out:
        out.write(torn)
        out.flush()
        os.fsync(out.fileno())
    if os.stat(path).st_size != size:  # somebody wrote meanwhile: leave it to the next open
        os.unlink(saved)
        return None
    os.truncate(path, good_end)
    fsync_file(path)
    warnings.warn(
        f"journal file {path!r} ended in {len(torn)} bytes that are not a whole record (what "
        f"a crash or power cut leaves); they were cut off and saved to {saved!r}, and the "
        f"study goes on from the {records} records before them",
        TornTailWarning,
        stacklevel=outside_search_level(),
    )
    return saved


def _warn_read_only(path: str, exc: OSError) -> None:
    warnings.warn(
        f"journal file {path!r} ends in bytes that are not a whole record, and they cannot be "
        f"cut off ({one_line(exc)}); reading the records before them",
        TornTailWarning,
        stacklevel=outside_search_level(),
    )


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _free_name(name: str) -> str:
    candidate, n = name, 1
    while os.path.exists(candidate):
        n += 1
        candidate = f"{name}.{n}"
    return candidate


def fsync_file(path: str) -> None:
    """Force what was written to ``path`` onto the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- repair ---------------------------------------------------------------------------------------


@dataclass
class _Entry:
    number: int
    offset: int
    record: dict[str, Any] | None
    line: bytes
    salvaged: bool = False


def _salvage(line: bytes) -> dict[str, Any] | None:
    """A whole record glued to the end of a damaged line (the next append after a torn tail)."""
    if not line.endswith(b"\n"):
        return None
    start = line.find(_GLUE, 1)
    while start != -1:
        record, _ = parse_record(line[start:])
        if record is not None:
            return record
        start = line.find(_GLUE, start + 1)
    return None


def _read_entries(path: str) -> tuple[list[_Entry], list[BadLine]]:
    entries: list[_Entry] = []
    bad_lines: list[BadLine] = []
    for number, (offset, line) in enumerate(_lines(path), start=1):
        record, reason = parse_record(line)
        if record is None and not line.endswith(b"\n"):
            record, _ = parse_record(line + b"\n")  # a whole last record without its newline
        if record is not None:
            entries.append(_Entry(number, offset, record, line))
            continue
        bad_lines.append(BadLine(number, offset, len(line), reason))
        glued = _salvage(line)
        entries.append(_Entry(number, offset, glued, line, salvaged=glued is not None))
    return entries, bad_lines


class _Ids:
    """Which study and trial ids exist as Optuna replays creation records (ids by order)."""

    def __init__(self) -> None:
        self.next_study = 0
        self.trials = 0
        self.live: dict[int, str] = {}

    def resolves(self, record: dict[str, Any]) -> bool:
        op = record["op_code"]
        if op in _STUDY_OPS:
            return isinstance(record.get("study_id"), int) and record["study_id"] < self.next_study
        if op in _TRIAL_OPS:
            return isinstance(record.get("trial_id"), int) and record["trial_id"] < self.trials
        return True

    def apply(self, record: dict[str, Any]) -> None:
        op = record["op_code"]
        if op == _CREATE_STUDY and record.get("study_name") not in self.live.values():
            self.live[self.next_study] = record.get("study_name", "")
            self.next_study += 1
        elif op == _DELETE_STUDY:
            self.live.pop(record["study_id"], None)
        elif op == _CREATE_TRIAL and record["study_id"] in self.live:
            self.trials += 1


def _select(entries: list[_Entry]) -> tuple[list[_Entry], str]:
    """The records to keep (see the module docstring) and the rule that chose them."""
    first_bad = next(i for i, e in enumerate(entries) if e.record is None or e.salvaged)
    ids, replays = _Ids(), True
    for i, entry in enumerate(entries):
        if entry.record is None:
            continue
        if i >= first_bad and not ids.resolves(entry.record):
            replays = False
            break
        ids.apply(entry.record)
    if replays:
        kept = [e for e in entries if e.record is not None]
        return kept, "every readable record still replays, so all were kept"
    before = _Ids()
    for entry in entries[:first_bad]:
        assert entry.record is not None
        before.apply(entry.record)
    kept = list(entries[:first_bad])
    for entry in entries[first_bad:]:
        record = entry.record
        if record is None or record["op_code"] in (_CREATE_STUDY, _CREATE_TRIAL):
            continue
        if before.resolves(record):
            kept.append(entry)
    return kept, (
        "records after the damage refer to trials that do not exist when replayed (a "
        "creation record was lost), so after it only the records about studies and trials "
        "created before it were kept"
    )


def repair_journal(path: str | os.PathLike[str]) -> RepairReport:
    """Rewrite journal file ``path`` with every record that can safely be kept.

    The original is first saved as ``<path>.damaged-<UTC time>``; the repaired file holds
    the kept records in their order and is checked to load in plain Optuna before it
    replaces the original. A healthy file is left as it is. See the module docstring for
    which records are kept. Run it while no process writes the study.

    Raises:
        StudyError: the file does not exist, is not a journal file, or the repaired
            records still do not load in Optuna (then the file is left as it was).
    """
    path = os.fspath(path)
    _check_journal_file(path)
    try:
        return _repair(path)
    except OSError as exc:
        raise StudyError(
            f"journal file {path!r} cannot be repaired: {one_line(exc)} (the file "
            "and its directory must be writable)"
        ) from None


def _repair(path: str) -> RepairReport:
    lock = JournalFileSymlinkLock(path)
    lock.acquire()
    try:
        entries, bad_lines = _read_entries(path)
        report = RepairReport(path=path, bad_lines=bad_lines)
        if not bad_lines:
            report.kept = len(entries)
            return report
        kept, report.policy = _select(entries)
        report.kept = len(kept)
        report.salvaged = sum(e.salvaged for e in kept)
        report.dropped = sum(e.record is not None for e in entries) - len(kept)
        report.backup = _replace_with(path, kept)
        return report
    finally:
        lock.release()


def _check_journal_file(path: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise StudyError(f"journal file {path!r} does not exist (nothing to repair)")
    with file.open("rb") as f:
        if f.read(16) == b"SQLite format 3\x00":
            raise StudyError(
                f"{path!r} is an SQLite database; repair works on journal files (SQLite has "
                "its own recovery: sqlite3 FILE '.recover')"
            )


def _replace_with(path: str, kept: list[_Entry]) -> str:
    tmp = f"{path}.repair-{os.getpid()}"
    with open(tmp, "wb") as out:
        for entry in kept:
            assert entry.record is not None
            out.write(json.dumps(entry.record, separators=(",", ":")).encode() + b"\n")
        out.flush()
        os.fsync(out.fileno())
    try:
        _check_loads(tmp)
    except Exception as exc:  # Optuna replaying the records may raise anything: reported
        os.unlink(tmp)
        raise StudyError(
            f"journal file {path!r}: the readable records do not load in Optuna "
            f"({one_line(exc)}); the file was left as it was"
        ) from None
    shutil.copymode(path, tmp)
    backup = _free_name(f"{path}.damaged-{_stamp()}")
    shutil.copy2(path, backup)
    os.replace(tmp, path)
    return backup


def _check_loads(path: str) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(path))
    for study in storage.get_all_studies():
        optuna.load_study(study_name=study.study_name, storage=storage).get_trials()
