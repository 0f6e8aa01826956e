"""Open a :class:`~gateway.store.base.Store` from a URL.

* ``sqlite:///var/gw.sqlite3`` or ``sqlite:///./var/gw.sqlite3``: a file relative to the working
  directory (three slashes, as in SQLAlchemy); ``sqlite:////srv/gw.sqlite3``: an absolute path;
* ``sqlite://:memory:`` or ``sqlite:///:memory:``: a private in-memory database;
* ``redis://host:port/db`` or ``rediss://…`` (TLS): a Redis server, checked with a PING;
* ``postgresql://user:password@host:port/database`` (or ``postgres://…``; libpq's query parameters such as
  ``?sslmode=require``): a PostgreSQL database, its schema migrated at open when ``migrate_on_start`` allows
  (:mod:`gateway.store.migrations`).

The Redis and PostgreSQL backends (and their client libraries, ~35 MB of a worker's memory) are imported only
when a URL names them: a gateway on SQLite never loads them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from gateway.store.base import Store, StoreError, StoreUnavailable
from gateway.store.sqlite import MEMORY, SqliteStore

if TYPE_CHECKING:
    import redis.asyncio as aioredis

PING_TIMEOUT = 10.0  # seconds open_store waits for a Redis server's first answer


def redacted(url: str) -> str:
    """``url`` without its password, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(url: str) -> str:
    """The file path (or ``:memory:``) a ``sqlite:`` URL names."""
    if url in ("sqlite://:memory:", "sqlite:///:memory:"):
        return MEMORY
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise ValueError(
            f"bad SQLite store URL {url!r}: expected sqlite:///relative/path.sqlite3, "
            "sqlite:////absolute/path.sqlite3 or sqlite://:memory:"
        )
    return url.removeprefix("sqlite:///")


async def connect_redis(url: str, *, timeout: float = 5.0) -> aioredis.Redis:
    """A Redis client for ``url`` whose server has answered a PING (``StoreError`` otherwise). ``timeout`` bounds
    every connect and every command's socket read: a Redis that stops answering fails a call in that time rather
    than holding the request (the OS timeout would be minutes)."""
    import redis.asyncio as aioredis

    try:
        client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:
        raise StoreError(f"bad Redis URL {redacted(url)}: {exc}") from exc
    try:
        await asyncio.wait_for(client.ping(), PING_TIMEOUT)
    except (aioredis.RedisError, OSError, TimeoutError) as exc:
        await client.aclose()
        raise StoreError(f"no Redis server answers at {redacted(url)}: {exc or type(exc).__name__}") from exc
    return client


async def open_store(
    url: str, *, key_prefix: str = "gw:", timeout: float = 5.0, pool_size: int = 10, migrate_on_start: bool = True
) -> Store:
    """Open the store ``url`` names; ``key_prefix`` applies to Redis only, ``timeout`` (seconds, each call) to Redis
    and PostgreSQL, ``pool_size`` and ``migrate_on_start`` to PostgreSQL only."""
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        return await SqliteStore.open(sqlite_path(url))
    if scheme in ("redis", "rediss"):
        from gateway.store.redis import RedisStore

        return RedisStore(await connect_redis(url, timeout=timeout), key_prefix=key_prefix)
    if scheme in ("postgresql", "postgres"):
        from gateway.store.postgres import PostgresStore

        try:
            return await PostgresStore.open(
                url, timeout=timeout, pool_size=pool_size, migrate_on_start=migrate_on_start
            )
        except StoreUnavailable as exc:
            raise StoreUnavailable(f"no PostgreSQL server answers at {redacted(url)}: {exc}") from exc
    raise ValueError(
        f"unknown store URL scheme in {redacted(url)!r}: expected sqlite:///path, sqlite://:memory:, "
        "redis://host:port/db, rediss://host:port/db or "
        "postgresql://user@host:port/database"
    )
