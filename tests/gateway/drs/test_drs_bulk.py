"""Bulk requests of the gateway's DRS API over a real federation (tests/support/drs_federation.py): objects,
authorizations and signed URLs across members, limits and bad bodies, failures in request order, and each member
asked once."""

from __future__ import annotations

from urllib.parse import quote

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

from gateway.wire.drs import BulkAccessResponse, BulkAuthorizationsResponse, BulkObjectsResponse

pytestmark = pytest.mark.asyncio(loop_scope="module")


# --- bulk ---------------------------------------------------------------------------------------------------


async def test_bulk_objects_across_members(fed):
    fa, fb, fc, fr = open_file(fed.a, 2), controlled_file(fed.b), open_file(fed.c, 1), open_file(fed.ref)
    fa2 = controlled_file(fed.a, study=1)
    gw = fed.gateway.hostname
    ids = [
        fa.guid, fb.guid, fc.guid.split("/", 1)[1], fr.guid, f"drs://{gw}/{quote(fa2.guid, safe='')}",
        f"drs://dg.FB02:{fb.guid.split('/', 1)[1]}", "dg.EP01/obj-1",
        f"dg.FA01/{MISSING}", f"dg.ZZ99/{MISSING}", "", "not an id", "drs://",
    ]
    r = await fed.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids, "passports": ["a.b.c"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"summary", "unresolved_drs_objects", "resolved_drs_object"} and no_nulls(body)
    BulkObjectsResponse.model_validate(body)
    assert body["summary"] == {"requested": 12, "resolved": 7, "unresolved": 5}
    assert body["unresolved_drs_objects"] == [
        {"error_code": 400, "object_ids": ["", "not an id", "drs://"]},
        {"error_code": 404, "object_ids": [f"dg.FA01/{MISSING}", f"dg.ZZ99/{MISSING}"]},
    ]
    resolved = body["resolved_drs_object"]
    assert [o["id"] for o in resolved] == [fa.guid, fb.guid, fc.guid, fr.guid, fa2.guid, fb.guid, "dg.EP01/obj-1"]
    for raw, obj in zip(ids, resolved):
        single = await get_object(fed, quote(raw, safe=""))
        assert single.status_code == 200 and single.json() == obj, raw
    r = await fed.client.post(f"{DRS}/objects", params={"expand": "True"}, json={"bulk_object_ids": [fa.guid]})
    assert r.status_code == 200 and r.json()["resolved_drs_object"] == resolved[:1]
    assert_drs_error(await fed.client.post(f"{DRS}/objects", params={"expand": "maybe"},
                                           json={"bulk_object_ids": [fa.guid]}), 400)


