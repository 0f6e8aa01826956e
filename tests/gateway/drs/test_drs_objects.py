"""The gateway's GA4GH DRS API over a real federation (tests/support/drs_federation.py): single objects in every
id form, members' objects re-homed on the gateway, expand and POST bodies, unknown and invalid ids, OPTIONS, and
service-info."""

from __future__ import annotations

from urllib.parse import quote

import jwt
import pytest
from drs_federation import (
    BULK_LIMIT,
    DRS,
    MISSING,
    assert_drs_error,
    controlled_file,
    get_object,
    no_nulls,
    open_file,
    token,
)

from gateway.wire.drs import Authorizations, DrsObject, ServiceInfo

pytestmark = pytest.mark.asyncio(loop_scope="module")


# --- single objects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["a", "b", "c", "ref"])
async def test_every_id_form_gives_the_same_spec_clean_object(fed, which):
    commons = fed.ref if which == "ref" else getattr(fed, which)
    f = controlled_file(commons)
    prefix, uuid = f.guid.split("/", 1)
    gw = fed.gateway.hostname
    forms = [
        f.guid, quote(f.guid, safe=""), uuid, f"{prefix.lower()}/{uuid}", f"{prefix.upper()}%2F{uuid}",
        f"drs://{prefix}:{uuid}", quote(f"drs://{prefix}:{uuid}", safe=""), f"drs://{prefix.lower()}:{uuid}",
        f"drs://{prefix}/{uuid}", f"dos://{prefix}:{uuid}", quote(f"drs://{prefix}:{f.guid}", safe=""),
        f"drs://{gw}/{quote(f.guid, safe='')}", quote(f"drs://{gw}/{quote(f.guid, safe='')}", safe=""),
    ]
    if which != "ref":  # a standalone member answers for its own DRS hostname too
        forms.append(quote(f"drs://{commons.hostname}/{quote(f.guid, safe='')}", safe=""))
    bodies = {}
    for form in forms:
        r = await get_object(fed, form)
        assert r.status_code == 200, (form, r.text)
        assert r.headers["content-type"].startswith("application/json")
        bodies[form] = r.json()
    first = bodies[f.guid]
    assert all(body == first for body in bodies.values()), {k: v["id"] for k, v in bodies.items()}
    assert no_nulls(first)
    DrsObject.model_validate(first)
    assert first["id"] == f.guid and first["name"] == f.file_name and first["size"] == f.size
    assert first["self_uri"] == f"drs://{gw}/{quote(f.guid, safe='')}"
    assert {(c["type"], c["checksum"]) for c in first["checksums"]} >= {("md5", f.md5), ("sha-256", f.sha256)}
    assert first["created_time"].endswith("Z")
    assert [m["access_id"] for m in first["access_methods"]] == ["s3", "gs"]
    assert all(m["type"] == m["access_id"] for m in first["access_methods"])

    # the returned id and self_uri lead back to the same object through the gateway
    for again in (first["id"], quote(first["id"], safe=""), first["self_uri"].rsplit("/", 1)[1],
                  quote(first["self_uri"], safe=""), first["self_uri"]):
        r = await get_object(fed, again)
        assert r.status_code == 200 and r.json() == first, again


async def test_drs_member_objects_are_rehomed_on_the_gateway(fed):
    """A DRS member's own self_uri points at the member; the gateway's points at the gateway."""
    f = open_file(fed.b)
    own = (await fed.b.client.get(f"{DRS}/objects/{f.guid}")).json()
    ours = (await get_object(fed, f.guid)).json()
    assert own["self_uri"].startswith(f"drs://{fed.b.hostname}/")
    assert ours["self_uri"] == f"drs://{fed.gateway.hostname}/{quote(f.guid, safe='')}"
    assert {k: v for k, v in ours.items() if k != "self_uri"} == {k: v for k, v in own.items() if k != "self_uri"}


