"""Connecting the driver to Ray: a local Ray on 127.0.0.1, or an existing cluster."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from symtune.search._compat import (
    TOKEN_NOTICE_LOGGER,
    kv_del,
    kv_get,
    kv_put,
    set_ray_cluster_enabled,
)
from symtune.search._errors import StudyError, one_line

_log = logging.getLogger("symtune.search")

_CONNECT_TIMEOUT_S = 5.0


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[str]:
    """Make Ray available for one run, as ``Study.optimize`` does; yield this node's IP address.

    Public (``symtune.search.ray_session``) for code that runs its own Ray work the way
    symtune does, such as the benchmarks.

    * Ray already initialised in this process (a notebook, a test): use it, leave it running
      (a given ``address`` must still answer).
    * ``address=None``: start a local Ray bound to 127.0.0.1 and shut it down afterwards
      (without Ray's notice that token authentication is on: :func:`quiet_local_token_notice`).
    * ``address="host:port"`` (or ``"auto"``, ``"ray://host:port"``): join that cluster and
      leave it running. An address that does not answer raises :class:`StudyError` at once.
    """
    import ray

    if address is not None:
        check_address(address)
    if ray.is_initialized():
        yield ray.util.get_node_ip_address()
        return
    if address is None:
        keep_on_loopback()
        with quiet_local_token_notice():
            # "local": always a new Ray of our own. Without it, ray.init joins whatever
            # cluster `ray start` recorded on this machine (another user's included), or
            # fails to reach it.
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                logging_level=logging.WARNING,
            )
        keep_token_private()
        try:
            yield "127.0.0.1"
        finally:
            ray.shutdown()
        return
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except Exception as exc:  # Ray's errors joining a cluster are of many kinds: reported
        raise StudyError(
            f"cannot join the Ray cluster at {address!r}: {one_line(exc, first_line=True)}"
        ) from None
    try:
        yield ray.util.get_node_ip_address()
    finally:
        ray.shutdown()  # disconnects this driver; the cluster keeps running


def keep_on_loopback() -> None:
    """Keep a Ray that this process starts on 127.0.0.1, its worker processes included.

    Ray 2.x resolves ``_node_ip_address="127.0.0.1"`` to the machine's network address on Linux
    (so that other nodes could join). A local Ray that symtune starts serves this machine only,
    so symtune tells Ray it is not a cluster node, through the environment variable its child
    processes read, ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``. Set that variable to ``1`` to get
    Ray's own behaviour back.
    """
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    set_ray_cluster_enabled(os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] != "0")


def keep_token_private(path: Path | None = None) -> None:
    """Make Ray's token file (``~/.ray/auth_token``) readable by its owner only.

    Ray 2.60 writes the token that a new local Ray generates with the default file mode
    (0644 under the usual umask), so on a machine whose home folders others can read, any
    local user could read it, join the local Ray and reach the study through the relay. The
    token is a secret: symtune narrows the file it finds to 0600 when this user owns it.
    """
    token = path if path is not None else Path.home() / ".ray" / "auth_token"
    with contextlib.suppress(OSError):
        info = token.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            token.chmod(0o600)


TOKEN_NOTICE = "Token authentication is enabled for this Ray cluster"
"""Ray 2.60 logs this warning (``_warn_token_auth_enabled``) on every ``ray.init()`` that starts
a new local Ray without ``RAY_AUTH_MODE`` set."""


class _DropTokenNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(TOKEN_NOTICE)


@contextlib.contextmanager
def quiet_local_token_notice() -> Iterator[None]:
    """Silence Ray's "token authentication is enabled" notice while symtune starts its own Ray.

    That Ray serves this machine only, on 127.0.0.1, and token authentication on is what
    symtune wants (workers reach the study through Ray's authenticated channel), so the
    notice says nothing the user can act on. Only that one message of that one logger is
    dropped, and only during the local ``ray.init``; joining a cluster (``address=``) keeps
    every notice of Ray's.
    """
    logger = logging.getLogger(TOKEN_NOTICE_LOGGER)
    notice_filter = _DropTokenNotice()
    logger.addFilter(notice_filter)
    try:
        yield
    finally:
        logger.removeFilter(notice_filter)


# -- death notes: what a worker says about its own exit, before it goes -------------------------

_NOTE_NAMESPACE = "symtune"


def leave_death_note(actor_id: str, note: dict[str, Any]) -> None:
    """Store ``note`` (JSON) for the driver about why the worker ``actor_id`` is exiting.

    Ray 2.60 reports the exit code of a worker that raised ``SystemExit``, but a worker that
    calls ``os._exit(3)`` or is killed by a signal is only "connection error code 2. End of
    file". A worker that knows it is leaving (see ``symtune.search._worker``) writes a note
    into Ray's internal key-value store (in the GCS, so the driver reads it from any node);
    :func:`read_death_note` takes it back. Best effort: a note that cannot be written is
    skipped, with a warning (the driver then reports the death from Ray's message alone).
    """
    try:
        kv_put(f"death:{actor_id}", json.dumps(note), namespace=_NOTE_NAMESPACE)
    except Exception as exc:  # Ray's private key-value store (see _compat): any error, logged
        _log.warning("worker %s could not leave its death note: %s", actor_id, one_line(exc))


def ray_exit_message(exc: SystemExit) -> str | None:
    """The reason Ray gave when Ray itself raised ``exc`` in a worker (its SIGTERM handler:
    "The process receives a SIGTERM."; ``exit_actor``), or ``None`` for any other
    ``SystemExit``. Ray 2.60 attaches it as ``ray_terminate_msg``."""
    message = getattr(exc, "ray_terminate_msg", None)
    return message if isinstance(message, str) else None


def read_death_note(actor_id: str | None) -> dict[str, Any] | None:
    """The note the worker ``actor_id`` left before it died (and forget it), or ``None``."""
    if not actor_id:
        return None
    key = f"death:{actor_id}"
    try:
        raw = kv_get(key, namespace=_NOTE_NAMESPACE)
        if raw is not None:
            kv_del(key, namespace=_NOTE_NAMESPACE)
    except Exception as exc:  # Ray's private key-value store (see _compat): any error, logged
        _log.warning("the death note of worker %s cannot be read: %s", actor_id, one_line(exc))
        return None
    if raw is None:
        return None
    try:
        note = json.loads(raw)
    except ValueError:  # not a note of ours: nothing to tell
        _log.warning("the death note of worker %s is not JSON: %r", actor_id, raw[:200])
        return None
    return note if isinstance(note, dict) else None


def check_address(address: str) -> None:
    """Raise :class:`StudyError` unless ``address`` (``host:port``) accepts a connection.

    Ray itself keeps retrying an address that does not answer for minutes; this check gives
    a one-line reason within a few seconds. ``"auto"`` and ``"local"`` are left to Ray.
    """
    if not isinstance(address, str) or not address.strip():
        raise StudyError(f"`address` must be a Ray address like 'host:6379', but got {address!r}")
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[1] if "://" in address else address
    host, sep, port_text = target.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise StudyError(
            f"`address` must look like 'host:port' (e.g. '10.0.0.5:6379'), but got {address!r}"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), _CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StudyError(f"the Ray cluster at {address!r} does not answer: {reason}") from None
