"""Where studies live: the default study file, and opening any Optuna storage.

The default storage is Optuna's journal file format in the current working directory,
``./symtune.journal``. It was chosen by measurement among Optuna's own storages:
``benchmarks/storage.py`` times a driver-style ask/suggest/tell loop on each (the README's
storage table is its report). SQLite and Optuna's journal file wait for the disk on every
write, so their cost per trial follows the disk's load and is many times symtune's; the
journal file as symtune writes it (:class:`FastJournalFileBackend` below) never waits for the
disk and stays flat from 1,000 to 5,000 trials.
``optuna-dashboard symtune.journal`` and
``optuna.load_study(storage=JournalStorage(JournalFileBackend("symtune.journal")))`` open it.

Any Optuna storage URL (``sqlite:///study.db``, ``postgresql://user:pw@host/db`` for a cluster,
``mysql+pymysql://...``), a path to a journal file, or a ready
:class:`optuna.storages.BaseStorage` object works too.

Opening for writing (``create=True``: creating or resuming a study) checks that the file and
its directory can be written, so a read-only storage is a :class:`StudyError` saying so, not
a ``PermissionError`` later; opening for reading never creates anything (a missing journal
or SQLite file is :class:`NoStorageFile`). A journal file's torn tail is cut off when it is
opened, and damage inside it is named (see :mod:`symtune.search._journal`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalFileSymlinkLock

from symtune.search._compat import journal_backend
from symtune.search._errors import StudyError, one_line
from symtune.search._journal import (
    BadLine,
    cut_torn_tail,
    damage_error,
    fsync_file,
    parse_record,
)

DEFAULT_STORAGE_FILE = "symtune.journal"
"""File name of the default study storage, created in the current working directory."""

_log = logging.getLogger("symtune.search")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SQLITE_HEADER = b"SQLite format 3\x00"


class NoStorageFile(StudyError):
    """A journal file to read from does not exist."""


def default_storage(directory: str | os.PathLike[str] | None = None) -> str:
    """The default storage: ``symtune.journal`` in ``directory`` (default: the working dir).

    The returned string is an absolute path to an Optuna journal file. It can be passed as
    ``storage=`` to symtune, to ``optuna-dashboard`` and (wrapped in
    ``JournalStorage(JournalFileBackend(path))``) to Optuna itself.
    """
    base = Path(directory) if directory is not None else Path.cwd()
    return str((base / DEFAULT_STORAGE_FILE).absolute())


def default_storage_path() -> str:
    """Same as :func:`default_storage`: the absolute path of ``./symtune.journal``."""
    return default_storage()


def resolve_storage(
    storage: str | os.PathLike[str] | BaseStorage | None = None, *, create: bool = False
) -> BaseStorage:
    """The Optuna storage object for ``storage`` (``None``, a URL, a path or a storage).

    For reading: a journal file that does not exist raises :class:`StudyError` unless
    ``create`` is true.
    """
    return open_storage(storage, create=create)[0]


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for error messages and tables)."""
    return re.sub(r"(://[^/:@]+:)[^/@]*@", r"\1***@", url)


def open_storage(
    storage: str | os.PathLike[str] | BaseStorage | None, *, create: bool = True
) -> tuple[BaseStorage, str]:
    """Open ``storage`` (``None``, a URL, a journal file path or a storage object).

    Returns the storage object and a printable description of it (a URL or path with any
    password hidden; for storage objects, their class name). Raises :class:`StudyError`,
    naming the URL, when it cannot be opened; with ``create=True`` (a study will be written)
    when its file or directory cannot be written; with ``create=False`` when a journal or
    SQLite file does not exist (nothing is created).
    """
    if storage is None:
        storage = default_storage()
    if isinstance(storage, BaseStorage):
        if isinstance(storage, optuna.storages.RDBStorage):
            return optuna.storages.get_storage(storage), redact_url(storage.url)
        return storage, type(storage).__name__
    if isinstance(storage, os.PathLike):
        storage = os.fspath(storage)
    if not isinstance(storage, str) or not storage.strip():
        raise StudyError(
            "`storage` must be None, an Optuna storage URL, a journal file path or an "
            f"optuna.storages.BaseStorage, but got {storage!r}"
        )
    if _URL.match(storage):
        return _open_url(storage, create=create), redact_url(storage)
    if not create and not Path(storage).exists():
        raise NoStorageFile(
            f"storage file {storage!r} does not exist (no study has been stored there)"
        )
    return _open_journal_file(storage, create=create), str(Path(storage).absolute())


_OPEN_ATTEMPTS = 5
_OPEN_BACKOFF = 0.05  # seconds before the second attempt; doubled each time


