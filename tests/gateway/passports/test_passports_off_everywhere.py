"""With Passports disabled, every route answers a request carrying Passports as if it carried none (one policy,
:func:`gateway.passports.gate.admit`): DRS (objects, access, bulk access), cohort search, export and study
discovery, whether the Passports come in the body or as ``Authorization: Bearer <passport>``. A bearer Passport is
then no credential at all: no member ever receives it.

Two recorded reference commons are the members: ``gen`` (gen3, ``passthrough``: search, discovery and DRS) and
``plain`` (a plain DRS server in ``passthrough`` mode, which would be sent any ordinary ``Authorization`` as is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import pytest_asyncio
from drs_fakes import start_recorded_commons
from faults import HITS
from servers import Server, start_gateway

from gateway.discovery.mapping.reference import REFCOMMONS_FIELD_MAPPINGS
from gateway.passports.tools.devbroker import DevBroker, KeyRing
from gateway.web.keys import HARVESTER
from gateway.web.routes.export import PATH as EXPORT_PATH
from gateway.web.routes.search import PATH as COHORT_PATH

pytestmark = pytest.mark.asyncio(loop_scope="module")
DRS = "/ga4gh/drs/v1"
BROKER = "https://broker.example.org"


@dataclass
class Federation:
    gateway: Server
    members: dict[str, Server]
    passport: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.passport}"}

    def forwarded(self) -> list[str]:
        """Every ``Authorization`` header a member has received so far."""
        return [h.get("Authorization", "") for m in self.members.values() for _, _, h, _ in m.app[HITS]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed(tmp_path_factory) -> AsyncIterator[Federation]:
    broker = DevBroker(KeyRing.open(tmp_path_factory.mktemp("broker")), BROKER)
    visa = broker.controlled_access_grant(sub="alice", value="https://dac.example.org/datasets/phs000001.c1",
                                          source="https://dac.example.org")
    members = {"gen": await start_recorded_commons("dg.OFF1", 71, 30),
               "plain": await start_recorded_commons("dg.OFF2", 72, 30)}
    gateway = None
    try:
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, health={"interval": 3600.0},
            upstream={"retries": 0},
            registry={"members": [
                {"id": "gen", "name": "gen", "base_url": members["gen"].base_url, "kind": "gen3",
                 "prefixes": ["dg.OFF1"], "auth": {"type": "passthrough"}},
                {"id": "plain", "name": "plain", "base_url": members["plain"].base_url, "kind": "drs",
                 "prefixes": ["dg.OFF2"], "auth": {"type": "passthrough"}},
            ]},
            aggregate={"deadline": 8.0, "harvest": {"interval": 3600.0, "timeout": 8.0}, "mappings": {"members": {
                "gen": {"field_mappings": {**REFCOMMONS_FIELD_MAPPINGS, "commons": "gen"}}}}},
        )
        await gateway.app[HARVESTER].started()
        assert not gateway.app.get("passport_gate")  # Passports are disabled
        yield Federation(gateway, members, broker.passport(sub="alice", visas=[visa]))
    finally:
        for server in (gateway, *members.values()):
            if server is not None:
                await server.stop()


async def object_ids(fed: Federation, name: str) -> list[str]:
    commons = fed.members[name].commons
    assert commons is not None
    return [r.did for r in await commons.index.list(limit=1024)]


async def same(fed: Federation, method: str, path: str, *, body: Any = None, params: Any = None) -> Any:
    """The answer without Passports, after checking that Passports in the body (when there is one) and as the
    bearer token get exactly it (status and body)."""
    client = fed.gateway.client
    plain = await client.request(method, path, json=body, params=params)
    asked = [({**body, "passports": [fed.passport]} if body is not None else None, None)]
    asked.append((body, fed.bearer))
    for sent, headers in asked:
        got = await client.request(method, path, json=sent, params=params, headers=headers)
        assert (got.status_code, stable(got.content)) == (plain.status_code, stable(plain.content)), (path, sent)
    return plain


def stable(body: bytes) -> Any:
    """A JSON answer without what varies from one request to the next (``took_ms``)."""
    def strip(doc: Any) -> Any:
        if isinstance(doc, dict):
            return {k: strip(v) for k, v in doc.items() if k != "took_ms"}
        return [strip(v) for v in doc] if isinstance(doc, list) else doc
    return strip(orjson.loads(body))


def urls_without_signature(urls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Access answers carry signed URLs whose expiry moves with the clock: compare them without their query."""
    return [{**u, "url": u["url"].split("?")[0]} for u in urls]


