"""The driver's pool of worker actors: which have started, where, and how busy they are;
and what to say when one cannot start or dies (:func:`describe_death`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from symtune.search._errors import StudyError


class WorkerStartError(StudyError):
    """A worker actor could not start (for instance it cannot import the objective)."""


@dataclass(eq=False)
class Slot:
    """One worker actor. ``node``/``node_id`` are known once it has started (``ping`` None);
    ``calls`` are the worker calls sent to it that have not returned, oldest first (a Ray
    actor runs them in that order); ``exclusive`` is the call of a trial that must not have
    calls queued behind it on its worker (a retry after a death); ``killed`` marks a slot
    whose actor the driver killed itself."""

    actor: Any
    ping: Any
    node: str = ""
    node_id: str = ""
    calls: list[Any] = field(default_factory=list)
    exclusive: Any = None
    killed: bool = False

    @property
    def busy(self) -> int:
        return len(self.calls)

    @property
    def started(self) -> bool:
        return self.ping is None


class WorkerPool:
    """``size`` worker actors made by ``make_actor()``; a dead one is replaced on request.

    Actors start when Ray finds resources for them: an actor that cannot be placed yet
    (not enough GPUs, say) just stays pending, and no trial is sent to it.
    """

    def __init__(self, ray: Any, make_actor: Callable[[], Any], size: int) -> None:
        self._ray = ray
        self._make_actor = make_actor
        self.slots: list[Slot] = []
        self._by_ping: dict[Any, Slot] = {}
        for _ in range(size):
            self._add()

    def _add(self) -> None:
        actor = self._make_actor()
        slot = Slot(actor=actor, ping=actor.ready.remote())
        self.slots.append(slot)
        self._by_ping[slot.ping] = slot

    def pings(self) -> list[Any]:
        """The readiness answers still awaited (one per actor that has not started)."""
        return list(self._by_ping)

    def is_ping(self, ref: Any) -> bool:
        return ref in self._by_ping

    def on_ping(self, ref: Any, study_name: str) -> None:
        """Record that an actor started (or raise :class:`StudyError` if it could not)."""
        slot = self._by_ping.pop(ref)
        slot.ping = None
        try:
            slot.node, slot.node_id, _ = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:  # the actor could not start
            self.slots.remove(slot)
            raise WorkerStartError(start_failure(exc, study_name)) from None

    def free(self, depth: int) -> Iterator[Slot]:
        """Started actors with fewer than ``depth`` evaluations in flight (none for a slot
        running an exclusive call)."""
        return (
            slot
            for slot in self.slots
            if slot.started and slot.busy < depth and slot.exclusive is None
        )

    def replace(self, slot: Slot) -> None:
        """Kill ``slot``'s actor (if still alive) and start a new one in its place."""
        if slot in self.slots:
            self.slots.remove(slot)
            self._by_ping.pop(slot.ping, None)
            slot.killed = True
            self._ray.kill(slot.actor, no_restart=True)
            self._add()

    def kill_all(self) -> None:
        for slot in self.slots:
            self._ray.kill(slot.actor, no_restart=True)
        self.slots.clear()
        self._by_ping.clear()


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")
_MISSING_NAME = re.compile(r"AttributeError: Can't get attribute '([^']+)' on <module '([^']+)'")


def start_failure(exc: BaseException, study_name: str) -> str:
    """One line on why a worker actor of ``study_name`` could not start."""
    text = str(exc)
    missing = _MISSING_MODULE.search(text)
    if missing:
        return (
            f"Ray workers cannot import module {missing.group(1)!r} needed by the "
            f"objective/space: {missing.group(0)} (the driver can import it, the workers "
            "cannot: install it on every Ray node, or ship it with the job's runtime_env)"
        )
    missing = _MISSING_NAME.search(text)
    if missing:
        return (
            f"Ray workers cannot load {missing.group(1)!r} from module {missing.group(2)!r} "
            f"needed by the objective/space: {missing.group(0)} (the workers' copy of the "
            "module differs from the driver's)"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = lines[-1] if lines else type(exc).__name__
    return f"a Ray worker for study {study_name!r} failed to start: {cause}"


@dataclass(frozen=True)
class Death:
    """Why a worker died, as far as it can be told: a one-line ``reason``, and the process's
    ``exit_code`` and ``signal`` (``"SIGTERM"``) and the ``trial`` it was evaluating, when
    known."""

    reason: str
    exit_code: int | None = None
    signal: str | None = None
    trial: int | None = None

    def attrs(self) -> dict[str, Any]:
        """The trial user attributes that record it (``worker_exit_code``, ``worker_signal``)."""
        attrs: dict[str, Any] = {}
        if self.exit_code is not None:
            attrs["worker_exit_code"] = self.exit_code
        if self.signal is not None:
            attrs["worker_signal"] = self.signal
        return attrs


_EXIT_DETAIL = re.compile(r"Worker exit type: (\S+) Worker exit detail: (.*)", re.S)
_EXIT_CODE = re.compile(r"exit code (-?\d+)")
_SIGNAL = re.compile(r"\b(SIG[A-Z]{2,}[0-9]*)\b")
_CONNECTION_LOST = "connection error code"


def describe_death(exc: BaseException, note: dict[str, Any] | None = None) -> Death:
    """What the driver knows about a dead worker from Ray's error ``exc`` (an
    ``ActorDiedError`` or another ``RayError``) and the worker's own death ``note``.

    Ray 2.60's message carries the worker's pid and address, an exit type and an exit
    detail: "Worker exits with an exit code 7." after ``sys.exit(7)``, "The process receives
    a SIGTERM." after SIGTERM, and "Worker unexpectedly exits with a connection error code 2.
    End of file" (followed by a paragraph of common causes, dropped here) when the process
    vanished: ``os._exit``, SIGKILL (kill -9, the OOM killer), SIGSEGV. A worker that knows
    it is leaving (``os._exit``, ``SystemExit``) leaves a note with the exact code.
    """
    text = " ".join(str(exc).split())
    pid = re.search(r"\bpid: (\d+)", str(exc))
    ip = re.search(r"\bip: (\S+)", str(exc))
    where = f" (pid {pid.group(1)}" + (f" on {ip.group(1)}" if ip else "") + ")" if pid else ""
    detail = ""
    match = _EXIT_DETAIL.search(text)
    if match:
        detail = match.group(2).split(" Some common causes include", 1)[0].strip()
    code_match = _EXIT_CODE.search(detail) if _CONNECTION_LOST not in detail else None
    exit_code: int | None = int(code_match.group(1)) if code_match else None
    if note is not None:
        how = str(note.get("how", "it exited"))
        code = note.get("exit_code")
        exit_code = code if isinstance(code, int) else exit_code
        signal = _SIGNAL.search(how)
        shown = f"{how} (exit code {exit_code})" if exit_code is not None else how
        trial = note.get("trial")
        return Death(
            f"{shown}{where}",
            exit_code,
            signal.group(1) if signal else None,
            trial if isinstance(trial, int) else None,
        )
    signal = _SIGNAL.search(detail) if detail else None
    if detail and _CONNECTION_LOST in detail:
        reason = (
            f"its process vanished without an exit status{where}: killed by a signal (SIGKILL "
            "from kill -9 or the OOM killer), crashed (SIGSEGV), or lost its node"
        )
    elif detail:
        reason = f"{detail.rstrip('.')}{where}"
    else:
        reason = f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
    return Death(reason, exit_code, signal.group(1) if signal else None)