def _open_url(url: str, *, create: bool = True) -> BaseStorage:
    """Open a storage URL, retrying what a concurrent opener can cause.

    Two processes opening a fresh SQLite file (or database) at once race to create Optuna's
    tables: one of them fails with "table ... already exists" or a unique-constraint error
    on the schema version, and a busy SQLite file answers "database is locked". Those are
    database errors, retried a few times with a short back-off; errors in the URL itself
    (an unknown dialect, a missing driver) are not.
    """
    shown = redact_url(url)
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        _check_sqlite_file(url, sqlite_file, create=create)
    delay, attempt = _OPEN_BACKOFF, 1
    while True:
        try:
            return _connect(url)
        except Exception as exc:  # SQLAlchemy, driver, connection errors of every kind: reported
            if _is_url_error(exc):
                raise StudyError(
                    f"storage URL {shown!r} cannot be opened: {_reason(exc)} (an Optuna storage "
                    "URL such as 'sqlite:///study.db' or 'postgresql+psycopg://user:pw@host/db' "
                    "(pip install 'symtune[postgresql]'), or a journal file path, is expected)"
                ) from None
            if attempt >= _OPEN_ATTEMPTS:
                raise StudyError(
                    f"storage URL {shown!r} cannot be opened ({attempt} attempts): {_reason(exc)}"
                ) from None
        time.sleep(delay)
        delay, attempt = delay * 2, attempt + 1


def _connect(url: str) -> BaseStorage:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from optuna.storages.journal import JournalRedisBackend

        return JournalStorage(JournalRedisBackend(url))
    return optuna.storages.get_storage(optuna.storages.RDBStorage(with_driver(url)))


def with_driver(url: str) -> str:
    """``postgresql://...`` names psycopg2, SQLAlchemy's default driver; where only psycopg 3
    is installed (``pip install 'symtune[postgresql]'``), use that one instead."""
    import importlib.util

    prefix = "postgresql://"
    if (
        url.startswith(prefix)
        and importlib.util.find_spec("psycopg2") is None
        and importlib.util.find_spec("psycopg") is not None
    ):
        return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _is_url_error(exc: Exception) -> bool:
    """Whether ``exc`` says the URL is wrong (dialect, driver, syntax), not the database."""
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return False
    return isinstance(exc, (sqlalchemy.exc.ArgumentError, ImportError, ValueError))


def _reason(exc: BaseException) -> str:
    """:func:`one_line` without SQLAlchemy's noise, and with any password hidden."""
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", one_line(exc))
    text = re.sub(r"\s*\[SQL: .*", "", text)  # the statement and its parameters: noise here
    return redact_url(text)


def _sqlite_file(url: str) -> str | None:
    """The database file of an ``sqlite://`` URL (``None``: not SQLite, or in memory)."""
    if not url.startswith("sqlite"):
        return None
    import sqlalchemy.engine
    import sqlalchemy.exc

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return None  # a malformed URL: reported when it is opened
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None  # SQLite URI filenames: left to SQLite
    return database


def _check_sqlite_file(url: str, path: str, *, create: bool) -> None:
    shown = redact_url(url)
    file = Path(path)
    if not file.exists():
        if not create:
            raise NoStorageFile(
                f"SQLite file {path!r} of storage URL {shown!r} does not exist (no study has "
                "been stored there)"
            )
        if not file.parent.is_dir():
            raise StudyError(
                f"storage URL {shown!r}: the directory of its SQLite file "
                f"({str(file.parent)!r}) does not exist"
            )
    if create:
        # SQLite writes the file and a rollback journal beside it: both must be writable.
        check_writable(path, shown)
        check_writable(str(file.parent), shown, directory=True)


def check_writable(path: str, shown: str, *, directory: bool = False) -> None:
    """Raise :class:`StudyError` unless ``path`` (an existing file or directory) can be
    written: a read-only file or directory, or a read-only file system."""
    if not os.path.exists(path):
        return
    try:
        if directory:
            if not os.access(path, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "not writable", path)
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError as exc:
        what = f"directory {path!r}" if directory else f"file {path!r}"
        raise StudyError(cannot_write_message(shown, exc, what)) from None


def cannot_write_message(shown: str, exc: OSError, what: str | None = None) -> str:
    """The message for a storage that cannot be written (its path or URL is ``shown``)."""
    cause = f"{what}: {exc.strerror or exc}" if what else f"{exc.strerror or exc}"
    return (
        f"storage {shown!r} cannot be written ({cause}); a study cannot be created or resumed "
        "there (a read-only file, directory or file system); load_study and `symtune show` "
        "can still read it"
    )


