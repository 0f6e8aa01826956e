"""The Gen3 adapter against a standalone reference commons over real HTTP (indexd + fence routes)."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

import faults
import pytest
from adapter_support import PREFIX, member
from faults import serve

from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN
from gateway.core.errors import AccessDenied, MemberUnavailable, NotFoundUpstream
from gateway.core.member import MemberAuth
from gateway.core.records import MemberRecord
from gateway.members.gen3 import Gen3Adapter, gen3_id, match_back
from gateway.members.protocols import MemberAdapter
from refcommons.authz.default_policy import ADMIN_USER

STRANGER = "stranger@example.org"
MISSING = f"{PREFIX}/00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def gen3(commons, config):
    adapter = Gen3Adapter(member(commons.base_url), config, OPEN)
    yield adapter
    await adapter.close()


def deadline() -> Deadline:
    return Deadline.after(10)


def test_compact_ids_become_gen3_ids():
    assert gen3_id("dg.4503:abc") == "dg.4503/abc"
    for unchanged in ("dg.4503/abc", "dg.4503/a:b", "abc", ":abc", "abc:"):
        assert gen3_id(unchanged) == unchanged


def test_records_are_matched_back_to_the_ids_as_asked():
    one = MemberRecord("m", "dg.ABCD/One", "indexd", {})
    two = MemberRecord("m", "dg.ABCD/two", "indexd", {})
    again = MemberRecord("m", "DG.abcd/ONE", "indexd", {})  # the same id in other case: the first record keeps it
    asked = ["dg.abcd/one", "DG.ABCD:TWO", "one", "alias-2", "dg.ABCD/three", "three", "dg.ABCD"]
    found = match_back(asked, [one, two, again], lambda r: ["Alias-2"] if r is two else [])
    assert found == {"dg.abcd/one": one, "DG.ABCD:TWO": two, "one": one, "alias-2": two}


async def test_it_is_a_member_adapter(gen3):
    assert isinstance(gen3, MemberAdapter)


async def test_get_record_by_prefixed_compact_and_bare_id(commons, gen3):
    guid = commons.commons.dataset.files[0].guid
    uuid = guid.split("/", 1)[1]
    for asked in (guid, f"{PREFIX}:{uuid}", uuid):
        record = await gen3.get_record(asked, deadline())
        assert record is not None, asked
        assert (record.member_id, record.id, record.format) == ("m1", guid, "indexd")
        assert record.document["did"] == guid and record.document["size"] > 0
    # the compact form was sent with a raw slash, never with ':'
    assert commons.count("GET", f"/index/index/{guid}") == 2
    assert not any(":" in p for _, p in commons.hits)


async def test_unknown_and_unsafe_ids_are_none(commons, gen3):
    assert await gen3.get_record(MISSING, deadline()) is None
    before = len(commons.hits)
    for unsafe in ("..", f"{PREFIX}/../../user/user", "", "a//b"):
        assert await gen3.get_record(unsafe, deadline()) is None
    assert len(commons.hits) == before  # never sent


async def test_get_records_in_chunks_mapped_to_the_ids_as_asked(commons, gen3):
    guids = [f.guid for f in commons.commons.dataset.files][:150]
    assert len(guids) == 150
    asked = guids[:50] + [g.split("/", 1)[1] for g in guids[50:100]] + [g.replace("/", ":") for g in guids[100:]]
    unknown = [MISSING, "nope", f"{PREFIX}:ffffffff-0000-4000-8000-000000000000"]
    found = await gen3.get_records(asked + unknown, deadline())
    assert set(found) == set(asked)
    for a, g in zip(asked, guids):
        assert found[a].id == g and found[a].document["did"] == g
    assert commons.count("POST", "/index/bulk/documents") == 2  # 153 ids, at most 100 per call


async def test_open_file_needs_no_credential(commons, gen3):
    f = commons.open_file()
    access = await gen3.access_url(f.guid, "s3", deadline())
    query = parse_qs(urlsplit(access.url).query)
    assert query["protocol"] == ["s3"] and access.headers == ()
    assert commons.commons.fence.verify_download(f.guid, {k: v[0] for k, v in query.items()}) > time.time()


async def test_access_errors(commons, gen3):
    f = commons.controlled_file()
    with pytest.raises(AccessDenied) as err:
        await gen3.access_url(f.guid, "s3", deadline())
    assert err.value.status == err.value.upstream_status == 401
    stranger = await commons.token(STRANGER)
    with pytest.raises(AccessDenied) as err:
        await gen3.access_url(f.guid, "s3", deadline(), authorization=f"Bearer {stranger}")
    assert err.value.status == 403 and STRANGER in err.value.detail and STRANGER not in err.value.message
    with pytest.raises(NotFoundUpstream) as missing:
        await gen3.access_url(MISSING, "s3", deadline())
    assert missing.value.status == 404
    with pytest.raises(NotFoundUpstream):
        await gen3.access_url(commons.open_file().guid, "ftp", deadline())


async def test_the_callers_authorization_is_passed_on(commons, gen3):
    f = commons.controlled_file()
    admin = await commons.token(ADMIN_USER)
    access = await gen3.access_url(f.guid.replace("/", ":"), "gs", deadline(), authorization=f"Bearer {admin}")
    assert parse_qs(urlsplit(access.url).query)["user"] == [ADMIN_USER]


async def test_static_bearer_credentials(commons, config):
    admin = await commons.token(ADMIN_USER)
    adapter = Gen3Adapter(member(commons.base_url, auth=MemberAuth("bearer", token=admin)), config, OPEN)
    try:
        access = await adapter.access_url(commons.controlled_file().guid, "s3", deadline())
    finally:
        await adapter.close()
    assert parse_qs(urlsplit(access.url).query)["user"] == [ADMIN_USER]


async def test_api_key_is_exchanged_once_and_reused(commons, config, tmp_path):
    path = await commons.credentials_file(tmp_path / "credentials.json", ADMIN_USER)
    adapter = Gen3Adapter(member(commons.base_url, auth=MemberAuth("api_key", credentials_file=str(path))), config,
                          OPEN)
    f = commons.controlled_file()
    try:
        first = await asyncio.gather(*(adapter.access_url(f.guid, "s3", deadline()) for _ in range(5)))
        later = [await adapter.access_url(f.guid, "gs", deadline()) for _ in range(3)]
        stranger = await commons.token(STRANGER)
        with pytest.raises(AccessDenied):  # a caller's own credential wins over the member's
            await adapter.access_url(f.guid, "s3", deadline(), authorization=f"Bearer {stranger}")
    finally:
        await adapter.close()
    assert all(parse_qs(urlsplit(a.url).query)["user"] == [ADMIN_USER] for a in first + later)
    assert commons.count("POST", "/user/credentials/api/access_token") == 1
    assert commons.count("GET", f"/user/data/download/{f.guid}") == 9


async def test_a_revoked_api_key_is_a_gateway_problem_not_the_callers(commons, config, tmp_path):
    path = await commons.credentials_file(tmp_path / "credentials.json", ADMIN_USER)
    key_id = json.loads(path.read_text())["key_id"]
    assert await commons.commons.fence.revoke_api_key(key_id)
    adapter = Gen3Adapter(member(commons.base_url, auth=MemberAuth("api_key", credentials_file=str(path))), config,
                          OPEN)
    try:
        with pytest.raises(MemberUnavailable) as err:
            await adapter.access_url(commons.controlled_file().guid, "s3", deadline())
        assert err.value.upstream_status == 401 and "API key" in err.value.message
        nowhere = MemberAuth("api_key", credentials_file=str(tmp_path / "x"))
        missing = Gen3Adapter(member(commons.base_url, auth=nowhere), config, OPEN)
        with pytest.raises(MemberUnavailable) as err:
            await missing.access_url(commons.controlled_file().guid, "s3", deadline())
        assert str(tmp_path) not in err.value.message
        await missing.close()
    finally:
        await adapter.close()


async def test_probe(commons, gen3):
    probe = await gen3.probe(5.0)
    assert probe.ok and probe.status == 200 and probe.detail == "Healthy" and probe.latency_ms > 0


async def test_probe_never_raises(config):
    async with serve(faults.hanging()) as server:
        adapter = Gen3Adapter(member(server.url), config, OPEN)
        start = time.monotonic()
        probe = await adapter.probe(0.5)
        assert time.monotonic() - start < 1.0
        await adapter.close()
    assert not probe.ok and probe.status is None and probe.detail == "timed out"  # public: the health route
    async with serve(faults.flaky(100)) as server:
        adapter = Gen3Adapter(member(server.url), config, OPEN)
        probe = await adapter.probe(2.0)
        await adapter.close()
    assert not probe.ok and probe.status == 503 and server.count() == 1
    adapter = Gen3Adapter(member(f"http://127.0.0.1:{faults.free_port()}"), config, OPEN)
    probe = await adapter.probe(2.0)
    await adapter.close()
    assert not probe.ok and probe.detail == "unreachable"


async def test_malformed_member_answers(config):
    async with serve(faults.not_json()) as server:
        adapter = Gen3Adapter(member(server.url), config, OPEN)
        with pytest.raises(MemberUnavailable, match="indexd record: sent a malformed answer") as err:
            await adapter.get_record(MISSING, deadline())
        assert "not valid JSON" in err.value.detail and "Bad gateway" in err.value.detail
        with pytest.raises(MemberUnavailable):
            await adapter.get_records([MISSING], deadline())
        await adapter.close()
    async with serve(faults.flaky(0, body={"records": []})) as server:  # not indexd's list
        adapter = Gen3Adapter(member(server.url), config, OPEN)
        with pytest.raises(MemberUnavailable, match="indexd bulk lookup: sent a malformed answer") as err:
            await adapter.get_records([MISSING], deadline())
        assert "list of records" in err.value.detail
        with pytest.raises(MemberUnavailable, match="did"):
            await adapter.get_record(MISSING, deadline())
        await adapter.close()