async def test_drs_objects_and_bulk_objects(fed):
    for name in ("gen", "plain"):
        oid = (await object_ids(fed, name))[0]
        assert (await same(fed, "POST", f"{DRS}/objects/{oid}", body={})).status_code == 200
    ids = (await object_ids(fed, "gen"))[:3] + (await object_ids(fed, "plain"))[:3]
    assert (await same(fed, "POST", f"{DRS}/objects", body={"bulk_object_ids": ids})).status_code == 200


async def test_drs_access_is_what_an_anonymous_caller_gets_and_no_member_sees_the_passport(fed):
    client = fed.gateway.client
    statuses = set()
    for name in ("gen", "plain"):
        for oid in (await object_ids(fed, name))[:6]:
            obj = (await client.get(f"{DRS}/objects/{oid}")).json()
            path = f"{DRS}/objects/{oid}/access/{obj['access_methods'][0]['access_id']}"
            anonymous = await client.get(path)
            statuses.add(anonymous.status_code)
            for kw in ({"json": {"passports": [fed.passport]}}, {"json": {}, "headers": fed.bearer}):
                got = await client.post(path, **kw)
                assert got.status_code == anonymous.status_code, (path, kw)
                if got.status_code == 200:
                    assert got.json()["url"].split("?")[0] == anonymous.json()["url"].split("?")[0]
            assert (await client.get(path, headers=fed.bearer)).status_code == anonymous.status_code
    assert 200 in statuses and statuses - {200}  # open and controlled objects were both asked for
    assert fed.passport not in " ".join(fed.forwarded())


async def test_drs_bulk_access(fed):
    pairs = []
    for name in ("gen", "plain"):
        for oid in (await object_ids(fed, name))[:4]:
            obj = (await fed.gateway.client.get(f"{DRS}/objects/{oid}")).json()
            pairs.append({"bulk_object_id": oid, "bulk_access_ids": [obj["access_methods"][0]["access_id"]]})
    client = fed.gateway.client
    anonymous = await client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": pairs})
    assert anonymous.status_code == 200
    for kw in ({"json": {"bulk_object_access_ids": pairs, "passports": [fed.passport]}},
               {"json": {"bulk_object_access_ids": pairs}, "headers": fed.bearer}):
        got = await client.post(f"{DRS}/objects/access", **kw)
        assert got.status_code == 200
        assert got.json()["summary"] == anonymous.json()["summary"]
        assert got.json()["unresolved_drs_objects"] == anonymous.json()["unresolved_drs_objects"]
        assert urls_without_signature(got.json()["resolved_drs_object_access_urls"]) == \
            urls_without_signature(anonymous.json()["resolved_drs_object_access_urls"])
    assert fed.passport not in " ".join(fed.forwarded())


async def test_cohort_search(fed):
    for body in ({"index": "subject", "accessibility": "accessible"}, {"index": "subject", "facets": ["project_id"]},
                 {"index": "file", "accessibility": "all"}):
        found = await same(fed, "POST", COHORT_PATH, body=body)
        assert found.status_code == 200, found.text
    assert fed.passport not in " ".join(fed.forwarded())


async def test_export(fed):
    found = await same(fed, "POST", EXPORT_PATH, body={"index": "file", "format": "manifest", "delivery": "stream"})
    assert found.status_code == 200 and orjson.loads(found.content), found.text
    assert fed.passport not in " ".join(fed.forwarded())


async def test_study_discovery(fed):
    found = await same(fed, "GET", "/mds/aggregate/metadata", params={"limit": "1000"})
    assert found.status_code == 200 and found.json()["gen"], found.text
    assert fed.passport not in " ".join(fed.forwarded())
