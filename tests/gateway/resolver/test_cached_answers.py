"""``GET /resolver/v1/resolve`` answers a cached hit from the finished bytes its cache entry holds
(:mod:`gateway.resolver.answers`): byte for byte what rendering the entry read back gives, each spelling of an id
with its own ``id``, whatever other query parameters come along, written by the single and the bulk path alike,
and living and dying with its entry (a purge, a revalidation that rewrites it)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from resolver_federation import Fed, cache_settings, resolver_federation

from gateway.resolver.answers import view
from gateway.resolver.cache_entries import cache_key, finished_answer
from gateway.resolver.identifiers import parse_identifier

RESOLVE = "/resolver/v1/resolve"
MISSING = "00000000-0000-4000-8000-0000000000ee"


def federation(cache: dict[str, Any] | None = None) -> AbstractAsyncContextManager[Fed]:
    return resolver_federation(subjects=6, strict=3, cache=cache)


async def get(fed: Fed, raw: str, **params: str) -> bytes:
    r = await fed.gateway.client.get(RESOLVE, params={"id": raw, **params})
    assert r.status_code == 200, (raw, r.text)
    return r.content


async def entry(fed: Fed, raw: str) -> bytes | None:
    routes, generation = await fed.resolver.scope()
    return await fed.resolver.cache.get(cache_key(routes.version, parse_identifier(raw), generation))


def calls(fed: Fed) -> int:
    """Requests the members received so far (health probes and service-info aside)."""
    return sum(fed.calls().values())


def spellings(fed: Fed) -> list[str]:
    xs, ys = fed.guids(fed.x, 4), fed.guids(fed.y, 2)
    gw = fed.gateway.hostname
    return [
        xs[0], quote(xs[0], safe=""), xs[0].replace("dg.RX01", "dg.rx01"), f"drs://dg.RX01:{xs[1].split('/', 1)[1]}",
        f"drs://{gw}/{quote(xs[2], safe='')}", xs[3].split("/", 1)[1], ys[0], f"drs://dg.RY02/{ys[1].split('/')[1]}",
        next(iter(fed.strict)),
    ]


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_cached_hit_is_the_bytes_rendering_its_entry_gives(request, backend):
    cache = cache_settings(request, backend, "a:")
    async with federation(cache) as fed:
        raws = spellings(fed)
        fresh = {raw: orjson.loads(await get(fed, raw)) for raw in raws}
        before = calls(fed)
        for raw in raws:
            held = await entry(fed, raw)
            assert held is not None and finished_answer(held) is not None, raw  # the fast path is taken
            hit = await get(fed, raw)
            resolution = await fed.resolver.resolve(raw)  # the entry read back, as every hit was answered before
            assert resolution.cached
            assert hit == orjson.dumps(view(resolution)), raw
            answer = orjson.loads(hit)
            assert answer["cached"] is True and answer["id"] == raw
            if not raw.startswith(f"drs://{fed.gateway.hostname}/"):  # a fresh answer names the id it asked
                assert answer == {**fresh[raw], "cached": True}, raw
        assert calls(fed) == before, "a cached hit reached a member"


async def test_spellings_and_query_parameters_do_not_collide():
    async with federation() as fed:
        g1, g2 = fed.guids(fed.x, 2)
        encoded = quote(g1, safe="")
        assert parse_identifier(encoded).object_id == parse_identifier(g1).object_id  # one key for the two
        for raw in (g1, encoded, g2):
            await get(fed, raw)
        one, two, other = await get(fed, g1), await get(fed, encoded), await get(fed, g2)
        assert orjson.loads(one)["id"] == g1 and orjson.loads(two)["id"] == encoded
        assert one.replace(orjson.dumps(g1), orjson.dumps(encoded), 1) == two
        assert orjson.loads(other)["record"]["did"] == g2 != orjson.loads(one)["record"]["did"]
        for params in ({"expand": "true"}, {"versions": "1"}, {"cached": "false", "format": "drs"}):
            assert await get(fed, g1, **params) == one
        for _ in range(2):  # a miss, then the cached miss: the same error either way
            r = await fed.gateway.client.get(RESOLVE, params={"id": f"dg.RX01/{MISSING}"})
            assert r.status_code == 404 and r.json()["status_code"] == 404, r.text
        r = await fed.gateway.client.get(RESOLVE, params={"id": "not an id"})
        assert r.status_code == 400, r.text
        assert (await fed.gateway.client.get(RESOLVE)).status_code == 400


async def test_entries_the_bulk_path_writes_answer_single_hits_from_bytes():
    async with federation() as fed:
        raws = spellings(fed)
        r = await fed.gateway.client.post(RESOLVE, json={"ids": raws})
        assert r.status_code == 200 and all(x["status"] == 200 for x in r.json()["results"]), r.text
        before = calls(fed)
        for raw in raws:
            assert finished_answer(await entry(fed, raw) or b"") is not None, raw
            hit = await get(fed, raw)
            assert hit == orjson.dumps(view(await fed.resolver.resolve(raw))) and orjson.loads(hit)["cached"]
        assert calls(fed) == before


async def test_the_finished_answer_lives_and_dies_with_its_entry():
    async with federation() as fed:
        guid = next(iter(fed.strict))
        await get(fed, guid)
        assert orjson.loads(await get(fed, guid))["record"]["size"] == 10
        fed.strict[guid]["size"] = 999  # the member's record changes
        try:
            assert orjson.loads(await get(fed, guid))["record"]["size"] == 10  # cached: not asked
            await fed.resolver.resolve(guid, max_age=0)  # a revalidation (an access decision) rewrites the entry
            hit = orjson.loads(await get(fed, guid))
            assert hit["record"]["size"] == 999 and hit["cached"] is True
            fed.strict[guid]["size"] = 5
            await fed.resolver.generation.bump("test")  # an admin purge retires every entry
            again = orjson.loads(await get(fed, guid))
            assert again == {**hit, "record": {**hit["record"], "size": 5}, "cached": False}
        finally:
            fed.strict[guid]["size"] = 10
