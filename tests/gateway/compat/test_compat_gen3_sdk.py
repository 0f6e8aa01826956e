"""The unmodified gen3 SDK pointed at the gateway: ``Gen3Index`` reads and ``Gen3File`` signed URLs across
members. The SDK is synchronous (requests), so its calls run in a thread while the servers serve."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from gen3.auth import Gen3Auth
from gen3.file import Gen3File
from gen3.index import Gen3Index

from refcommons.authz.default_policy import ADMIN_USER

NOBODY = "nobody@refcommons.example"


@pytest.fixture(autouse=True)
def sdk_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the SDK caches tokens under $HOME


async def test_gen3_index_reads_every_member_through_the_gateway(federation):
    index = Gen3Index(federation.gateway.base_url)
    assert index.endpoint == federation.gateway.base_url + "/index"  # http://127.0.0.1 gets /index appended
    a = await federation.open_record(federation.gen3)
    b = await federation.controlled_record(federation.drs)
    assert await asyncio.to_thread(index.is_healthy) is True
    assert (await asyncio.to_thread(index.get_version))["version"]
    assert await asyncio.to_thread(index.get_record, a["did"]) == a
    from_drs = await asyncio.to_thread(index.get_record, b["did"])
    assert from_drs["did"] == b["did"] and from_drs["hashes"] == b["hashes"] and from_drs["size"] == b["size"]
    assert await asyncio.to_thread(index.get_record, f"dg.AAA1/{uuid.uuid4()}") is None
    found = await asyncio.to_thread(index.get_records, [a["did"], f"dg.BBB2/{uuid.uuid4()}", b["did"]])
    assert [r["did"] for r in found] == [a["did"], b["did"]]


async def test_gen3_index_is_unhealthy_when_status_is_not_healthy(federation):
    # the same check against a path that is not indexd's: proves is_healthy really reads the body
    index = Gen3Index(federation.gateway.base_url + "/wts")
    assert await asyncio.to_thread(index.is_healthy) is False


def _files(gateway_url: str, token: str) -> Gen3File:
    """Gen3File on the gateway, carrying an access token minted by a member commons."""
    return Gen3File(auth_provider=Gen3Auth(endpoint=gateway_url, refresh_file=f"accesstoken:///{token}"))


@pytest.mark.parametrize("member", ["gen3", "drs"])
async def test_gen3_file_presigned_url_for_controlled_data(federation, member):
    commons = getattr(federation, member)
    record = await federation.controlled_record(commons)
    files = _files(federation.gateway.base_url, await federation.token(commons, ADMIN_USER))
    signed = await asyncio.to_thread(files.get_presigned_url, record["did"])
    assert await federation.fetch_md5(signed["url"]) == record["hashes"]["md5"]
    signed = await asyncio.to_thread(files.get_presigned_url, record["did"], "gs")
    assert parse_qs(urlsplit(signed["url"]).query)["protocol"] == ["gs"]
    assert await federation.fetch_md5(signed["url"]) == record["hashes"]["md5"]


async def test_gen3_file_is_refused_without_the_grant(federation):
    record = await federation.controlled_record(federation.gen3)
    files = _files(federation.gateway.base_url, await federation.token(federation.gen3, NOBODY))
    with pytest.raises(Exception) as exc:
        await asyncio.to_thread(files.get_presigned_url, record["did"])
    assert "403" in str(exc.value)
