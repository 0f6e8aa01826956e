"""Registry tests run a real gateway (``run_gateway`` of ``tests/gateway/conftest.py``) on loopback, with
real standalone reference commons as candidates and a fault server misbehaving in every way a candidate can.

Fixtures:

* ``backend``: store (and cache) settings for SQLite or Redis (parametrise with ``registry_kit.BOTH_BACKENDS``);
* ``base_settings``: gateway settings with an admin token, no in-process commons, a quiet prober;
* ``gateway_at``: ``run_gateway`` itself (an async context manager taking settings);
* ``commons``: one standalone reference commons (``dg.TST1``); ``commons_factory`` starts more, on a
  chosen port if asked (to restart one where it was);
* ``faults``: the base URL of the fault server (append a mode: ``/hang``, ``/e500`` …).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from registry_kit import ADMIN_TOKEN, Candidate, fault_app, run_gateway, serve, start_candidate


@pytest.fixture
async def commons_factory() -> AsyncIterator[Callable[..., Awaitable[Candidate]]]:
    started: list[Candidate] = []

    async def start(prefix: str = "dg.TST1", port: int | None = None) -> Candidate:
        candidate = await start_candidate(prefix, port)
        started.append(candidate)
        return candidate

    yield start
    for candidate in started:
        await candidate.stop()


@pytest.fixture
async def commons(commons_factory) -> Candidate:
    return await commons_factory("dg.TST1")


@pytest.fixture
async def faults() -> AsyncIterator[str]:
    runner, base = await serve(fault_app())
    yield base
    await runner.cleanup()


# --- gateway settings ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite"])
def backend(request, tmp_path) -> dict[str, Any]:
    """Store and cache settings: SQLite, or Redis with ``parametrize("backend", BOTH_BACKENDS, indirect=True)``."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_key_prefix")
        return {"store": {"url": url, "key_prefix": prefix},
                "cache": {"url": url, "key_prefix": prefix + "cache:"}}
    return {"store": {"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"}}


@pytest.fixture
def base_settings(backend) -> dict[str, Any]:
    return {
        **backend,
        "admin_token": ADMIN_TOKEN,
        "refcommons": {"enabled": False},
        "health": {"interval": 3600},
        "registry": {"join_probe_timeout": 2.0, "join_rate_limit": 100},
    }


@pytest.fixture
def gateway_at() -> Callable[..., Any]:
    return run_gateway


