"""The federation the gateway's DRS API is tested over, on loopback: three standalone reference commons (two as Gen3
members, one as a DRS member; passthrough or no auth), the in-process reference commons, and three small DRS
members that record what they receive (one passthrough with bulk, one without auth, one the gateway holds its own
token for). ``async with federation() as fed`` starts it all; the helpers pick files, mint member tokens and check
DRS error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from drs_fakes import Server as FakeServer
from drs_fakes import drs_doc, drs_member, serve
from servers import Server, start_commons, start_gateway

from gateway.web.keys import STATE
from refcommons.authz.default_policy import ADMIN_USER
from refcommons.commons import ReferenceCommons

DRS = "/ga4gh/drs/v1"
BULK_LIMIT = 16
MAX_TTL = 600
MISSING = "00000000-0000-4000-8000-0000000000ff"
CALLER = "Bearer caller-token-123"
GATEWAY_OWN = "gateway-own-token-for-eb"


@dataclass
class Fed:
    gateway: Server
    a: Server
    """dg.FA01, kind gen3, passthrough."""
    b: Server
    """dg.FB02, kind drs, passthrough."""
    c: Server
    """dg.FC03, kind gen3, auth none."""
    ep: FakeServer
    """dg.EP01, a small DRS member with bulk, passthrough."""
    en: FakeServer
    """dg.EN01, a small DRS member without bulk, auth none."""
    eb: FakeServer
    """dg.EB01, a small DRS member for which the gateway has its own bearer token."""

    @property
    def ref(self) -> ReferenceCommons:
        """The in-process reference commons (dg.REF0, passthrough)."""
        return self.gateway.app[STATE].refcommons

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gateway.client


EP_OBJECTS = {
    "dg.EP01/obj-1": drs_doc("dg.EP01/obj-1"),
    **{f"dg.EP01/b-{i}": drs_doc(f"dg.EP01/b-{i}") for i in (1, 2, 3)},
    "dg.EP01/urls": drs_doc("dg.EP01/urls", access_methods=[
        {"type": "https", "access_url": {"url": "https://cdn.example/urls/1", "headers": ["X-Token: abc"]}},
        {"type": "https", "access_url": {"url": "https://cdn.example/urls/2"}},
        {"type": "s3", "access_id": 7, "access_url": None},
    ]),
    "dg.EP01/bundle": drs_doc("dg.EP01/bundle", access_methods=None, contents=[
        {"name": "child.bam", "id": "dg.EP01/obj-1", "drs_uri": "drs://member.example/dg.EP01%2Fobj-1"},
        {"name": "outside", "drs_uri": "drs://elsewhere.example/xyz"},
    ]),
}
EN_OBJECTS = {"dg.EN01/obj-1": drs_doc("dg.EN01/obj-1")}
EB_OBJECTS = {"dg.EB01/obj-1": drs_doc("dg.EB01/obj-1")}


@asynccontextmanager
async def federation() -> AsyncIterator[Fed]:
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.FA01", 1, 10)
        stack.push_async_callback(a.stop)
        b = await start_commons("dg.FB02", 2, 10)
        stack.push_async_callback(b.stop)
        c = await start_commons("dg.FC03", 3, 10)
        stack.push_async_callback(c.stop)
        ep = await stack.enter_async_context(serve(drs_member(EP_OBJECTS, bulk=10)))
        en = await stack.enter_async_context(serve(drs_member(EN_OBJECTS)))
        eb = await stack.enter_async_context(serve(drs_member(EB_OBJECTS)))

        def m(mid: str, srv_url: str, kind: str, prefix: str, auth: str, **more: Any) -> dict[str, Any]:
            return {"id": mid, "name": mid.upper(), "base_url": srv_url, "kind": kind, "prefixes": [prefix],
                    "auth": {"type": auth, **more}}

        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 10, "data_dir": None},
            registry={"members": [
                m("fa", a.base_url, "gen3", "dg.FA01", "passthrough"),
                m("fb", b.base_url, "drs", "dg.FB02", "passthrough"),
                m("fc", c.base_url, "gen3", "dg.FC03", "none"),
                m("ep", ep.url, "drs", "dg.EP01", "passthrough"),
                m("en", en.url, "drs", "dg.EN01", "none"),
                m("eb", eb.url, "drs", "dg.EB01", "bearer", token=GATEWAY_OWN),
            ]},
            drs={"max_bulk_request_length": BULK_LIMIT, "max_signed_url_ttl": MAX_TTL},
            upstream={"retries": 0},
        )
        stack.push_async_callback(gateway.stop)
        yield Fed(gateway, a, b, c, ep, en, eb)



def files(commons: Server | ReferenceCommons) -> list:
    rc = commons.commons if isinstance(commons, Server) else commons
    return rc.dataset.files


def open_file(commons: Server | ReferenceCommons, n: int = 0):
    return [f for f in files(commons) if "/projects/" in f.authz][n]


def controlled_file(commons: Server | ReferenceCommons, study: int = 0):
    rc = commons.commons if isinstance(commons, Server) else commons
    phs = [p for p in rc.dataset.projects if p.access == "controlled"][study].phs
    return next(f for f in rc.dataset.files if f.authz == f"/programs/{phs}.c1")


async def token(commons: Server | ReferenceCommons, user: str = ADMIN_USER) -> str:
    """A bearer token minted by the member's own fence (API key → access token)."""
    rc = commons.commons if isinstance(commons, Server) else commons
    key = await rc.fence.create_api_key(user)
    return f"Bearer {await rc.fence.exchange(key['api_key'])}"


def assert_drs_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"msg", "status_code"} and body["status_code"] == status and body["msg"], body
    return body


def no_nulls(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["expires"][0])


async def get_object(fed: Fed, object_id: str, **kwargs: Any) -> httpx.Response:
    return await fed.client.get(f"{DRS}/objects/{object_id}", **kwargs)

