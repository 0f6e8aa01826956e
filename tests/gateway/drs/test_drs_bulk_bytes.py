"""A bulk DRS answer is made of the very bytes ``GET /objects/{id}`` answers for each object, whichever was asked
first, for every kind of member and spelling of an id (tests/support/drs_federation.py): a bulk renders what is not
cached and caches it for the single GET; the single GET's cached bytes are spliced into a bulk as they are."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest
from drs_federation import DRS, MISSING, controlled_file, open_file

pytestmark = pytest.mark.asyncio(loop_scope="module")


def spellings(fed, n: int) -> list[str]:
    """One id per kind of member and spelling, the ``n``-th file of each commons (each test its own objects)."""
    fa, fb, fc, fr = open_file(fed.a, n), open_file(fed.b, n), open_file(fed.c, n), open_file(fed.ref, n)
    fa2 = controlled_file(fed.a, study=n % 2)
    gw = fed.gateway.hostname
    return [
        fa.guid,                                                    # Gen3, passthrough
        fb.guid,                                                    # DRS member (a reference commons' own DRS)
        fc.guid.split("/", 1)[1],                                   # a bare UUID: asked of every member
        fr.guid,                                                    # the in-process reference commons
        f"drs://{gw}/{quote(fa2.guid, safe='')}",                   # behind the gateway's own hostname
        f"drs://dg.FB02:{fb.guid.split('/', 1)[1]}",                # compact DRS URI
        fa.guid.replace("dg.FA01", "dg.fa01"),                      # the prefix in another case
        f"dg.FA01%2F{fa.guid.split('/', 1)[1]}",                     # an encoded slash
        "dg.EP01/obj-1" if n == 0 else "dg.EP01/b-1",               # a small DRS member with bulk
        "dg.EP01/urls" if n == 0 else "dg.EP01/b-2",                # url-only methods, integer access id
        "dg.EP01/bundle" if n == 0 else "dg.EP01/b-3",              # a bundle (contents)
        "dg.EN01/obj-1",                                            # a DRS member without bulk
        "dg.EB01/obj-1",                                            # the gateway's own token for the member
    ]


async def singles(fed, ids: list[str]) -> list[bytes]:
    out = []
    for raw in ids:
        r = await fed.client.get(f"{DRS}/objects/{quote(raw, safe='')}")
        assert r.status_code == 200, (raw, r.text)
        out.append(r.content)
    return out


def spliced(parts: list[bytes]) -> bytes:
    return b'"resolved_drs_object":[' + b",".join(parts) + b"]"


async def bulk(fed, ids: list[str]) -> bytes:
    r = await fed.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids})
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["resolved"] == len(ids)
    return r.content


async def test_a_bulk_renders_what_the_single_get_then_answers_from_its_cache(fed):
    ids = spellings(fed, 0)
    first = await bulk(fed, ids)  # nothing cached yet: rendered here, and cached for the GETs
    gets = await singles(fed, ids)
    assert spliced(gets) in first
    assert await bulk(fed, ids) == first  # now every object comes from the cache


async def test_a_bulk_splices_what_single_gets_cached(fed):
    ids = spellings(fed, 1)
    gets = await singles(fed, ids)  # cached by the GETs
    body = await bulk(fed, ids)
    assert spliced(gets) in body
    assert orjson.loads(body)["resolved_drs_object"] == [orjson.loads(g) for g in gets]


async def test_a_bulk_of_cached_and_uncached_ids_keeps_request_order_duplicates_and_failures(fed):
    ids = spellings(fed, 2)
    cached, fresh = ids[::2], ids[1::2]
    gets = dict(zip(cached, await singles(fed, cached)))
    asked = [fresh[0], cached[0], f"dg.FA01/{MISSING}", fresh[0], cached[1], "not an id", *fresh[1:], *cached[2:]]
    r = await fed.client.post(f"{DRS}/objects", json={"bulk_object_ids": asked})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == {"requested": len(asked), "resolved": len(asked) - 2, "unresolved": 2}
    assert body["unresolved_drs_objects"] == [{"error_code": 400, "object_ids": ["not an id"]},
                                              {"error_code": 404, "object_ids": [f"dg.FA01/{MISSING}"]}]
    gets.update(zip(fresh, await singles(fed, fresh)))
    assert spliced([gets[i] for i in asked if i in gets]) in r.content
    assert list(body) == ["summary", "unresolved_drs_objects", "resolved_drs_object"]


async def test_a_bulk_with_nothing_found_is_well_formed(fed):
    r = await fed.client.post(f"{DRS}/objects", json={"bulk_object_ids": [f"dg.FA01/{MISSING}", "x y"]})
    assert r.status_code == 200, r.text
    assert orjson.loads(r.content) == {
        "summary": {"requested": 2, "resolved": 0, "unresolved": 2},
        "unresolved_drs_objects": [{"error_code": 400, "object_ids": ["x y"]},
                                   {"error_code": 404, "object_ids": [f"dg.FA01/{MISSING}"]}],
        "resolved_drs_object": []}
