"""The DRS adapter against a reference commons' DRS endpoint (bulk advertised) and against small DRS
servers without bulk, or answering bulk calls with indexd's key."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import faults
import pytest
from adapter_support import PREFIX, member
from faults import serve

from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN
from gateway.core.errors import AccessDenied, NotFoundUpstream
from gateway.core.member import MemberAuth
from gateway.members.drs import API, DrsAdapter, bulk_length
from gateway.members.protocols import MemberAdapter
from refcommons.authz.default_policy import ADMIN_USER

MISSING = f"{PREFIX}/00000000-0000-4000-8000-000000000000"
OBJECTS = {
    f"obj-{n}": {"id": f"obj-{n}", "self_uri": f"drs://plain.example/obj-{n}", "size": n,
                 "created_time": "2024-01-01T00:00:00Z", "checksums": [{"type": "md5", "checksum": "0" * 32}],
                 "access_methods": [{"type": "s3", "access_id": "s3"}]}
    for n in range(15)
}


@pytest.fixture
async def drs(commons, config):
    adapter = DrsAdapter(member(commons.base_url, kind="drs"), config, OPEN)
    yield adapter
    await adapter.close()


def deadline() -> Deadline:
    return Deadline.after(10)


def test_bulk_length_from_service_info():
    assert bulk_length({"drs": {"maxBulkRequestLength": 50}, "maxBulkRequestLength": 7}) == 50
    assert bulk_length({"maxBulkRequestLength": 7}) == 7
    assert bulk_length({"maxBulkRequestLength": 10**9}) == 1000
    for none in (None, {}, {"maxBulkRequestLength": True}, {"maxBulkRequestLength": "5"}, {"drs": []}):
        assert bulk_length(none) == 0  # type: ignore[arg-type]


async def test_it_is_a_member_adapter(drs):
    assert isinstance(drs, MemberAdapter)


async def test_get_record(commons, drs):
    guid = commons.commons.dataset.files[0].guid
    for asked in (guid, guid.split("/", 1)[1], guid.replace("/", ":")):
        record = await drs.get_record(asked, deadline())
        assert record is not None and (record.id, record.format) == (guid, "drs")
        assert record.document["self_uri"].endswith(guid.replace("/", "%2F"))
    assert await drs.get_record(MISSING, deadline()) is None
    assert await drs.get_record("..", deadline()) is None


async def test_get_records_uses_bulk_in_advertised_chunks(commons, drs):
    guids = [f.guid for f in commons.commons.dataset.files][:150]
    asked = guids[:100] + [g.split("/", 1)[1] for g in guids[100:]]
    found = await drs.get_records([*asked, MISSING, "nope"], deadline())
    assert set(found) == set(asked)
    assert all(found[a].id == g for a, g in zip(asked, guids))
    again = await drs.get_records(guids[:3], deadline())
    assert len(again) == 3
    assert commons.count("GET", f"{API}/service-info") == 1  # fetched once, then kept
    assert commons.count("POST", f"{API}/objects") == 3  # 152 ids in chunks of 100, then 3
    assert not [p for m, p in commons.hits if m == "GET" and p.startswith(f"{API}/objects/")]


async def test_access(commons, drs, config, tmp_path):
    f = commons.open_file()
    access = await drs.access_url(f.guid, "s3", deadline())
    assert parse_qs(urlsplit(access.url).query)["protocol"] == ["s3"]
    with pytest.raises(AccessDenied) as err:
        await drs.access_url(commons.controlled_file().guid, "s3", deadline())
    assert err.value.status == 401
    with pytest.raises(NotFoundUpstream):
        await drs.access_url(f.guid, "ftp", deadline())
    with pytest.raises(NotFoundUpstream):
        await drs.access_url(MISSING, "s3", deadline())

    path = await commons.credentials_file(tmp_path / "credentials.json", ADMIN_USER)
    own = DrsAdapter(member(commons.base_url, kind="drs", auth=MemberAuth("api_key", credentials_file=str(path))),
                     config, OPEN)
    controlled = commons.controlled_file()
    try:
        urls = await asyncio.gather(*(own.access_url(controlled.guid, "gs", deadline()) for _ in range(4)))
    finally:
        await own.close()
    assert all(parse_qs(urlsplit(a.url).query)["user"] == [ADMIN_USER] for a in urls)
    assert commons.count("POST", "/user/credentials/api/access_token") == 1


async def test_probe_reads_service_info(commons, drs):
    probe = await drs.probe(5.0)
    assert probe.ok and probe.status == 200
    assert probe.info["maxBulkRequestLength"] == probe.info["drs"]["maxBulkRequestLength"] == 100
    assert drs.service_info == probe.info
    await drs.get_records([commons.commons.dataset.files[0].guid], deadline())
    assert commons.count("GET", f"{API}/service-info") == 1  # the probe's answer is reused


async def test_without_bulk_it_fans_out_bounded_parallel_gets(config):
    asked = [*OBJECTS, *(f"missing-{n}" for n in range(5))]
    async with serve(faults.plain_drs(OBJECTS)) as server:
        adapter = DrsAdapter(member(server.url, kind="drs"), config, OPEN)
        found = await adapter.get_records(asked, deadline())
        await adapter.close()
    assert set(found) == set(OBJECTS) and all(found[i].id == i for i in OBJECTS)
    assert server.count(f"{API}/objects/", "GET") == len(asked)
    assert server.count(f"{API}/objects", "POST") == 0 and server.count(f"{API}/service-info") == 1
    peak = server.app[faults.STATE]["peak"]
    assert 2 <= peak <= config.bulk_concurrency


async def test_indexd_style_bulk_answers_and_unlisted_ids(config):
    known = list(OBJECTS)
    asked = known + [f"missing-{n}" for n in range(10)]
    async with serve(faults.plain_drs(OBJECTS, bulk_key="resolved_drs_objects")) as server:
        adapter = DrsAdapter(member(server.url, kind="drs"), config, OPEN)
        found = await adapter.get_records(asked, deadline())
        await adapter.close()
    assert set(found) == set(known)
    assert server.count(f"{API}/objects", "POST") == 3  # 25 ids, 10 at a time
    # ids the bulk answer neither resolved nor listed as 404 are looked up one by one
    gets = [p for m, p, _ in server.hits if m == "GET" and p.startswith(f"{API}/objects/")]
    assert sorted(gets) == sorted(f"{API}/objects/missing-{n}" for n in range(10))


async def test_access_headers_and_member_bearer(config):
    async with serve(faults.plain_drs(OBJECTS)) as server:
        anonymous = DrsAdapter(member(server.url, kind="drs"), config, OPEN)
        with pytest.raises(AccessDenied) as err:
            await anonymous.access_url("obj-1", "s3", deadline())
        assert err.value.status == 401 and err.value.message == "DRS access URL: answered HTTP 401"
        assert "who are you?" in err.value.detail  # the member's words: for the log only
        await anonymous.close()
        bearer = DrsAdapter(member(server.url, kind="drs", auth=MemberAuth("bearer", token="s3cr3t")), config, OPEN)
        access = await bearer.access_url("obj-1", "s3", deadline())
        with pytest.raises(NotFoundUpstream):
            await bearer.access_url("obj-99", "s3", deadline())
        await bearer.close()
    assert access.url == "https://bucket.example/obj-1" and access.headers == ("X-Signed: yes",)


async def test_probe_of_a_member_that_is_down(config):
    async with serve(faults.not_json()) as server:
        adapter = DrsAdapter(member(server.url, kind="drs"), config, OPEN)
        probe = await adapter.probe(2.0)
        await adapter.close()
    assert not probe.ok and probe.detail == "DRS service-info: sent a malformed answer"  # public: the health route
