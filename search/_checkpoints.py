"""Trial checkpoints: what a trial saves so that its retry goes on instead of starting over.

A study's checkpoints live under its *checkpoint root*: a local folder (by default
``symtune-checkpoints`` beside the study's storage file), a shared folder on a cluster, or an
fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://`` in one process). Under the root::

    <root>/<study name>/trial-<lineage>/LATEST              which checkpoint is the latest
    <root>/<study name>/trial-<lineage>/step-00000040-<id>/  state.pt, or a folder's files

The *lineage* of a trial is the number of the first attempt of its parameters (a retry's
user attribute ``retry_of``, else its own number), so every retry of a trial finds the
checkpoints of the attempts before it. A save writes the new step folder first and then
replaces ``LATEST`` in one step (``os.replace`` on a local disk, a single PUT on an object
store), so a crash in the middle leaves the previous checkpoint in place; older step folders
are removed after the switch. ``LATEST`` also records the intermediate values the trial had
reported up to that step, so that a retry which loads the checkpoint can carry them over
(see :meth:`symtune.search.TrialHandle.load_checkpoint`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symtune.search._errors import StudyError, one_line

CHECKPOINT_ROOT_ATTR = "symtune:checkpoint_root"
"""Study system attribute: the checkpoint root its trials save under."""
DEFAULT_CHECKPOINT_DIR = "symtune-checkpoints"
"""Name of the default checkpoint folder, beside the study's storage file."""
LATEST = "LATEST"
STATE_FILE = "state.pt"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class CheckpointDamaged(StudyError):
    """A checkpoint that cannot be read: a damaged ``LATEST`` record, a missing or unreadable
    state file (see :meth:`TrialHandle.load_checkpoint`, which then starts the trial over)."""


@dataclass(frozen=True)
class Checkpoint:
    """A trial's latest checkpoint, as :meth:`TrialHandle.load_checkpoint` returns it.

    ``step`` is the step it was saved at (go on from ``step + 1``); ``state`` the object given
    to ``save_checkpoint(state, step=...)`` (``None`` for a folder checkpoint); ``path`` a
    local folder holding the files of ``save_checkpoint(folder=..., step=...)`` (``None`` for a
    state checkpoint); ``trial`` the number of the attempt that saved it (this trial's, or an
    earlier attempt's of the same parameters).
    """

    step: int
    state: Any = None
    path: Path | None = None
    trial: int = -1


