"""Shared fixtures: one local Ray per test session, bound to 127.0.0.1.

Tests that need Ray request ``ray_local``. A module that needs its own Ray (a
``ray.cluster_utils.Cluster``) shuts this one down first; the next module that asks for
``ray_local`` starts it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from symtune.search._ray import keep_on_loopback as _keep_ray_on_loopback

# Ray resolves "127.0.0.1" to the machine's own address unless told that this is not a
# cluster machine; with this, every Ray in the tests (and in processes they start, such as the
# CLI's) really stays on loopback, and ray.cluster_utils.Cluster nodes on 127.0.0.1 can be joined.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(autouse=True)
def _study_cache_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prepared supernet studies (``symtune.studies._prepared``) are kept in a folder of
    each test's own, never in the user's cache and never shared between tests."""
    monkeypatch.setenv("SYMTUNE_CACHE_DIR", str(tmp_path_factory.mktemp("symtune-cache")))


RAY_CPUS = 4  # logical: enough for a few one-CPU actors on a two-core machine
RAY_GPUS = 1  # logical: lets tests exercise GPU scheduling on a CPU-only machine


def start_local_ray() -> None:
    """Start the shared local Ray unless one is running in this process."""
    import ray

    _keep_ray_on_loopback()
    if not ray.is_initialized():
        ray.init(
            num_cpus=RAY_CPUS,
            num_gpus=RAY_GPUS,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )


@pytest.fixture(scope="session")
def ray_on_loopback() -> None:
    """Make Ray in this process use 127.0.0.1 as it is told (see the top of this file)."""
    _keep_ray_on_loopback()


@pytest.fixture(scope="session")
def _ray_shutdown_at_exit() -> Iterator[None]:
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture()
def ray_local(_ray_shutdown_at_exit: None) -> Iterator[None]:
    """A local Ray (4 logical CPUs, 1 logical GPU) shared by every test that asks for it."""
    start_local_ray()
    yield


# -- storages: the contract suites run on every kind a user may point a study at ---------------

POSTGRES_URL_VARIABLE = "SYMTUNE_TEST_POSTGRESQL_URL"
"""A PostgreSQL server URL for the storage tests (``.ci/run`` starts one on 127.0.0.1 and sets
it); without it, the PostgreSQL cases are skipped with that reason."""


@pytest.fixture(params=["journal", "sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty study storage of each kind: a journal file path, an SQLite URL, and a
    fresh database on the PostgreSQL server named by ``$SYMTUNE_TEST_POSTGRESQL_URL``."""
    kind = request.param
    if kind == "journal":
        yield str(tmp_path / "study.journal")
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.db'}"
    else:
        yield from _fresh_postgres_database()


def _fresh_postgres_database() -> Iterator[str]:
    import uuid

    server = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server:
        pytest.skip(
            f"no PostgreSQL server: set ${POSTGRES_URL_VARIABLE} (e.g. "
            "postgresql+psycopg://user:pw@127.0.0.1:5432/postgres); .ci/run starts one"
        )
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg", reason="no PostgreSQL driver: pip install 'symtune[postgresql]'")
    name = f"symtune_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(server).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
