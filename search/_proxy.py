"""The driver's storage server: Optuna's gRPC storage proxy, on 127.0.0.1 only, with a token.

Optuna's proxy has no authentication, so symtune never lets it listen on a network address,
and on 127.0.0.1 it answers only calls that carry the run's secret token (a fresh one each
run), so other users of the same machine cannot use it either. Its one client is the study
relay (:mod:`symtune.search._relay`), a Ray actor on the driver's own node that gets the
token through Ray; workers on any node reach the relay through Ray's authenticated channels.
The server runs in background threads of the driver process, on the driver's storage object,
for one run, so the driver stays the only process that opens the storage (and the only one
with its credentials).

Optuna's private gRPC API is reached through :mod:`symtune.search._compat` only
(``add_storage_servicer``, ``grpc_storage_client``): the server is built as Optuna's
``make_server`` builds it, but with an interceptor, and the client is Optuna's
``GrpcStorageProxy`` with its channel wrapped to add the token.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import secrets
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from optuna.storages import BaseStorage

from symtune.search._compat import add_storage_servicer, grpc_storage_client

LOOPBACK = "127.0.0.1"
TOKEN_HEADER = "x-symtune-token"


@dataclass(frozen=True)
class Served:
    """Where a storage is served: ``host:port``, and the token each call must carry."""

    host: str
    port: int
    token: str


@contextlib.contextmanager
def storage_proxy(storage: BaseStorage, threads: int = 8) -> Iterator[Served]:
    """Serve ``storage`` on 127.0.0.1 (a free port, a fresh token) while the block runs."""
    token = secrets.token_urlsafe(32)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="symtune-proxy")
    server = None
    for _ in range(5):  # the port is picked free, but could be taken before we bind it
        port = _free_port(LOOPBACK)
        server = grpc.server(pool, interceptors=[_RequireToken(token)])
        add_storage_servicer(storage, server)
        try:
            server.add_insecure_port(f"{LOOPBACK}:{port}")
            server.start()
            break
        except RuntimeError:
            server = None
    if server is None:
        pool.shutdown(wait=False)
        raise RuntimeError(f"could not start the storage proxy on {LOOPBACK}")
    try:
        yield Served(LOOPBACK, port, token)
    finally:
        server.stop(grace=None)
        pool.shutdown(wait=False)


def proxy_client(served: Served) -> BaseStorage:
    """Optuna's ``GrpcStorageProxy`` for ``served``, sending its token with every call."""
    client = grpc_storage_client(
        served.host,
        served.port,
        wrap=lambda channel: grpc.intercept_channel(channel, _AddToken(served.token)),
    )
    client.wait_server_ready(timeout=60)
    return client


class _RequireToken(grpc.ServerInterceptor):
    """Refuses (UNAUTHENTICATED) every call without the run's token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

        def deny(request: Any, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "symtune: wrong or missing token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        for key, value in handler_call_details.invocation_metadata or ():
            given = value.encode() if isinstance(value, str) else bytes(value)
            if key == TOKEN_HEADER and hmac.compare_digest(given, self._token):
                return continuation(handler_call_details)
        return self._deny


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _AddToken(grpc.UnaryUnaryClientInterceptor):
    """Adds the run's token to every call (all of Optuna's storage calls are unary-unary)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        metadata = [*(details.metadata or ()), (TOKEN_HEADER, self._token)]
        with_token = _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            getattr(details, "compression", None),
        )
        return continuation(with_token, request)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
