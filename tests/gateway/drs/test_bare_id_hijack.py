"""A member that answers for ids it does not own (issue 13: the bare-UUID hijack), played for real: a lying DRS
server on 127.0.0.1, declared as a member with ``passthrough`` auth, claims every id it is asked for, at once; the
real holder is a reference commons that answers 50 ms later. A caller with a bearer token minted by the holder's
fence asks for a bare UUID the holder has.

- The liar claims the id under the holder's prefix: its record is refused (logged, counted in its health), the
  holder is established as the only one holding it, and the token goes to the holder alone.
- The liar claims the bare id itself: the id is ambiguous, answered 409 with both candidates on every surface that
  resolves ids, and the token goes nowhere.
- Being the fastest (20 runs of 20) changes none of this; a holder found while another member failed answers, but
  is not trusted with the caller's token.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from drs_fakes import HITS, STATE, fault_everywhere, lying_member, serve, start_recorded_commons
from drs_fakes import Server as FakeServer
from drs_federation import controlled_file, open_file, token
from servers import Server, start_gateway

DRS = "/ga4gh/drs/v1"
PREFIX = "dg.HLD1"
LIAR_HOST = "liar.example"
SLOW = 0.05
"""How much later than the liar the holder answers: the liar is always the fastest."""


@dataclass
class World:
    gateway: Server
    holder: Server
    liar: FakeServer

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gateway.client


@asynccontextmanager
async def world(claim: str, *, cache: bool = True, broken: bool = False, threshold: int = 3) -> AsyncIterator[World]:
    """The holder (``dg.HLD1``, gen3, passthrough, slow), the liar (``dg.LIAR``, drs, passthrough, answering
    ``claim``) and, with ``broken``, a third member answering 500 to everything. ``threshold``: the failures (lies
    included) that make a member unhealthy, and so left out of fan-outs."""
    async with AsyncExitStack() as stack:
        holder = await start_recorded_commons(PREFIX, 31, 10, delay=SLOW)
        stack.push_async_callback(holder.stop)
        liar = await stack.enter_async_context(serve(lying_member(claim)))
        members: list[dict[str, Any]] = [
            {"id": "holder", "name": "Holder", "base_url": holder.base_url, "kind": "gen3", "prefixes": [PREFIX],
             "auth": {"type": "passthrough"}},
            {"id": "liar", "name": "Liar", "base_url": liar.url, "kind": "drs", "prefixes": ["dg.LIAR"],
             "hostnames": [LIAR_HOST], "auth": {"type": "passthrough"}},
        ]
        if broken:
            down = await stack.enter_async_context(serve(fault_everywhere("500")))
            members.append({"id": "broken", "name": "Broken", "base_url": down.url, "kind": "drs",
                            "prefixes": ["dg.BRKN"]})
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, registry={"members": members},
            resolver={"cache": cache}, upstream={"retries": 0},
            health={"interval": 3600.0, "failure_threshold": threshold},
            aggregate={"harvest": {"enabled": False}},
        )
        stack.push_async_callback(gateway.stop)
        yield World(gateway, holder, liar)


def tokens_seen(server: FakeServer, secret: str) -> list[str]:
    """The paths on which ``server`` received ``secret`` anywhere in its headers."""
    return [path for _, path, headers in server.hits if any(secret in v for v in headers.values())]


def holder_hits(w: World) -> list[tuple[Any, ...]]:
    """``(method, path_qs, headers, body)`` of every request the holder received."""
    return w.holder.app[HITS]


def the_candidates(uuid: str, guid: str) -> list[dict[str, Any]]:
    return [{"member": "holder", "id": guid, "drs_uri": f"drs://{PREFIX}:{uuid}"},
            {"member": "liar", "id": uuid, "drs_uri": f"drs://{LIAR_HOST}/{uuid}"}]


async def test_a_record_under_another_members_prefix_is_refused_and_the_token_goes_to_the_holder_only(caplog):
    async with world(PREFIX) as w:
        f = controlled_file(w.holder)
        uuid = f.guid.split("/", 1)[1]
        caller = await token(w.holder)
        r = await w.client.get(f"{DRS}/objects/{uuid}/access/s3", headers={"Authorization": caller})
        assert r.status_code == 200, r.text
        assert "evil.example" not in r.json()["url"]
        async with httpx.AsyncClient(timeout=10) as plain:
            data = await plain.get(r.json()["url"])
        assert hashlib.sha256(data.content).hexdigest() == f.sha256, "the holder's own bytes"
        assert tokens_seen(w.liar, caller) == [], "the liar never sees the caller's token"
        assert any("/user/data/download/" in hit[1] and hit[2].get("Authorization") == caller
                   for hit in holder_hits(w)), "the holder got the token"
        r = await w.client.get("/resolver/v1/resolve", params={"id": uuid})
        assert r.status_code == 200 and r.json()["member"]["id"] == "holder" and r.json()["record"]["did"] == f.guid
        assert r.json()["route"] == "fanout" and r.json()["established"] is True
        # refused: logged, and counted against the liar's health
        assert any(rec.levelname == "WARNING" and getattr(rec, "member_id", None) == "liar"
                   and getattr(rec, "asked", None) == uuid and getattr(rec, "did", None) == f"{PREFIX}/{uuid}"
                   for rec in caplog.records), [r.getMessage() for r in caplog.records]
        health = (await w.client.get("/registry/v1/commons/liar/health")).json()
        lies = [x for x in health["recent_failures"] if x.get("kind") == "lied"]
        assert lies and "prefix dg.hld1 of member commons holder" in lies[-1]["detail"], health
        assert uuid not in str(health), "the public health record names no id a caller asked for"
        assert health["lies"] >= 1
        assert (await w.client.get("/registry/v1/commons/holder/health")).json()["recent_failures"] == []


async def test_a_bare_id_claimed_by_two_members_is_ambiguous_on_every_surface():
    async with world("bare") as w:
        f = controlled_file(w.holder)
        uuid = f.guid.split("/", 1)[1]
        caller = await token(w.holder)
        want = the_candidates(uuid, f.guid)
        auth = {"Authorization": caller}

        r = await w.client.get(f"{DRS}/objects/{uuid}/access/s3", headers=auth)
        assert r.status_code == 409 and set(r.json()) == {"msg", "status_code", "candidates"}, r.text
        assert r.json()["status_code"] == 409 and r.json()["candidates"] == want
        r = await w.client.get(f"{DRS}/objects/{uuid}", headers=auth)
        assert r.status_code == 409 and r.json()["candidates"] == want and "msg" in r.json(), r.text
        r = await w.client.get("/resolver/v1/resolve", params={"id": uuid})
        assert r.status_code == 409 and r.json()["candidates"] == want and r.json()["status_code"] == 409, r.text
        r = await w.client.post("/resolver/v1/resolve", json={"ids": [uuid]})
        assert r.status_code == 200
        [one] = r.json()["results"]
        assert one["status"] == 409 and one["id"] == uuid and one["candidates"] == want, one
        for path in (f"/index/{uuid}", f"/index/index/{uuid}"):
            r = await w.client.get(path)
            assert r.status_code == 409 and r.json()["candidates"] == want, (path, r.text)
        r = await w.client.post("/api/v4/drs/resolve", json={"url": f"drs://{w.gateway.hostname}/{uuid}",
                                                             "fields": ["accessUrl", "size"]}, headers=auth)
        assert r.status_code == 409 and set(r.json()) == {"message", "statusCode", "candidates"}, r.text
        assert r.json()["candidates"] == want
        r = await w.client.post(f"{DRS}/objects", json={"bulk_object_ids": [uuid]})
        assert r.json()["unresolved_drs_objects"] == [{"error_code": 409, "object_ids": [uuid]}]

        assert tokens_seen(w.liar, caller) == []
        assert not any(caller == hit[2].get("Authorization") for hit in holder_hits(w)), "nobody got the token"
        # what the 409 names resolves: the holder's compact URI goes to the holder by its prefix, token and all
        r = await w.client.get(f"{DRS}/objects/{quote(want[0]['drs_uri'], safe='')}/access/s3", headers=auth)
        assert r.status_code == 200 and "evil.example" not in r.json()["url"], r.text
        assert tokens_seen(w.liar, caller) == []


async def test_being_the_fastest_makes_no_difference_in_20_runs_of_20():
    """(Lies make a member unhealthy after ``failure_threshold`` of them, which leaves it out of fan-outs: kept out of
    play here, so that the liar is asked, and answers first, every time.)"""
    async with world(PREFIX, cache=False, threshold=1000) as w:
        f = controlled_file(w.holder)
        uuid = f.guid.split("/", 1)[1]
        caller = await token(w.holder)
        for _ in range(20):
            r = await w.client.get(f"{DRS}/objects/{uuid}/access/s3", headers={"Authorization": caller})
            assert r.status_code == 200 and "evil.example" not in r.json()["url"], r.text
        w.liar.app[STATE]["claim"] = "bare"
        for _ in range(20):
            r = await w.client.get(f"{DRS}/objects/{uuid}/access/s3", headers={"Authorization": caller})
            assert r.status_code == 409 and [c["member"] for c in r.json()["candidates"]] == ["holder", "liar"]
        assert w.liar.count(f"{DRS}/objects/{uuid}", "GET") >= 40, "the liar was asked (and answered first) each time"
        assert tokens_seen(w.liar, caller) == []


async def test_a_holder_found_while_another_member_failed_answers_but_gets_no_token(caplog):
    caplog.set_level(logging.INFO, logger="gateway.drs.service")
    async with world(PREFIX, broken=True) as w:
        caller = await token(w.holder)
        closed, public = controlled_file(w.holder), open_file(w.holder)
        r = await w.client.get(f"{DRS}/objects/{closed.guid.split('/', 1)[1]}/access/s3",
                               headers={"Authorization": caller})
        assert r.status_code == 401, r.text  # the holder asked without the caller's token, its 401 passed on
        assert not any(caller == hit[2].get("Authorization") for hit in holder_hits(w))
        assert any("without the caller's credentials" in rec.getMessage() for rec in caplog.records)
        r = await w.client.get(f"{DRS}/objects/{public.guid.split('/', 1)[1]}/access/s3",
                               headers={"Authorization": caller})
        assert r.status_code == 200 and "evil.example" not in r.json()["url"], r.text
        r = await w.client.get("/resolver/v1/resolve", params={"id": public.guid.split("/", 1)[1]})
        assert r.status_code == 200 and r.json()["member"]["id"] == "holder" and r.json()["established"] is False
        # by its prefix the holder owns it: the token goes
        r = await w.client.get(f"{DRS}/objects/{closed.guid}/access/s3", headers={"Authorization": caller})
        assert r.status_code == 200, r.text
        assert tokens_seen(w.liar, caller) == []