async def test_expand_bodies_and_post(fed):
    f = open_file(fed.a, 1)
    plain = (await get_object(fed, f.guid)).json()
    for value in ("True", "true", "false", "FALSE", "1", "no"):
        r = await get_object(fed, f.guid, params={"expand": value})
        assert r.status_code == 200 and r.json() == plain, value
    assert_drs_error(await get_object(fed, f.guid, params={"expand": "maybe"}), 400)
    r = await fed.client.request("GET", f"{DRS}/objects/{f.guid}", json={"expand": "not even a bool"})
    assert r.status_code == 200 and r.json() == plain  # a body on a GET is ignored (the compliance suite sends {})
    for body in ({"expand": False, "passports": ["aaa.bbb.ccc"]}, {"passports": []}, {}):
        r = await fed.client.post(f"{DRS}/objects/{f.guid}", json=body)
        assert r.status_code == 200 and r.json() == plain, body
    assert (await fed.client.post(f"{DRS}/objects/{quote(f.guid, safe='')}")).json() == plain
    assert_drs_error(await fed.client.post(f"{DRS}/objects/{f.guid}", json={"expand": "sometimes"}), 400)
    assert_drs_error(await fed.client.post(f"{DRS}/objects/{f.guid}", json={"passports": "one"}), 400)
    assert_drs_error(await fed.client.post(f"{DRS}/objects/{f.guid}", content=b"{",
                                           headers={"Content-Type": "application/json"}), 400)


async def test_unknown_and_invalid_ids(fed):
    body = assert_drs_error(await get_object(fed, f"dg.FA01/{MISSING}"), 404)
    assert MISSING in body["msg"]
    assert_drs_error(await get_object(fed, f"dg.ZZ99/{MISSING}"), 404)
    assert_drs_error(await get_object(fed, MISSING), 404)  # asked of every member
    assert_drs_error(await get_object(fed, f"drs://unknown.example/{MISSING}"), 404)
    assert_drs_error(await get_object(fed, "x" * 3000), 400)
    assert_drs_error(await fed.client.get(f"{DRS}/objects"), 405)
    assert_drs_error(await fed.client.get(f"{DRS}/nowhere"), 404)
    assert_drs_error(await fed.client.request("OPTIONS", f"{DRS}/objects"), 400)
    for garbage in ("a%20b", quote("drs://", safe=""), "%25%25"):
        assert_drs_error(await get_object(fed, garbage), 400)
    assert_drs_error(await fed.client.request("OPTIONS", f"{DRS}/objects/dg.FB02%2F{MISSING}"), 404)
    assert_drs_error(await fed.client.get(f"{DRS}/objects/dg.FB02/{MISSING}/access/s3"), 404)


async def test_options_says_how_to_authorize_through_the_gateway(fed):
    cases = [
        (controlled_file(fed.a), ["BearerAuth"], [f"{fed.a.base_url}/user"]),
        (controlled_file(fed.b), ["BearerAuth"], None),  # a DRS member names no issuer
        (controlled_file(fed.c), ["None"], None),  # the gateway brings its own (here: no) credentials
        (controlled_file(fed.ref), ["BearerAuth"], [f"{fed.gateway.base_url}/refcommons/user"]),
    ]
    for f, types, issuers in cases:
        r = await fed.client.request("OPTIONS", f"{DRS}/objects/{quote(f.guid, safe='')}")
        assert r.status_code == 200, r.text
        Authorizations.model_validate(r.json())
        expected = {"drs_object_id": f.guid, "supported_types": types}
        if issuers:
            expected["bearer_auth_issuers"] = issuers
        assert r.json() == expected
    r = await fed.client.request("OPTIONS", f"{DRS}/objects/{controlled_file(fed.a).guid.split('/')[1]}")
    assert r.json()["drs_object_id"] == controlled_file(fed.a).guid
    # the issuer named is the one in the member's own tokens, so a client can pick the right token
    for commons, (_, _, issuers) in ((fed.a, cases[0]), (fed.ref, cases[3])):
        claims = jwt.decode((await token(commons)).split()[1], options={"verify_signature": False})
        assert [claims["iss"]] == issuers


# --- service-info -------------------------------------------------------------------------------------------


async def test_service_info(fed):
    r = await fed.client.get(f"{DRS}/service-info")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert no_nulls(body)
    info = ServiceInfo.model_validate(body)
    assert (info.type.group, info.type.artifact, info.type.version) == ("org.ga4gh", "drs", "1.5.0")
    assert body["maxBulkRequestLength"] == BULK_LIMIT
    assert body["drs"]["maxBulkRequestLength"] == BULK_LIMIT
    assert {"id", "name", "organization", "version"} <= set(body)
