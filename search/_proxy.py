"""The storage the driver serves to its workers: Optuna's gRPC storage proxy.

Workers on any node reach the study for intermediate reports and pruning through it, so
they need no database credentials and no access to the driver's files. The server runs in
background threads of the driver process, on the driver's storage object, for one run.
Workers open a client only when an objective first calls ``report``/``should_prune``.
"""

from __future__ import annotations

import contextlib
import socket
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import optuna
from optuna.storages import BaseStorage


@contextlib.contextmanager
def storage_proxy(storage: BaseStorage, host: str, threads: int = 8) -> Iterator[tuple[str, int]]:
    """Serve ``storage`` on ``host`` (a free port) while the block runs; yield (host, port)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Optuna's public entry point, run_grpc_proxy_server, blocks forever; its
        # make_server builds the same server and lets us stop it when the run ends.
        from optuna.storages._grpc.server import make_server

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="symtune-proxy")
    server = None
    for _ in range(5):  # the port is picked free, but could be taken before we bind it
        port = _free_port(host)
        try:
            server = make_server(storage, host, port, pool)
            server.start()
            break
        except RuntimeError:
            server = None
    if server is None:
        pool.shutdown(wait=False)
        raise RuntimeError(f"could not start the storage proxy on {host}")
    try:
        yield host, port
    finally:
        server.stop(grace=None)
        pool.shutdown(wait=False)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
