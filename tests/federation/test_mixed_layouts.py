"""One federation of the three ways real commons are deployed (issue 16), each a reference commons served in that
layout (``refcommons.layout``) on its own ports of 127.0.0.1, joined through the registry API as an operator would:

* ``dg.MIX1``: Gen3's reverse-proxy layout under one host (nothing to declare);
* ``dg.MIX2``: indexd alone at its root, no fence (declared: ``indexd`` at the root, no fence/Guppy/MDS/…);
* ``dg.MIX3``: every service on its own port (declared: each service's URL).

The unmodified gen3 SDK (``Gen3Index``, ``Gen3File``) then uses the gateway as if it were one commons: records of
every member, the whole listing (``get_all_records``, paged) and ``get_stats`` summed over the three; signed URLs
(fetched: the bytes' md5 is the record's) where the member has fence; a clear 501 where it has not, and no
``access_id`` the member cannot serve. ``/index/_dist`` names each member's indexd where it really is.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gen3.auth import Gen3Auth
from gen3.file import Gen3File
from gen3.index import Gen3Index
from servers import Deployment, Server, start_gateway, start_layout

ADMIN = {"Authorization": "Bearer mixed-admin"}
DRS = "/ga4gh/drs/v1"
SERVICE_KEYS = {"indexd": "indexd", "drs": "drs", "fence": "fence", "guppy": "guppy", "mds": "mds",
                "authz": "authz", "sheepdog": "dictionary"}
"""A layout's service URL (refcommons) → the member endpoint it is declared as (gateway)."""


class Anonymous(Gen3Auth):
    """A Gen3Auth that adds no credentials (the SDK has no anonymous mode; Gen3File needs an auth)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __call__(self, request: Any) -> Any:
        return request


@dataclass
class Member:
    prefix: str
    deployment: Deployment
    declared: dict[str, str | None]
    records: dict[str, dict[str, Any]]

    def open_ids(self) -> list[str]:
        return [d for d, r in self.records.items() if not r["authz"][0].startswith("/programs/phs")]


def declared_endpoints(deployment: Deployment) -> dict[str, str | None]:
    """What an operator declares for a commons in this layout: nothing under Gen3's proxy; otherwise each service's
    URL, and ``null`` for every service the layout does not serve."""
    if deployment.layout == "gen3":
        return {}
    urls = {SERVICE_KEYS[k]: v for k, v in deployment.urls.items() if k in SERVICE_KEYS}
    return {key: urls.get(key) for key in SERVICE_KEYS.values()}


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[tuple[Server, dict[str, Member]]]:
    deployments = await asyncio.gather(start_layout("dg.MIX1", 7, layout="gen3"),
                                       start_layout("dg.MIX2", 11, layout="indexd"),
                                       start_layout("dg.MIX3", 13, layout="split"))
    gateway = await start_gateway(store={"url": f"sqlite:///{tmp_path / 'gw.sqlite3'}"}, cache={"url": "memory://"},
                                  refcommons={"enabled": False}, admin_token="mixed-admin")
    try:
        members = {}
        for d in deployments:
            prefix = d.commons.settings.prefix
            listing = (await d.server("indexd").client.get(d.urls["indexd"] + "/index", params={"limit": 100}))
            members[d.layout] = Member(prefix, d, declared_endpoints(d),
                                       {r["did"]: r for r in listing.json()["records"]})
        yield gateway, members
    finally:
        await gateway.stop()
        for d in deployments:
            await d.stop()


async def _join(gateway: Server, member: Member) -> dict[str, Any]:
    body = {"name": f"Mixed {member.deployment.layout}", "base_url": member.deployment.base_url, "kind": "gen3",
            "prefixes": [member.prefix], "contact": "ops@example.org",
            **({"endpoints": member.declared} if member.declared else {})}
    joined = await gateway.client.post("/registry/v1/commons", json=body, headers=ADMIN)
    assert joined.status_code == 201, joined.text
    approved = await gateway.client.post(f"/registry/v1/commons/{joined.json()['id']}/approve", headers=ADMIN)
    assert approved.status_code == 200, approved.text
    return joined.json()


async def test_the_gen3_sdk_over_a_federation_of_every_layout(federation) -> None:
    gateway, members = federation
    joined = {layout: await _join(gateway, m) for layout, m in members.items()}
    for layout in ("gen3", "split"):
        assert "signed_urls" in (await _offers(gateway, joined[layout]["id"])), layout
    assert "signed_urls" not in (await _offers(gateway, joined["indexd"]["id"]))

    index = Gen3Index(endpoint=gateway.base_url)
    files = Gen3File(auth_provider=Anonymous(gateway.base_url))
    for layout, member in members.items():
        did = member.open_ids()[0]
        record = await asyncio.to_thread(index.get_record, did)
        assert record is not None and record["did"] == did, layout
        for field in ("size", "hashes", "file_name", "authz", "urls"):
            assert record[field] == member.records[did][field], (layout, field)

        drs_object = (await gateway.client.get(f"{DRS}/objects/{did}")).json()
        access_ids = [m.get("access_id") for m in drs_object.get("access_methods", [])]
        if layout == "indexd":
            assert not any(access_ids), drs_object  # nothing the member cannot serve is offered
            refused = await gateway.client.get(f"/user/data/download/{did}")
            assert refused.status_code == 501, refused.text
            assert "offers no signed URLs" in refused.text, refused.text
            continue
        assert any(access_ids), drs_object
        signed = await asyncio.to_thread(files.get_presigned_url, did)
        async with httpx.AsyncClient(timeout=10) as client:
            body = (await client.get(signed["url"])).content
        assert hashlib.md5(body).hexdigest() == member.records[did]["hashes"]["md5"], layout

    every = {did: r for m in members.values() for did, r in m.records.items()}
    listed = await asyncio.to_thread(index.get_all_records, limit=7, paginate=True)
    assert sorted(r["did"] for r in listed) == sorted(every)  # every record of the three, each once
    stats = await asyncio.to_thread(index.get_stats)
    assert stats["fileCount"] == len(every)
    assert stats["totalFileSize"] == sum(r["size"] for r in every.values())

    dist = {entry["name"]: entry for entry in (await gateway.client.get("/index/_dist")).json()}
    for layout, member in members.items():
        entry = dist[f"Mixed {layout}"]
        assert entry["type"] == "indexd" and entry["host"].rstrip("/") == member.deployment.urls["indexd"], entry


async def _offers(gateway: Server, member_id: str) -> list[str]:
    shown = (await gateway.client.get(f"/registry/v1/commons/{member_id}", headers=ADMIN)).json()
    return list(shown["capabilities"]["offers"])
