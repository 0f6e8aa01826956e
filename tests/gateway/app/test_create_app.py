"""The composition root: every service a route reads is kept on the app (the Passport gate only when Passports
are enabled), and a start that fails closes what it had opened."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.passports.tokens.token_keys import JWKS_PATH
from gateway.registry.config_members import RegistryStartupError
from gateway.settings.gateway import Settings
from gateway.web import keys

ALL_KEYS = {name: key for name, key in vars(keys).items() if isinstance(key, web.AppKey)}
PASSPORTS = {"enabled": True, "allow_insecure_loopback": True,
             "trusted_brokers": [{"issuer": "http://127.0.0.1:9", "discovery": True}]}


def settings_in(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"},
                    refcommons={"subjects": 5, "data_dir": tmp_path / "rc"}, **overrides)


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(await create_app(settings))) as client:
        yield client


def paths(app: web.Application) -> set[str]:
    return {route.resource.canonical for route in app.router.routes() if route.resource is not None}


async def test_every_key_but_the_gate_is_kept_without_passports(tmp_path):
    async with served(settings_in(tmp_path)) as client:
        app = client.server.app
        assert {name for name, key in ALL_KEYS.items() if key in app} == set(ALL_KEYS) - {"GATE"}
        assert JWKS_PATH not in paths(app)
        assert (await client.get("/_status")).status == 200


async def test_the_gate_and_its_keys_with_passports(tmp_path):
    async with served(settings_in(tmp_path, passports=PASSPORTS)) as client:
        app = client.server.app
        assert {name for name, key in ALL_KEYS.items() if key in app} == set(ALL_KEYS)
        assert app[keys.DRS].gate is app[keys.GATE]
        answer = await client.get(JWKS_PATH)
        assert answer.status == 200 and "keys" in await answer.json()


async def test_a_failed_start_closes_what_it_opened(tmp_path):
    """A registry conflict at start must not leave the store open (its SQLite thread would hang exit)."""

    def sqlite_threads() -> int:
        return sum("_connection_worker_thread" in t.name for t in threading.enumerate())

    before = sqlite_threads()
    clash = [{"id": "a", "name": "A", "base_url": "http://127.0.0.1:1", "prefixes": ["dg.same"]},
             {"id": "b", "name": "B", "base_url": "http://127.0.0.1:2", "prefixes": ["dg.same"]}]
    with pytest.raises(RegistryStartupError, match=r"dg\.same"):
        await create_app(settings_in(tmp_path, registry={"members": clash}))
    for _ in range(50):
        if sqlite_threads() == before:
            break
        await asyncio.sleep(0.02)
    assert sqlite_threads() == before
