"""The driver's storage server: Optuna's gRPC storage proxy, on 127.0.0.1 only.

It has no authentication, so it never listens on a network address: the only client is the
study relay (:mod:`symtune.search._relay`), a Ray actor on the driver's own node, which
workers on any node reach through Ray's authenticated channels. The server runs in background
threads of the driver process, on the driver's storage object, for one run, so the driver
stays the only process that opens the storage (and the only one with its credentials).
"""

from __future__ import annotations

import contextlib
import socket
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import optuna
from optuna.storages import BaseStorage

LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def storage_proxy(storage: BaseStorage, threads: int = 8) -> Iterator[tuple[str, int]]:
    """Serve ``storage`` on 127.0.0.1 (a free port) while the block runs; yield (host, port)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Optuna's public entry point, run_grpc_proxy_server, blocks forever; its
        # make_server builds the same server and lets us stop it when the run ends.
        from optuna.storages._grpc.server import make_server

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="symtune-proxy")
    server = None
    for _ in range(5):  # the port is picked free, but could be taken before we bind it
        port = _free_port(LOOPBACK)
        try:
            server = make_server(storage, LOOPBACK, port, pool)
            server.start()
            break
        except RuntimeError:
            server = None
    if server is None:
        pool.shutdown(wait=False)
        raise RuntimeError(f"could not start the storage proxy on {LOOPBACK}")
    try:
        yield LOOPBACK, port
    finally:
        server.stop(grace=None)
        pool.shutdown(wait=False)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