def _open_journal_file(path: str, *, create: bool = True) -> BaseStorage:
    file = Path(path)
    if file.is_dir():
        raise StudyError(f"storage path {path!r} is a directory; a journal file path is expected")
    if not file.parent.exists():
        raise StudyError(
            f"storage path {path!r} is in a directory that does not exist ({str(file.parent)!r})"
        )
    if file.is_file():
        with file.open("rb") as f:
            if f.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER:
                raise StudyError(
                    f"storage path {path!r} is an SQLite database: pass 'sqlite:///{path}' "
                    "to use it"
                )
    if create:
        if not file.exists() or not is_local_filesystem(path):  # a new file, or lock files
            check_writable(str(file.parent), path, directory=True)
        check_writable(path, path)
    try:
        if file.is_file():
            cut_torn_tail(str(file))
        return JournalStorage(FastJournalFileBackend(str(file)))
    except StudyError:
        raise
    except Exception as exc:  # Optuna replaying the file's records may raise anything: reported
        raise StudyError(
            f"storage file {path!r} cannot be read as an Optuna journal: {one_line(exc)}"
        ) from None


class FastJournalFileBackend(JournalFileBackend):
    """Optuna's journal file backend, tuned for a driver that writes every trial.

    The file format is Optuna's own (one JSON record a line, appended), so Optuna,
    optuna-dashboard and other Optuna processes read and write the same file concurrently.
    What differs was measured on the development machine (per journal record; a trial
    writes 3 + its number of parameters):

    * Locking. Optuna's backend takes a symlink lock around every append (about 80 us:
      three metadata syscalls). On a local filesystem an ``O_APPEND`` ``write`` of a whole
      record is atomic with respect to every other appender, Optuna's included, which is
      all that lock provides; so the lock is skipped there and kept on network filesystems
      (NFS, CIFS, Lustre, ...), where ``O_APPEND`` is not atomic.
    * Durability. A record is handed to the operating system before :meth:`append_logs`
      returns, so a crash or kill of any process never loses it, but the ``fsync`` that
      makes it survive a power loss is done by a background thread at most
      ``sync_interval`` seconds later, for all records written meanwhile (group commit).
      Optuna's backend fsyncs every record (0.5 ms to several ms each, as the disk's load goes).
    * Reading back. :meth:`read_logs` returns at once when the file has not grown, and
      serves this process's own just-written records from memory when nobody else wrote in
      between, instead of reopening and rescanning the file.

    :meth:`sync` forces the fsync now; the driver calls it when a run ends.
    """

    def __init__(
        self,
        file_path: str,
        lock_obj: JournalFileSymlinkLock | JournalFileOpenLock | None = None,
        *,
        sync_interval: float = 0.05,
    ) -> None:
        lock = lock_obj or JournalFileSymlinkLock(file_path)
        super().__init__(file_path, lock)  # creates the file when missing
        # Its own state, not the private ``_file_path``, ``_lock`` and ``_log_number_offset``
        # of Optuna's backend: ``read_logs`` and ``append_logs`` are this class's own.
        self._path = file_path
        self._append_lock = lock
        self._offsets: dict[int, int] = {0: 0}  # log number -> byte offset, as far as read
        self._syncer = _GroupSync(file_path, sync_interval)
        self._needs_lock = lock_obj is not None or not is_local_filesystem(file_path)
        self._tail = 0  # highest log number whose offset is known
        self._own: tuple[int, list[bytes], int] | None = None
        self._inode: int | None = os.stat(file_path).st_ino  # the file read and written here

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_syncer"] = (self._syncer.path, self._syncer.interval)
        state["_own"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        path, interval = state.pop("_syncer")
        self.__dict__.update(state)
        self._syncer = _GroupSync(path, interval)
        try:  # the same path may be another machine's copy: check from here on
            self._inode = os.stat(self._path).st_ino
        except OSError:
            self._inode = None

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        """Records from number ``log_number_from`` on (see the class docstring)."""
        own, self._own = self._own, None
        size = self._check_same_file()
        if own is not None and own[0] == log_number_from and own[2] == size:
            yield from self._replay_own(own)
            return
        known_offset = self._offsets.get(log_number_from)
        if known_offset is not None and known_offset == size:
            return
        yield from self._read_file(log_number_from)

    def _check_same_file(self) -> int:
        """The file's size, after checking that it is still the file this backend has read:
        a journal deleted, replaced or truncated under a running study would otherwise get
        the study's next records appended to a file without its beginning (unreadable, and a
        "damaged" file that ``symtune repair`` finds nothing wrong with)."""
        try:
            info = os.stat(self._path)
        except FileNotFoundError:
            raise StudyError(
                f"journal file {self._path!r} was deleted while the study was open; "
                "trials finished since it was last read are lost with it"
            ) from None
        # Log numbers are read in order from 0, so the last one's offset is the largest (O(1):
        # this runs on every read and append).
        known = self._offsets.get(len(self._offsets) - 1, 0)
        if self._inode is None:
            self._inode = info.st_ino
        if info.st_ino != self._inode or info.st_size < known:
            raise StudyError(
                f"journal file {self._path!r} was replaced or truncated while the study "
                f"was open (it is not the file this process read: {info.st_size} bytes, "
                f"{known} already read); open the study again to read the file as it is now"
            )
        return info.st_size

    def _read_file(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        """Optuna's reading loop, with every kind of bad line caught and named.

        Bad last lines are skipped, as Optuna does (the last may be a line still being
        written; a torn tail is cut off when symtune opens the file). A bad line that a good
        record follows raises :class:`~symtune.search._journal.JournalDamageError` naming it.
        """
        offsets = self._offsets
        start = log_number_from if log_number_from in offsets else 0
        with open(self._path, "rb") as file:
            remaining = os.fstat(file.fileno()).st_size - offsets[start]
            file.seek(offsets[start])
            bad: BadLine | None = None
            for number, line in enumerate(file, start=start):
                remaining -= len(line)
                if remaining < 0:  # written after we looked: read next time
                    break
                record, reason = parse_record(line)
                if record is None:
                    bad = bad or BadLine(number + 1, offsets[number], len(line), reason)
                    continue
                if bad is not None:
                    raise damage_error(self._path, bad)
                offsets.setdefault(number + 1, offsets[number] + len(line))
                if number >= log_number_from:
                    yield record

    def _replay_own(self, own: tuple[int, list[bytes], int]) -> Iterator[dict[str, Any]]:
        number, lines, _ = own
        offsets = self._offsets
        for line in lines:
            offsets[number + 1] = offsets[number] + len(line)
            number += 1
            yield json.loads(line)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append records in one ``O_APPEND`` write; see the class docstring."""
        lines = [json.dumps(log, separators=(",", ":")).encode() + b"\n" for log in logs]
        data = b"".join(lines)
        try:
            end = self._append(data)
        except OSError as exc:
            raise StudyError(cannot_write_message(self._path, exc)) from None
        offsets = self._offsets
        while self._tail + 1 in offsets:
            self._tail += 1
        if offsets.get(self._tail) == end - len(data):  # nobody wrote between our read and us
            self._own = (self._tail, lines, end)
        self._syncer.request()

    def _append(self, data: bytes) -> int:
        self._check_same_file()
        if self._needs_lock:
            self._append_lock.acquire()
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        finally:
            if self._needs_lock:
                self._append_lock.release()

    def sync(self) -> None:
        """Fsync everything written so far (blocks until it is on disk)."""
        self._syncer.sync_now()


_NETWORK_FILESYSTEMS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb",
    "smb3",
    "smbfs",
    "lustre",
    "gpfs",
    "ceph",
    "glusterfs",
    "9p",
    "afs",
    "beegfs",
    "davfs",
    "sshfs",
)


def is_local_filesystem(path: str, mounts_file: str = "/proc/self/mounts") -> bool:
    """Whether ``path`` is on a local filesystem (Linux ``/proc/self/mounts``); ``False`` when
    unsure, so that callers fall back to Optuna's file lock."""
    try:
        with open(mounts_file, encoding="utf-8") as mounts:
            entries = [line.split()[1:3] for line in mounts if len(line.split()) >= 3]
    except OSError:
        return False
    real = os.path.realpath(os.path.dirname(os.path.abspath(path)) or ".")
    best, fstype = "", ""
    for mount_point, kind in entries:
        mount_point = mount_point.replace("\\040", " ")
        inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, fstype = mount_point, kind
    if not best:
        return False
    return not (fstype in _NETWORK_FILESYSTEMS or fstype.startswith("fuse"))


class _GroupSync:
    """Fsyncs a file at most every ``interval`` seconds while writes keep coming."""

    def __init__(self, path: str, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        with self._lock:
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="symtune-journal-fsync", daemon=True
                )
                self._thread.start()

    def sync_now(self) -> None:
        with self._lock:
            self._pending = False
        self._fsync()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            try:
                self._fsync()
            except OSError as exc:  # the disk refused: say so, and keep the thread for the next
                _log.warning("journal file %r could not be synced to disk: %s", self.path, exc)

    def _fsync(self) -> None:
        try:
            fsync_file(self.path)
        except FileNotFoundError:  # the journal was deleted: nothing is left to sync
            return


def sync_storage(storage: BaseStorage) -> None:
    """Force pending writes of a symtune journal file to disk (no-op for other storages)."""
    backend = journal_backend(storage)
    if isinstance(backend, FastJournalFileBackend):
        backend.sync()
