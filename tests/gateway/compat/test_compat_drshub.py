"""DRSHub-compatible ``POST /api/v4/drs/resolve`` over a real federation (a gen3 and a DRS member)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.drs.drshub import ALL_FIELDS, DEFAULT_FIELDS, UnknownField, instant, requested_fields
from gateway.web.errors import error_body

RESOLVE = "/api/v4/drs/resolve"


def compact(did: str) -> str:
    prefix, _, acc = did.partition("/")
    return f"drs://{prefix}:{acc}"


def gs_url(record: dict) -> str:
    return next(u for u in record["urls"] if u.startswith("gs://"))


def assert_drshub_error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"message", "statusCode"} and body["statusCode"] == status and body["message"]
    return body


async def test_default_fields_of_a_gen3_members_object(federation):
    record = await federation.open_record(federation.gen3)
    r = await federation.gateway.client.post(RESOLVE, json={"url": compact(record["did"])})
    assert r.status_code == 200, r.text
    got = r.json()
    assert list(got) == list(DEFAULT_FIELDS)  # accessUrl and bondProvider only on request
    drs = (await federation.gateway.client.get(f"/ga4gh/drs/v1/objects/{record['did']}")).json()
    gs = gs_url(record)
    bucket, _, name = gs.removeprefix("gs://").partition("/")
    assert got == {
        "bucket": bucket, "contentType": drs["mime_type"], "fileName": record["file_name"], "gsUri": gs,
        "hashes": record["hashes"], "localizationPath": None, "name": name, "size": record["size"],
        "timeCreated": record["created_date"], "timeUpdated": record["updated_date"],
        "googleServiceAccount": None,
    }
    assert set(got["hashes"]) == {"md5", "sha256"}  # indexd's spelling, not DRS's sha-256
    assert got["timeCreated"].endswith("Z")


async def test_every_field_with_a_signed_url_for_controlled_data(federation):
    record = await federation.controlled_record(federation.gen3)
    token = await federation.token(federation.gen3)
    asked = list(reversed(ALL_FIELDS))
    r = await federation.gateway.client.post(
        RESOLVE, json={"url": compact(record["did"]), "fields": asked}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert list(got) == asked  # exactly the fields asked, in that order
    assert got["bondProvider"] == "a"  # the member whose fence issues the token
    assert got["googleServiceAccount"] is None and got["localizationPath"] is None
    assert got["size"] == record["size"] and got["hashes"]["md5"] == record["hashes"]["md5"]
    access = got["accessUrl"]
    assert set(access) == {"url", "headers"} and access["headers"] is None
    assert parse_qs(urlsplit(access["url"]).query)["protocol"] == ["s3"]  # no platform asked: the first method
    assert await federation.fetch_md5(access["url"]) == record["hashes"]["md5"]


async def test_drs_member_object_and_its_signed_url(federation):
    record = await federation.controlled_record(federation.drs)
    token = await federation.token(federation.drs)
    fields = ["accessUrl", "bondProvider", "fileName", "gsUri", "bucket", "name", "hashes", "size",
              "timeCreated", "contentType"]
    r = await federation.gateway.client.post(
        RESOLVE, json={"url": compact(record["did"]), "fields": fields}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fileName"] == record["file_name"] and got["size"] == record["size"]
    assert got["hashes"] == record["hashes"]
    assert got["timeCreated"] == instant(record["created_date"])
    # the DRS member lists its methods by access id only: no storage URL to show
    assert got["gsUri"] is None and got["bucket"] is None and got["name"] is None
    assert got["bondProvider"] is None  # a plain DRS member names no fence of its own
    assert await federation.fetch_md5(got["accessUrl"]["url"]) == record["hashes"]["md5"]
    drs_token_elsewhere = await federation.token(federation.gen3)
    r = await federation.gateway.client.post(
        RESOLVE, json={"url": compact(record["did"]), "fields": ["accessUrl"]},
        headers={"Authorization": f"Bearer {drs_token_elsewhere}"},
    )
    assert r.status_code in (401, 403), r.text  # another commons' token means nothing to this member


@pytest.mark.parametrize("platform, protocol", [("gs", "gs"), ("s3", "s3"), ("azure", "s3"), (None, "s3")])
async def test_cloud_platform_chooses_the_access_method(federation, platform, protocol):
    record = await federation.open_record(federation.gen3)
    body = {"url": compact(record["did"]), "fields": ["accessUrl"], "cloudPlatform": platform}
    r = await federation.gateway.client.post(RESOLVE, json=body)
    assert r.status_code == 200, r.text
    url = r.json()["accessUrl"]["url"]
    assert parse_qs(urlsplit(url).query)["protocol"] == [protocol]  # azure: none here, so the first method
    assert await federation.fetch_md5(url) == record["hashes"]["md5"]


async def test_without_a_token_controlled_data_fails_except_for_gs(federation):
    record = await federation.controlled_record(federation.gen3)
    url = compact(record["did"])
    r = await federation.gateway.client.post(RESOLVE, json={"url": url, "fields": ["accessUrl"]})
    assert "401" in assert_drshub_error(r, 401)["message"]  # the member's 401, passed through
    r = await federation.gateway.client.post(RESOLVE, json={"url": url, "fields": ["accessUrl", "gsUri"],
                                                            "cloudPlatform": "gs"})
    assert r.status_code == 200, r.text  # as DRSHub: a gs URL that cannot be signed is not fatal
    assert r.json() == {"accessUrl": None, "gsUri": gs_url(record)}


async def test_forced_access_url_header_is_accepted(federation):
    record = await federation.open_record(federation.drs)
    r = await federation.gateway.client.post(
        RESOLVE, json={"url": compact(record["did"]), "fields": ["accessUrl"]},
        headers={"drshub-force-access-url": "true", "x-user-project": "billing-project"},
    )
    assert r.status_code == 200, r.text
    assert await federation.fetch_md5(r.json()["accessUrl"]["url"]) == record["hashes"]["md5"]


async def test_other_spellings_of_the_uri(federation):
    record = await federation.open_record(federation.gen3)
    acc = record["did"].split("/", 1)[1]
    for url in (f"drs://dg.aaa1:{acc}", f"dos://dg.AAA1/{acc}", f"drs://dg.AAA1%2F{acc}",
                f"drs://{federation.gateway.hostname}/dg.AAA1%2F{acc}"):
        r = await federation.gateway.client.post(RESOLVE, json={"url": url, "fields": ["size"]})
        assert r.status_code == 200, (url, r.text)
        assert r.json() == {"size": record["size"]}


async def test_only_a_service_account_asked(federation):
    record = await federation.open_record(federation.gen3)
    r = await federation.gateway.client.post(RESOLVE, json={"url": compact(record["did"]),
                                                            "fields": ["googleServiceAccount"]})
    assert r.status_code == 200 and r.json() == {"googleServiceAccount": None}


@pytest.mark.parametrize("body", [
    {"url": "drs://dg.AAA1:x", "fields": ["accessUrl", "signedUrl"]},
    {"url": "drs://dg.AAA1:x", "fields": "size"},
    {"url": "drs://dg.AAA1:x", "cloudPlatform": "gcp"},
    {"fields": ["size"]},
    {"url": ""},
    {"url": 42},
    ["drs://dg.AAA1:x"],
])
async def test_bad_bodies_are_400(federation, body):
    r = await federation.gateway.client.post(RESOLVE, json=body)
    assert_drshub_error(r, 400)


async def test_unknown_field_names_the_supported_ones(federation):
    r = await federation.gateway.client.post(RESOLVE, json={"url": "drs://dg.AAA1:x", "fields": ["nope"]})
    message = assert_drshub_error(r, 400)["message"]
    assert "'nope'" in message and all(f in message for f in ALL_FIELDS)


@pytest.mark.parametrize("url", ["https://example.org/ga4gh/drs/v1/objects/x", "dg.AAA1/x", "drs://",
                                 "drs:///x", "drs://dg.AAA1:", "drs://host.example/x?y=1"])
async def test_bad_urls_are_400(federation, url):
    r = await federation.gateway.client.post(RESOLVE, json={"url": url})
    assert_drshub_error(r, 400)


async def test_not_json_is_an_error_in_drshub_shape(federation):
    r = await federation.gateway.client.post(RESOLVE, content=b"{", headers={"content-type": "application/json"})
    assert_drshub_error(r, 400)
    r = await federation.gateway.client.post(RESOLVE, content=b"url=x", headers={"content-type": "text/plain"})
    assert_drshub_error(r, 415)
    r = await federation.gateway.client.get(RESOLVE)
    assert_drshub_error(r, 405)


async def test_unknown_objects_are_404_passed_through(federation):
    for url in (f"drs://dg.AAA1:{uuid.uuid4()}", f"drs://dg.BBB2:{uuid.uuid4()}", f"drs://dg.ZZZ9:{uuid.uuid4()}"):
        r = await federation.gateway.client.post(RESOLVE, json={"url": url})
        assert_drshub_error(r, 404)


async def test_a_stopped_member_is_a_5xx_in_drshub_shape(federation):
    record = await federation.open_record(federation.drs)
    await federation.drs.stop()
    r = await federation.gateway.client.post(RESOLVE, json={"url": compact(record["did"])})
    assert r.status_code in (502, 503, 504), r.text
    assert_drshub_error(r, r.status_code)


def test_field_selection_and_times_are_pure():
    assert requested_fields(None) == list(DEFAULT_FIELDS) == requested_fields([])
    assert requested_fields(["size", "size", "hashes"]) == ["size", "hashes"]
    with pytest.raises(UnknownField):
        requested_fields(["size", "Size"])
    assert instant("2024-02-21T09:06:21+02:00") == "2024-02-21T07:06:21Z"
    assert instant("2024-02-21T09:06:21.5Z") == "2024-02-21T09:06:21.500Z"
    assert instant("yesterday") is None and instant(None) is None
    assert error_body("/api/v4/drs/resolve", 404, "x") == {"message": "x", "statusCode": 404}
    assert error_body("/ga4gh/drs/v1/objects/x", 404, "x") == {"msg": "x", "status_code": 404}
    assert error_body("/index/x", 404, "x") == {"error": "x", "status_code": 404}
