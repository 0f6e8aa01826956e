"""fence-compatible ``GET /user/data/download/{guid}`` and WTS ``external_oidc`` through the gateway."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from refcommons.authz.default_policy import RESEARCHER_USER

DOWNLOAD = "/user/data/download/"


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def assert_error(r, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status_code"] == status and isinstance(body["error"], str) and body["error"]


@pytest.mark.parametrize("member", ["gen3", "drs"])
async def test_open_data_needs_no_token(federation, member):
    commons = getattr(federation, member)
    record = await federation.open_record(commons)
    r = await federation.gateway.client.get(DOWNLOAD + record["did"])
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["url"]
    url = r.json()["url"]
    assert url.startswith(commons.base_url + "/storage/")
    assert query(url)["protocol"] == ["s3"]  # the object's first access method
    assert await federation.fetch_md5(url) == record["hashes"]["md5"]


@pytest.mark.parametrize("member", ["gen3", "drs"])
async def test_controlled_data_401_without_token_200_with_the_members_token(federation, member):
    commons = getattr(federation, member)
    record = await federation.controlled_record(commons)
    r = await federation.gateway.client.get(DOWNLOAD + record["did"])
    assert_error(r, 401)
    token = await federation.token(commons)
    r = await federation.gateway.client.get(DOWNLOAD + record["did"], headers={"Authorization": f"bearer {token}"})
    assert r.status_code == 200, r.text
    assert await federation.fetch_md5(r.json()["url"]) == record["hashes"]["md5"]


async def test_a_user_without_the_grant_gets_the_members_403(federation):
    commons = federation.gen3
    controlled = [r.path for r in commons.commons.dataset.authz_resources() if r.access == "controlled"]
    first_study = controlled[0].rsplit("/", 1)[-1].split(".")[0]  # the researcher's (consent group c1 only)
    others = {p for p in controlled if not p.rsplit("/", 1)[-1].startswith(first_study + ".")}
    record = next(r for r in await federation.records(commons) if r["authz"][0] in others)
    token = await federation.token(commons, RESEARCHER_USER)
    r = await federation.gateway.client.get(DOWNLOAD + record["did"], headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 403)


async def test_protocol_and_expires_in(federation):
    record = await federation.open_record(federation.gen3)
    before = time.time()
    r = await federation.gateway.client.get(DOWNLOAD + record["did"], params={"protocol": "gs", "expires_in": "60"})
    assert r.status_code == 200, r.text
    q = query(r.json()["url"])
    assert q["protocol"] == ["gs"]
    assert before + 55 <= int(q["expires"][0]) <= time.time() + 61
    r = await federation.gateway.client.get(DOWNLOAD + record["did"], params={"protocol": "ftp"})
    assert_error(r, 404)
    for bad in ("soon", "0", "-5"):
        r = await federation.gateway.client.get(DOWNLOAD + record["did"], params={"expires_in": bad})
        assert_error(r, 400)


async def test_other_id_forms_and_unknown_objects(federation):
    record = await federation.open_record(federation.drs)
    acc = record["did"].split("/", 1)[1]
    for guid in (acc, "dg.BBB2%2F" + acc):
        r = await federation.gateway.client.get(DOWNLOAD + guid)
        assert r.status_code == 200, (guid, r.text)
    for guid in (f"dg.AAA1/{uuid.uuid4()}", f"dg.ZZZ9/{uuid.uuid4()}", str(uuid.uuid4())):
        assert_error(await federation.gateway.client.get(DOWNLOAD + guid), 404)


@pytest.mark.parametrize("path", ["/wts/external_oidc/", "/wts/external_oidc"])
async def test_wts_lists_no_external_providers(federation, path):
    r = await federation.gateway.client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json() == {"providers": []}