@dataclass
class LatestRecord:
    """What ``LATEST`` holds: the step, its folder, who saved it and what it had reported."""

    step: int
    folder: str
    kind: str  # "state" or "folder"
    trial: int
    trial_id: int
    saved: float
    reports: dict[int, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        record = {**vars(self), "reports": {str(k): v for k, v in self.reports.items()}}
        return json.dumps(record).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> LatestRecord:
        try:
            raw = json.loads(data)
            return cls(
                step=int(raw["step"]),
                folder=str(raw["folder"]),
                kind=str(raw["kind"]),
                trial=int(raw["trial"]),
                trial_id=int(raw["trial_id"]),
                saved=float(raw["saved"]),
                reports={int(k): v for k, v in dict(raw.get("reports", {})).items()},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointDamaged(
                f"the checkpoint record {where} is damaged: {one_line(exc)}"
            ) from None


def default_checkpoint_root(storage_url: str) -> str:
    """``symtune-checkpoints`` beside the storage file that ``storage_url`` (a study's
    ``storage_url``) names, else in the working directory (a database)."""
    storage_path = storage_file(storage_url)
    base = Path(storage_path).parent if storage_path else Path.cwd()
    return str((base / DEFAULT_CHECKPOINT_DIR).absolute())


def check_root(root: Any) -> str:
    """``root`` as the string to store: a URL as it is, a path made absolute."""
    if isinstance(root, os.PathLike):
        root = os.fspath(root)
    if not isinstance(root, str) or not root.strip():
        raise StudyError(
            "`checkpoint_root` must be a folder path or an fsspec URL (s3://..., gs://..., "
            f"file://...), but got {root!r} (in create_study)"
        )
    if _URL.match(root):
        protocol = root.split("://", 1)[0]
        try:
            import fsspec

            fsspec.get_filesystem_class(protocol)
        except (ImportError, ValueError) as exc:
            raise StudyError(
                f"`checkpoint_root` {root!r} needs the fsspec file system for {protocol!r}, "
                f"which is not available: {one_line(exc)} (in create_study)"
            ) from None
        return root
    return str(Path(root).expanduser().absolute())


def safe_name(name: str) -> str:
    """A study name as one folder name: unsafe characters replaced, a hash added if any."""
    cleaned = _SAFE.sub("_", name)
    if cleaned == name and cleaned not in ("", ".", ".."):
        return name
    return f"{cleaned}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class CheckpointStore:
    """The checkpoints of one study under ``root`` (a local path or an fsspec URL)."""

    def __init__(self, root: str, study_name: str) -> None:
        self.root = root
        self.study_name = study_name
        self._local = not is_url(root)
        if self._local:
            base = root[len("file://") :] if root.startswith("file://") else root
            self._fs: Any = None
            self._base = os.path.join(base, safe_name(study_name))
        else:
            import fsspec

            self._fs, base = fsspec.core.url_to_fs(root)
            self._base = f"{base.rstrip('/')}/{safe_name(study_name)}"

    def __repr__(self) -> str:
        return f"CheckpointStore(root={self.root!r}, study={self.study_name!r})"

    def check_writable(self) -> None:
        """Raise :class:`StudyError` naming the root when a local root cannot hold this
        study's checkpoints: its nearest existing folder is a file, or is not writable.
        Nothing is created (a study that never saves a checkpoint leaves no folder)."""
        if not self._local:
            return
        path = Path(self._base)
        while not path.exists() and path != path.parent:
            path = path.parent
        why = None
        if not path.is_dir():
            why = f"{path} is not a folder"
        elif not os.access(path, os.W_OK | os.X_OK):
            why = f"{path} is not writable"
        if why:
            raise StudyError(
                f"the checkpoint root {self.root} cannot hold checkpoints ({why}): give "
                "create_study(checkpoint_root=...) a folder this machine can write"
            )

    # -- paths -------------------------------------------------------------------------------

    def lineage_dir(self, lineage: int) -> str:
        return f"{self._base}/trial-{lineage}"

    def lineages(self) -> list[int]:
        """The lineages (first-attempt numbers) that have a checkpoint folder."""
        found = []
        for name in self._listdir(self._base):
            if name.startswith("trial-") and name[len("trial-") :].isdigit():
                found.append(int(name[len("trial-") :]))
        return sorted(found)

    # -- writing -----------------------------------------------------------------------------

    def save(
        self,
        lineage: int,
        step: int,
        *,
        state: Any = None,
        folder: str | os.PathLike[str] | None = None,
        trial: int,
        trial_id: int,
        reports: dict[int, Any],
    ) -> LatestRecord:
        """Write a checkpoint at ``step``, then make it the latest (see the module docstring)."""
        if folder is not None and not Path(folder).is_dir():
            raise ValueError(
                f"`folder` of `save_checkpoint` must be an existing folder, but got {folder}"
            )
        directory = self.lineage_dir(lineage)
        name = f"step-{step:08d}-{uuid.uuid4().hex[:8]}"
        target = f"{directory}/{name}"
        self._makedirs(target)
        if folder is not None:
            self._put_folder(Path(folder), target)
        else:
            self._put_bytes(f"{target}/{STATE_FILE}", _serialise(state))
        record = LatestRecord(
            step=step,
            folder=name,
            kind="state" if folder is None else "folder",
            trial=trial,
            trial_id=trial_id,
            saved=time.time(),
            reports=dict(reports),
        )
        self._replace(f"{directory}/{LATEST}", record.to_json())
        self._remove_others(directory, keep=name)
        return record

    def remove(self, lineage: int) -> int:
        """Delete every checkpoint of ``lineage``; the bytes freed."""
        directory = self.lineage_dir(lineage)
        size = self._size(directory)
        self._rmtree(directory)
        return size

    def size(self, lineage: int) -> int:
        return self._size(self.lineage_dir(lineage))

    # -- reading -----------------------------------------------------------------------------

    def latest(self, lineage: int) -> LatestRecord | None:
        """The latest checkpoint's record of ``lineage``, or ``None`` if it has none."""
        where = f"{self.lineage_dir(lineage)}/{LATEST}"
        data = self._get_bytes(where)
        return None if data is None else LatestRecord.from_json(data, where)

    def load(self, lineage: int, record: LatestRecord, map_location: Any = "cpu") -> Checkpoint:
        """Read the checkpoint that ``record`` names."""
        target = f"{self.lineage_dir(lineage)}/{record.folder}"
        if record.kind == "folder":
            if not self._exists(target):
                raise CheckpointDamaged(
                    f"the folder {target} of the checkpoint at step {record.step} is missing"
                )
            return Checkpoint(record.step, path=self._local_folder(target), trial=record.trial)
        where = f"{target}/{STATE_FILE}"
        data = self._get_bytes(where)
        if data is None:
            raise CheckpointDamaged(
                f"the checkpoint at step {record.step} of trial {record.trial} is missing its "
                f"state file {where}"
            )
        try:
            state = _deserialise(data, map_location)
        except Exception as exc:  # torch.load of damaged bytes may raise anything
            raise CheckpointDamaged(
                f"the state file {where} of the checkpoint at step {record.step} cannot be "
                f"read: {one_line(exc)}"
            ) from None
        return Checkpoint(record.step, state=state, trial=record.trial)

    # -- the file system: local paths directly (fsync, os.replace), anything else via fsspec --

    def _makedirs(self, path: str) -> None:
        if self._local:
            os.makedirs(path, exist_ok=True)
        else:
            self._fs.makedirs(path, exist_ok=True)

    def _put_bytes(self, path: str, data: bytes) -> None:
        if not self._local:
            self._fs.pipe_file(path, data)
            return
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def _put_folder(self, source: Path, target: str) -> None:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                relative = path.relative_to(source).as_posix()
                destination = f"{target}/{relative}"
                parent = destination.rsplit("/", 1)[0]
                self._makedirs(parent)
                self._put_bytes(destination, path.read_bytes())

    def _replace(self, path: str, data: bytes) -> None:
        """Write ``path`` in one step: readers see the old content or the new, never half."""
        if not self._local:
            self._fs.pipe_file(path, data)  # one PUT: object stores replace an object whole
            return
        temporary = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
        self._put_bytes(temporary, data)
        os.replace(temporary, path)
        _fsync_dir(os.path.dirname(path))

    def _get_bytes(self, path: str) -> bytes | None:
        try:
            if self._local:
                with open(path, "rb") as handle:
                    return handle.read()
            return bytes(self._fs.cat_file(path))
        except FileNotFoundError:
            return None

    def _exists(self, path: str) -> bool:
        return os.path.isdir(path) if self._local else bool(self._fs.exists(path))

    def _listdir(self, path: str) -> list[str]:
        try:
            if self._local:
                return sorted(os.listdir(path))
            return sorted(
                item.rstrip("/").rsplit("/", 1)[-1] for item in self._fs.ls(path, detail=False)
            )
        except FileNotFoundError:
            return []

    def _remove_others(self, directory: str, keep: str) -> None:
        for name in self._listdir(directory):
            if name.startswith("step-") and name != keep:
                self._rmtree(f"{directory}/{name}")

    def _rmtree(self, path: str) -> None:
        try:
            if self._local:
                shutil.rmtree(path)
            else:
                self._fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def _size(self, path: str) -> int:
        if self._local:
            return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
        try:
            return int(self._fs.du(path))
        except FileNotFoundError:
            return 0

    def _local_folder(self, target: str) -> Path:
        if self._local:
            return Path(target)
        local = Path(tempfile.mkdtemp(prefix="symtune-checkpoint-"))
        self._fs.get(f"{target}/", str(local), recursive=True)
        return local


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a file system without directory handles: nothing to force
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _serialise(state: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    try:
        torch.save(state, buffer)
    except Exception as exc:  # torch.save pickles the user's objects, which may raise anything
        raise TypeError(
            "`state` of `save_checkpoint` must be something torch.save can store (a state "
            f"dict, tensors, numbers, lists, dicts), but saving it failed: {one_line(exc)}"
        ) from None
    return buffer.getvalue()


def _deserialise(data: bytes, map_location: Any) -> Any:
    import torch

    # weights_only=False: the checkpoint was written by this study's own objective, which
    # the workers already unpickle; it may hold more than tensors (an optimiser's state).
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)


def lineage_of(number: int, system_attrs: dict[str, Any]) -> int:
    """The first attempt's number of a trial's parameters (its own number if not a retry)."""
    history = system_attrs.get("retry_history")
    if isinstance(history, list) and history and isinstance(history[0], int):
        return int(history[0])
    return number


def carried_attrs(system_attrs: dict[str, Any], prefixes: Iterable[str]) -> dict[str, Any]:
    """The system attributes with one of ``prefixes`` (pruner markers a retry carries over)."""
    prefixes = tuple(prefixes)
    return {k: v for k, v in system_attrs.items() if k.startswith(prefixes)}


KEEP_CHOICES = ("all", "front", "none")


def storage_file(url: str) -> str | None:
    """The file a storage description names (a journal path, ``sqlite:///path``), if any."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :] or None
    if _URL.match(url) or not url or not (os.sep in url or url.endswith(".journal")):
        return None
    return url


def clean(store: CheckpointStore, trials: list[Any], keep: str, front: set[int]) -> dict[str, Any]:
    """Remove the checkpoints of a study's trials; see :meth:`Study.clean_checkpoints`."""
    if keep not in KEEP_CHOICES:
        raise StudyError(
            f"`keep` must be one of {list(KEEP_CHOICES)}, but got {keep!r} (in clean_checkpoints)"
        )
    from optuna.trial import TrialState

    active = {
        lineage_of(t.number, t.system_attrs)
        for t in trials
        if t.state in (TrialState.RUNNING, TrialState.WAITING)
    }
    kept = set(active)
    if keep == "all":
        kept |= set(store.lineages())
    elif keep == "front":
        kept |= {lineage_of(t.number, t.system_attrs) for t in trials if t.number in front}
    removed, freed = [], 0
    for lineage in store.lineages():
        if lineage not in kept:
            freed += store.remove(lineage)
            removed.append(lineage)
    remaining = [lineage for lineage in store.lineages() if lineage in kept]
    return {"removed": removed, "kept": remaining, "bytes_freed": freed, "root": store.root}


def is_url(root: str) -> bool:
    """Whether ``root`` is a URL other than ``file://`` (a remote file system)."""
    return bool(_URL.match(root)) and not root.startswith("file://")
