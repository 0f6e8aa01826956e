"""The PostgreSQL server the tests use, and a way to run administrative SQL on it from any thread (the
``postgres_url`` fixtures of ``tests/conftest.py``; tests that create databases of their own). Importable as
``postgres_db`` (``tests/support/`` is on ``sys.path``).

The server is ``GATEWAY_TEST_POSTGRES_URL`` (a URL of its maintenance database, whose user may create databases)
or, by default, the one ``.ci/postgres`` makes sure answers: 127.0.0.1:5432, user ``postgres``, trust auth.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

POSTGRES_ADMIN_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return urlunsplit(urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}"))


def new_database_name() -> str:
    return f"gateway_test_{uuid.uuid4().hex[:12]}"


async def admin_sql(sql: str, url: str = POSTGRES_ADMIN_URL) -> None:
    """Run ``sql`` on ``url`` (by default the maintenance database), on a connection of its own."""
    conn = await asyncpg.connect(url, timeout=5.0)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_run(url: str, sql: str) -> None:
    """:func:`admin_sql`, from a thread of its own (a fixture may be set up while a test's event loop runs)."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            asyncio.run(admin_sql(sql, url))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
