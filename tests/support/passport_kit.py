"""Real servers for Passport and gateway-token tests of the reference commons: a development broker (JWKS and OIDC
discovery on 127.0.0.1), a federation gateway's JWKS (counting its requests), the commons' ``passports`` section
trusting the broker, and finding files in a commons' index.

Importable as ``passport_kit`` from any test module (it sits next to ``servers``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from servers import Server, free_port

from gateway.passports.jose.signing import SigningKey
from gateway.passports.tokens import gateway_token
from gateway.passports.tools.devbroker import JWKS_PATH, DevBroker, KeyRing, jwks_app
from gateway.settings.passports import PassportsConfig
from refcommons.indexd.records import IndexRecord

DRS = "/ga4gh/drs/v1"
DAC = "https://dac.example.org"
DATASETS = "https://dac.example.org/datasets/{dataset}.{consent}"
SUB = "researcher-7"


def now() -> int:
    return int(time.time())


# --- the development broker ----------------------------------------------------------------------------------------


@dataclass
class Broker:
    url: str
    broker: DevBroker
    hits: list[str]

    def visa(self, phs: str, consent: str = "c1", *, ttl: int = 600, **kw: Any) -> str:
        """A ControlledAccessGrants Visa (Document Token, ``jku`` on this broker) for ``phs.consent``."""
        kw.setdefault("exp", now() + ttl)
        return self.broker.controlled_access_grant(
            sub=kw.pop("sub", SUB), value=DATASETS.format(dataset=phs, consent=consent), source=DAC, **kw)

    def passport(self, visas: Sequence[str], **kw: Any) -> str:
        return self.broker.passport(sub=kw.pop("sub", SUB), visas=list(visas), **kw)


@web.middleware
async def _count(request: web.Request, handler: Any) -> web.StreamResponse:
    request.app[HITS].append(request.path)
    return await handler(request)


HITS = web.AppKey("hits", list)


async def _serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@asynccontextmanager
async def dev_broker(directory: Path) -> AsyncIterator[Broker]:
    """A development broker (its keys in ``directory``) serving JWKS and discovery on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    keys = KeyRing.open(directory)
    app = jwks_app(keys, url)
    app.middlewares.append(_count)
    app[HITS] = []
    runner = await _serve(app, port)
    try:
        yield Broker(url, DevBroker(keys, url), app[HITS])
    finally:
        await runner.cleanup()


def passports_config(broker_url: str, **extra: Any) -> PassportsConfig:
    """The commons' ``passports`` section: the broker trusted for Passports (discovery) and Visas (its ``jku``),
    its ControlledAccessGrants from :data:`DAC` read with the :data:`DATASETS` template as dbGaP grants."""
    return PassportsConfig.model_validate({
        "enabled": True,
        "allow_insecure_loopback": True,
        "trusted_brokers": [{"issuer": broker_url, "discovery": True}],
        "trusted_visa_issuers": [{"issuer": broker_url, "jku": [broker_url + JWKS_PATH],
                                  "sources": {"ControlledAccessGrants": [DAC]}}],
        "grants": {"issuers": [{"issuer": broker_url, "source": DAC, "authority": "dbgap",
                                "templates": [{"template": DATASETS}]}]},
        "keys": {"connect_timeout": 2.0, "read_timeout": 2.0},
        **extra,
    })


# --- a federation gateway's JWKS -----------------------------------------------------------------------------------


@dataclass
class GatewayKeys:
    """A gateway's issuer URL (its JWKS at ``<issuer>/.well-known/jwks.json``), its signing key, and every path
    requested from it."""

    issuer: str
    key: SigningKey
    hits: list[str]
    runner: web.AppRunner

    @property
    def jwks_uri(self) -> str:
        return self.issuer + JWKS_PATH

    def token(self, record: IndexRecord, audience: str, *, resources: Sequence[str] | None = None,
              ttl: int = 60, until: int | None = None, key: SigningKey | None = None,
              **changes: Any) -> str:
        """A gateway token for ``record`` at the commons ``audience`` whose decision ends at ``until`` (default: in
        45 s); ``changes`` override claims after they are built."""
        t = now()
        claims = gateway_token.claims(
            issuer=self.issuer, audience=audience, object_id=record.did,
            resources=list(record.authz if resources is None else resources), identity=("https://broker.test", SUB),
            now=t, ttl=ttl, access_until=until or t + 45)
        claims.update(changes)
        return gateway_token.mint(key or self.key, claims)

    async def stop(self) -> None:
        await self.runner.cleanup()


@asynccontextmanager
async def gateway_keys(key: SigningKey) -> AsyncIterator[GatewayKeys]:
    """A tiny aiohttp app publishing ``key``'s public JWK, counting requests."""
    port = free_port()
    app = web.Application(middlewares=[_count])
    app[HITS] = []

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [key.public_jwk]})

    app.router.add_get(JWKS_PATH, jwks)
    runner = await _serve(app, port)
    keys = GatewayKeys(f"http://127.0.0.1:{port}", key, app[HITS], runner)
    try:
        yield keys
    finally:
        await keys.stop()


# --- the commons' files --------------------------------------------------------------------------------------------


async def records(server: Server) -> list[IndexRecord]:
    assert server.commons is not None
    return await server.commons.index.list(limit=1024)


async def files(server: Server) -> dict[str, IndexRecord]:
    """An open file, and from one controlled study a ``c1`` and a ``c2`` file, plus a ``c1`` file of another
    study (``other``): found through the commons' index by their ``authz``."""
    found = await records(server)
    open_file = next(r for r in found if r.authz and "/projects/" in r.authz[0])
    c1 = [r for r in found if len(r.authz) == 1 and r.authz[0].endswith(".c1")]
    c2 = [r for r in found if len(r.authz) == 1 and r.authz[0].endswith(".c2")]
    study = lambda r: r.authz[0].rsplit(".", 1)[0]  # noqa: E731
    first = c1[0]
    same_c2 = next(r for r in c2 if study(r) == study(first))
    other = next(r for r in c1 if study(r) != study(first))
    return {"open": open_file, "c1": first, "c2": same_c2, "other": other}


def phs_of(record: IndexRecord) -> str:
    """``phs001234`` of a ``/programs/phs001234.c1`` record."""
    return record.authz[0].removeprefix("/programs/").split(".")[0]


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["expires"][0])


def user_of(url: str) -> str | None:
    return parse_qs(urlsplit(url).query).get("user", [None])[0]
