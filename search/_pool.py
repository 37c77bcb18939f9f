"""The driver's pool of worker actors: which have started, where, and how busy they are."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from symtune.search._errors import StudyError


@dataclass(eq=False)
class Slot:
    """One worker actor. ``node``/``node_id`` are known once it has started (``ping`` None);
    ``busy`` counts the evaluations sent to it that have not returned."""

    actor: Any
    ping: Any
    node: str = ""
    node_id: str = ""
    busy: int = 0

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
        except Exception as exc:
            self.slots.remove(slot)
            raise StudyError(
                f"a Ray worker for study {study_name!r} failed to start: {_first_line(exc)}"
            ) from None

    def free(self, depth: int) -> Iterator[Slot]:
        """Started actors with fewer than ``depth`` evaluations in flight."""
        return (slot for slot in self.slots if slot.started and slot.busy < depth)

    def replace(self, slot: Slot) -> None:
        """Kill ``slot``'s actor (if still alive) and start a new one in its place."""
        if slot in self.slots:
            self.slots.remove(slot)
            self._by_ping.pop(slot.ping, None)
            self._ray.kill(slot.actor, no_restart=True)
            self._add()

    def kill_all(self) -> None:
        for slot in self.slots:
            self._ray.kill(slot.actor, no_restart=True)
        self.slots.clear()
        self._by_ping.clear()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