async def test_bulk_limits_and_bad_bodies(fed):
    c = fed.client
    ok = await c.post(f"{DRS}/objects", json={"bulk_object_ids": [f"dg.FA01/{MISSING}"] * BULK_LIMIT})
    assert ok.status_code == 200 and ok.json()["summary"] == {"requested": BULK_LIMIT, "resolved": 0,
                                                             "unresolved": BULK_LIMIT}
    too_many = [f"dg.FA01/{i}" for i in range(BULK_LIMIT + 1)]
    assert str(BULK_LIMIT) in assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": too_many}),
                                               413)["msg"]
    assert_drs_error(await c.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": too_many}), 413)
    pairs = [{"bulk_object_id": "dg.FA01/x", "bulk_access_ids": ["s3", "gs"]}] * (BULK_LIMIT // 2 + 1)
    assert_drs_error(await c.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": pairs}), 413)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": []}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"ids": ["x"]}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": [1, 2]}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", content=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert_drs_error(await c.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": "x", "bulk_access_ids": []}]}), 400)


async def test_bulk_options(fed):
    fa, fc, fr = controlled_file(fed.a), controlled_file(fed.c), open_file(fed.ref, 1)
    ids = [fa.guid, fc.guid.split("/", 1)[1], fr.guid, f"dg.FC03/{MISSING}", "a b"]
    r = await fed.client.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": ids})
    assert r.status_code == 200, r.text
    body = r.json()
    BulkAuthorizationsResponse.model_validate(body)
    assert body["summary"] == {"requested": 5, "resolved": 3, "unresolved": 2}
    assert body["unresolved_drs_objects"] == [{"error_code": 400, "object_ids": ["a b"]},
                                              {"error_code": 404, "object_ids": [f"dg.FC03/{MISSING}"]}]
    assert body["resolved_drs_object"] == [
        {"drs_object_id": fa.guid, "supported_types": ["BearerAuth"],
         "bearer_auth_issuers": [f"{fed.a.base_url}/user"]},
        {"drs_object_id": fc.guid, "supported_types": ["None"]},
        {"drs_object_id": fr.guid, "supported_types": ["BearerAuth"],
         "bearer_auth_issuers": [f"{fed.gateway.base_url}/refcommons/user"]},
    ]


async def test_bulk_access_across_members(fed):
    a_open, a_closed, b_open, r_open = open_file(fed.a, 3), controlled_file(fed.a), open_file(fed.b, 1), \
        open_file(fed.ref, 2)
    c_closed = controlled_file(fed.c)
    request = {"bulk_object_access_ids": [
        {"bulk_object_id": a_open.guid, "bulk_access_ids": ["s3", "gs", "ftp"]},
        {"bulk_object_id": a_closed.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": b_open.guid.split("/", 1)[1], "bulk_access_ids": ["gs"]},
        {"bulk_object_id": r_open.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": c_closed.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": f"dg.FA01/{MISSING}", "bulk_access_ids": ["s3"]},
        {"bulk_object_id": "a b", "bulk_access_ids": ["s3"]},
    ], "passports": ["p.q.r"]}
    r = await fed.client.post(f"{DRS}/objects/access", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"summary", "unresolved_drs_objects", "resolved_drs_object_access_urls"} and no_nulls(body)
    BulkAccessResponse.model_validate(body)
    assert body["summary"] == {"requested": 9, "resolved": 4, "unresolved": 5}
    groups = {g["error_code"]: sorted(g["object_ids"]) for g in body["unresolved_drs_objects"]}
    assert [g["error_code"] for g in body["unresolved_drs_objects"]] == [400, 401, 404]
    assert groups == {400: ["a b"], 401: sorted([a_closed.guid, c_closed.guid]),
                      404: sorted([a_open.guid, f"dg.FA01/{MISSING}"])}
    got = sorted((u["drs_object_id"], u["drs_access_id"]) for u in body["resolved_drs_object_access_urls"])
    assert got == sorted([(a_open.guid, "s3"), (a_open.guid, "gs"), (b_open.guid.split("/", 1)[1], "gs"),
                          (r_open.guid, "s3")])
    # with A's own token A's controlled object opens; C (no passthrough) refuses whatever the caller holds
    pair = {"bulk_object_access_ids": [{"bulk_object_id": a_closed.guid, "bulk_access_ids": ["s3"]},
                                       {"bulk_object_id": c_closed.guid, "bulk_access_ids": ["s3"]}]}
    r = await fed.client.post(f"{DRS}/objects/access", headers={"Authorization": await token(fed.a)}, json=pair)
    assert r.json()["summary"] == {"requested": 2, "resolved": 1, "unresolved": 1}
    assert r.json()["resolved_drs_object_access_urls"][0]["drs_object_id"] == a_closed.guid
    assert r.json()["unresolved_drs_objects"] == [{"error_code": 401, "object_ids": [c_closed.guid]}]
    r = await fed.client.post(f"{DRS}/objects/access", headers={"Authorization": await token(fed.c)}, json=pair)
    assert r.json()["summary"] == {"requested": 2, "resolved": 0, "unresolved": 2}
    assert {i for g in r.json()["unresolved_drs_objects"] for i in g["object_ids"]} == {a_closed.guid, c_closed.guid}


async def test_bulk_access_failures_are_listed_in_request_order(fed):
    """``unresolved_drs_objects`` lists ids in request order (as bulk objects does, and as ``group_unresolved``
    promises), not in the order the members happened to answer: here the in-process member (no I/O) answers
    before member A, whose object comes first."""
    first, second = controlled_file(fed.a, study=1), controlled_file(fed.ref, study=1)
    r = await fed.client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": first.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": second.guid, "bulk_access_ids": ["s3"]}]})
    assert r.json()["unresolved_drs_objects"] == [{"error_code": 401, "object_ids": [first.guid, second.guid]}]


async def test_bulk_calls_each_member_once(fed):
    """The small DRS member with bulk gets one bulk call for all of its ids and none one by one; an id it
    lacks in the spelling given is asked again (in one more bulk call) with the prefix spelled dg.XXXX."""
    fed.ep.hits.clear()
    ids = ["dg.ep01/b-1", "dg.EP01/b-2", "dg.EP01/b-3", "dg.EP01/b-none"]
    r = await fed.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids})
    assert r.status_code == 200
    assert r.json()["summary"] == {"requested": 4, "resolved": 3, "unresolved": 1}
    assert [o["id"] for o in r.json()["resolved_drs_object"]] == ["dg.EP01/b-1", "dg.EP01/b-2", "dg.EP01/b-3"]
    bulk_calls = [p for m, p, _ in fed.ep.hits if m == "POST" and p == f"{DRS}/objects"]
    singles = [p for m, p, _ in fed.ep.hits if m == "GET" and p.startswith(f"{DRS}/objects/")]
    assert len(bulk_calls) == 2 and singles == [], fed.ep.hits
