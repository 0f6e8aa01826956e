"""The GA4GH drs-compliance-suite (from PyPI, unmodified; venv and runner in ``tests/drs_compliance.py``)
against the gateway's federated DRS API in its ``1.2`` profile, over two reference commons.

Two standalone commons (``dg.TST1``, ``dg.TST2``) are the members, declared with ``auth: passthrough``; the
gateway's own in-process commons is off. Objects come from both members; controlled ones are read with a bearer
token their own member issued (an admin API key exchanged at its ``/user/credentials/api/access_token``), which
the gateway passes on to that member. Without a venv the tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import drs_compliance
from servers import Server, start_commons, start_gateway

ADMIN = "admin@refcommons.example"




@dataclass
class Member:
    server: Server
    prefix: str
    token: str
    open_id: str
    controlled_id: str


@dataclass
class Federation:
    gateway: Server
    a: Member
    b: Member

    @property
    def drs(self) -> str:
        return f"{self.gateway.base_url}/ga4gh/drs/v1"

    async def access_ids(self, drs_id: str, token: str) -> list[str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await self.gateway.client.get(f"/ga4gh/drs/v1/objects/{drs_id}", headers=headers)
        assert r.status_code == 200, r.text
        return [m["access_id"] for m in r.json()["access_methods"]]


async def _member(server: Server, prefix: str) -> Member:
    assert server.commons is not None
    creds = await server.commons.fence.create_api_key(ADMIN, ttl_seconds=3600)
    r = await server.client.post("/user/credentials/api/access_token", json=creds)
    assert r.status_code == 200, r.text
    records = (await server.client.get("/index/index", params={"limit": 1024})).json()["records"]
    open_id = next(r["did"] for r in records if not r["authz"][0].startswith("/programs/phs"))
    controlled_id = next(r["did"] for r in records if r["authz"][0].startswith("/programs/phs"))
    return Member(server, prefix, r.json()["access_token"], open_id, controlled_id)


@asynccontextmanager
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    started: list[Server] = []
    try:
        for prefix, seed in (("dg.TST1", 7), ("dg.TST2", 11)):
            started.append(await start_commons(prefix, seed, subjects=15, data_dir=tmp_path / prefix))
        members = [
            {"id": f"commons-{n}", "name": f"Commons {s.commons.settings.prefix}", "base_url": s.base_url,
             "kind": "gen3", "prefixes": [s.commons.settings.prefix], "auth": {"type": "passthrough"}}
            for n, s in zip("ab", started)
        ]
        gateway = await start_gateway(
            refcommons={"enabled": False}, store={"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"},
            cache={"url": "memory://"}, registry={"members": members}, drs_profile="1.2",
        )
        started.append(gateway)
        a = await _member(started[0], "dg.TST1")
        b = await _member(started[1], "dg.TST2")
        yield Federation(gateway, a, b)
    finally:
        for server in reversed(started):
            await server.stop()


async def _run(suite_bin: Path, shim_dir: Path, fed: Federation, config: dict, workdir: Path) -> dict:
    # the suite is a subprocess talking to servers on this event loop: run it off the loop
    return await asyncio.to_thread(drs_compliance.run_suite, suite_bin, shim_dir, fed.drs, config, workdir,
                                   platform="gateway")


async def test_compliance_suite_passes_against_the_federation(suite_bin, shim_dir, tmp_path):
    async with federation(tmp_path / "servers") as fed:
        a, b = fed.a, fed.b
        objects = [(a.open_id, ""), (b.open_id, ""), (a.controlled_id, a.token), (b.controlled_id, b.token)]
        n_access = sum([len(await fed.access_ids(d, t)) for d, t in objects])
        report = await _run(suite_bin, shim_dir, fed, drs_compliance.config(objects), tmp_path / "suite")

    assert report["status"] == "PASS" and report["summary"]["failed"] == 0, drs_compliance.failures(report)
    assert n_access >= 4, "every object should offer at least one access method"
    assert report["summary"] == drs_compliance.expected_summary(len(objects), n_access)
    tested = " ".join(t for t, *_ in drs_compliance.cases(report))
    for drs_id, _ in objects:
        assert drs_id in tested, f"{drs_id} missing from the report"


async def test_a_members_token_opens_only_its_own_controlled_objects(suite_bin, shim_dir, tmp_path):
    """Tokens swapped between the members: object info still passes (metadata is public), but access to each
    controlled object fails with 401, and nothing else fails."""
    async with federation(tmp_path / "servers") as fed:
        a, b = fed.a, fed.b
        objects = [(a.open_id, ""), (a.controlled_id, b.token), (b.controlled_id, a.token)]
        n_controlled_access = sum([len(await fed.access_ids(d, "")) for d, _ in objects[1:]])
        report = await _run(suite_bin, shim_dir, fed, drs_compliance.config(objects), tmp_path / "suite")

    assert report["status"] == "FAIL"
    failures = drs_compliance.failures(report)
    assert len(failures) == 2 * n_controlled_access, failures  # status code + schema, per access id
    for test_name, case_name, message in failures:
        assert "drs access endpoint" in test_name, failures
        assert a.controlled_id in test_name or b.controlled_id in test_name, failures
        assert ("status code" in case_name and "got 401" in message) or "'url' is a required property" in message
