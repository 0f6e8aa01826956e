"""Fixtures shared by every test suite: access to a real Redis server, isolated per test.

Redis tests run against ``redis://127.0.0.1:6379/0`` unless ``GATEWAY_TEST_REDIS_URL`` says
otherwise. Without a server they fail (``make test`` starts one: ``.ci/redis``); they never skip.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

SUPPORT = Path(__file__).resolve().parent / "support"
sys.path.insert(0, str(SUPPORT))
"""Every shared test helper (real servers, fault servers, token kits) lives in ``tests/support/`` and is
imported by its module name from any test (test directories are not packages)."""

from postgres_db import POSTGRES_ADMIN_URL, database_url, new_database_name, postgres_run  # noqa: E402


def _answers(url: str) -> str | None:
    """``None`` if a Redis server at ``url`` answers a PING, else why not."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a Redis server that answered a PING at the start of the session."""
    url = os.environ.get("GATEWAY_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    problem = _answers(url)
    if problem is not None:
        pytest.fail(f"no Redis server answers at {url} ({problem}); the Redis tests must run: `make test` "
                    "starts one (.ci/redis), or set GATEWAY_TEST_REDIS_URL", pytrace=False)
    return url


@pytest.fixture
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted after the test."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this session's own (``gateway_test_<random>``), created through the ``postgres``
    database of the server at ``GATEWAY_TEST_POSTGRES_URL`` (default: 127.0.0.1:5432, user ``postgres``, trust
    auth) and dropped at the end. Without a server the tests fail (``make test`` starts one: ``.ci/postgres``)."""
    admin = POSTGRES_ADMIN_URL
    name = new_database_name()
    try:
        postgres_run(admin, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # refused, auth, …: asyncpg's errors share no base with OSError
        pytest.fail(f"no PostgreSQL server lets us create a database at {admin} ({exc!r}); the PostgreSQL tests "
                    "must run: `make test` starts one (.ci/postgres), or set GATEWAY_TEST_POSTGRES_URL", pytrace=False)
    yield database_url(name)
    postgres_run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_store_url(postgres_url: str) -> Iterator[str]:
    """``postgres_url``, emptied of the store's rows after the test (the schema stays: migrated once)."""
    yield postgres_url
    postgres_run(postgres_url, "DO $$ BEGIN IF to_regclass('documents') IS NOT NULL THEN"
                                " TRUNCATE documents, logs; END IF; END $$")


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL server this test owns (``tests/support/postgres_server.py``), stopped and removed at the end. Its
    directory is under /tmp, not tmp_path: the ``postgres`` user (when tests run as root) must reach it."""
    import contextlib
    import shutil
    import subprocess
    import tempfile

    from postgres_server import OwnPostgres

    directory = Path(tempfile.mkdtemp(prefix="gw-own-postgres-"))
    try:
        server = OwnPostgres(directory)
        yield server
        with contextlib.suppress(subprocess.CalledProcessError):  # the test may have left it stopped
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail loudly when a test leaked an open SQLite store: its worker thread is not a daemon, so the
    process would otherwise hang at exit (a CI run that never ends instead of a red one)."""
    import threading

    workers = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    for worker in workers:  # a store closed by the last test: its thread may take a moment to finish
        worker.join(timeout=2.0)
    leaked = [t.name for t in workers if t.is_alive()]
    if leaked:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        sys.stderr.write(
            f"\nERROR: {len(leaked)} SQLite store(s) left open by the tests ({', '.join(leaked)}): "
            "close every store/commons/gateway a test starts. Exiting now instead of hanging.\n"
        )
        sys.stderr.flush()
        os._exit(int(pytest.ExitCode.TESTS_FAILED))


@pytest.fixture(scope="session")
def shim_dir(tmp_path_factory) -> Path:
    """The drs-compliance-suite's missing ``supported_drs_versions`` module (see tests/support/drs_compliance.py)."""
    import drs_compliance

    return drs_compliance.make_shim(tmp_path_factory.mktemp("dcs-shim"))


@pytest.fixture(scope="session")
def suite_bin(shim_dir: Path) -> Path:
    """The suite's console script (venv built on first use; see tests/support/drs_compliance.py)."""
    import drs_compliance

    return drs_compliance.suite_script(shim_dir)


@pytest.fixture
def own_redis() -> Iterator[Any]:
    """A ``redis-server`` of this test alone, on a free port, that the test may kill (SIGKILL), hang (SIGSTOP) and
    restart on the same port (tests/support/redis_server.py); killed at the end."""
    from redis_server import OwnRedis

    server = OwnRedis()
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.kill()
