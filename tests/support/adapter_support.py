"""What the adapter tests share: the test prefix, a member factory, and a recorded standalone reference commons
(started the way ``tests/refcommons/conftest.py`` starts one, plus a middleware recording every request); and the
fixtures over them, imported by the conftests of the members' and the in-process member's tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from faults import free_port
from servers import Server

from gateway.core.member import Kind, Member, MemberAuth, Status
from gateway.members.search import Count
from gateway.settings.sections import UpstreamConfig
from refcommons.app import build_app
from refcommons.commons import ReferenceCommons
from refcommons.fence.service import Principal
from refcommons.guppy.filter import MISSING_DATA_ALIAS
from refcommons.guppy.index import AUTH_FIELD, build_indices
from refcommons.model import DataFile
from refcommons.settings import CommonsSettings

PREFIX = "dg.TST1"


@dataclass
class Commons:
    commons: ReferenceCommons
    base_url: str
    hits: list[tuple[str, str]] = field(default_factory=list)
    """``(method, path)`` of every request served."""

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.hits if m == method and p == path)

    def open_file(self) -> DataFile:
        """A file anyone may download."""
        return next(f for f in self.commons.dataset.files if self._anonymous.allows("read-storage", [f.authz], "fence"))

    def controlled_file(self) -> DataFile:
        """A file that needs a granted user (the admin is granted everything)."""
        return next(f for f in self.commons.dataset.files
                    if not self._anonymous.allows("read-storage", [f.authz], "fence"))

    @property
    def _anonymous(self) -> Principal:
        return self.commons.fence.principal_for(None)

    async def token(self, user: str) -> str:
        """An access token for ``user``, minted the way the admin CLI mints API keys."""
        credentials = await self.commons.fence.create_api_key(user)
        return await self.commons.fence.exchange(credentials["api_key"])

    async def credentials_file(self, path: Path, user: str) -> Path:
        """A real Gen3 credentials file ``{api_key, key_id}`` for ``user``."""
        path.write_text(json.dumps(await self.commons.fence.create_api_key(user)))
        return path


def member(base_url: str, kind: Kind = "gen3", auth: MemberAuth | None = None, member_id: str = "m1") -> Member:
    return Member(id=member_id, name=member_id, base_url=base_url, kind=kind, prefixes=(PREFIX.lower(),),
                  hostnames=(), status=Status.active, auth=auth or MemberAuth())


@asynccontextmanager
async def recorded_commons(data_dir: Path) -> AsyncIterator[Commons]:
    """A standalone reference commons (prefix dg.TST1, 30 subjects, bulk length 100) whose requests are recorded."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = CommonsSettings(prefix=PREFIX, seed=11, subjects=30, base_url=base, data_dir=data_dir,
                               max_bulk_request_length=100)
    running = Commons(await ReferenceCommons.open(settings), base)

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        running.hits.append((request.method, request.path))
        return await handler(request)

    app = build_app(running.commons)
    app.middlewares.insert(0, record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield running
    finally:
        await runner.cleanup()


@pytest.fixture
def config() -> UpstreamConfig:
    """Quick retries so the fault tests stay fast."""
    return UpstreamConfig(connect_timeout=1.0, read_timeout=5.0, retries=2, backoff=0.05, bulk_concurrency=4)


@pytest.fixture
async def commons(tmp_path: Path) -> AsyncIterator[Commons]:
    async with recorded_commons(tmp_path / "commons") as running:
        yield running


async def bearer(server: Server, user: str) -> str:
    fence = server.commons.fence
    return f"Bearer {await fence.exchange((await fence.create_api_key(user))['api_key'])}"


def expected(server: Server, user: str | None, facet: str, flt=lambda row: True) -> dict[str, Count]:
    """Exact ``{key: Count(all, accessible)}`` of ``facet`` for ``user``, straight from the dataset."""
    principal = server.commons.fence.principal_for(user)
    out: dict[str, tuple[int, int]] = {}
    for row in build_indices(server.commons.dataset)["subject"].rows:
        if not flt(row):
            continue
        key = str(row[facet]) if facet in row else MISSING_DATA_ALIAS
        mine = principal.allows("read", [row[AUTH_FIELD]], "guppy")
        a, b = out.get(key, (0, 0))
        out[key] = (a + 1, b + mine)
    return {k: Count(*v) for k, v in out.items()}
