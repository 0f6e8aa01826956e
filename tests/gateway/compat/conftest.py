"""A small federation on 127.0.0.1 for the compatibility surfaces: two standalone reference commons, one
joined as a ``gen3`` member (``dg.AAA1``) and one as a ``drs`` member (``dg.BBB2``), both taking the caller's
token (``passthrough``), behind a real gateway (no in-process commons)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from servers import Server, start_commons, start_gateway

from refcommons.authz.default_policy import ADMIN_USER


@dataclass
class Federation:
    gateway: Server
    gen3: Server
    """Member ``a``, kind ``gen3``, prefix ``dg.AAA1``."""
    drs: Server
    """Member ``b``, kind ``drs``, prefix ``dg.BBB2``."""

    async def records(self, commons: Server) -> list[dict[str, Any]]:
        r = await commons.client.get("/index/index", params={"limit": 1024})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    async def open_record(self, commons: Server) -> dict[str, Any]:
        return next(r for r in await self.records(commons) if "/projects/" in r["authz"][0])

    async def controlled_record(self, commons: Server) -> dict[str, Any]:
        return next(r for r in await self.records(commons) if r["authz"][0].startswith("/programs/phs"))

    async def token(self, commons: Server, user: str = ADMIN_USER) -> str:
        """An access token minted by ``commons``' own fence: an API key, exchanged over HTTP."""
        assert commons.commons is not None
        creds = await commons.commons.fence.create_api_key(user)
        r = await commons.client.post("/user/credentials/api/access_token", json=creds)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def commons_for(self, url: str) -> Server:
        return next(s for s in (self.gen3, self.drs) if url.startswith(s.base_url + "/"))

    async def fetch_md5(self, url: str) -> str:
        """Download a signed URL as a client would (absolute, no credentials) and hash the bytes."""
        r = await self.commons_for(url).client.get(url)
        assert r.status_code == 200, r.text
        return hashlib.md5(r.content).hexdigest()


def members(gen3: Server, drs: Server) -> list[dict[str, Any]]:
    return [
        {"id": "a", "name": "A", "base_url": gen3.base_url, "kind": "gen3", "prefixes": ["dg.AAA1"],
         "auth": {"type": "passthrough"}},
        {"id": "b", "name": "B", "base_url": drs.base_url, "kind": "drs", "prefixes": ["dg.BBB2"],
         "auth": {"type": "passthrough"}},
    ]


@pytest.fixture
async def federation(tmp_path) -> AsyncIterator[Federation]:
    gen3 = await start_commons("dg.AAA1", seed=1, subjects=12)
    drs = await start_commons("dg.BBB2", seed=2, subjects=12)
    gateway = None
    try:
        gateway = await start_gateway(
            store={"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"}, refcommons={"enabled": False},
            registry={"members": members(gen3, drs)},
        )
        yield Federation(gateway, gen3, drs)
    finally:
        for server in (gateway, gen3, drs):
            if server is not None:
                await server.stop()
        # let the closed stores' worker threads run to their end (they exit just after close() returns, but
        # may not be scheduled before a following quick test and the session's leak check)
        await asyncio.sleep(0.02)
