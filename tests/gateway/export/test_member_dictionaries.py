"""Asking members for their dictionaries: the Gen3 adapter's sheepdog call against purpose-built servers (a dictionary,
404, garbage, failures, a huge answer), members without the capability or behind a cohort mapping, the cache (hits,
TTLs, failures kept briefly) and the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from adapter_support import member
from aiohttp import web
from export_dictionaries import reference_dictionary
from faults import Server, recording_app, serve

from gateway.cache.memory import MemoryCache
from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN
from gateway.core.errors import MemberUnavailable
from gateway.export import member_dictionaries
from gateway.export.member_dictionaries import (
    DICTIONARY_TTL,
    FAILURE_TTL,
    MAPPED,
    NO_CAPABILITY,
    NO_SERVICE,
    MemberDictionaries,
    OffersDictionary,
)
from gateway.members.drs import DrsAdapter
from gateway.members.gen3 import DICTIONARY, Gen3Adapter
from gateway.settings.sections import UpstreamConfig
from refcommons.submission.dictionary import document

CONFIG = UpstreamConfig(retries=0, backoff=0.01)
DEADLINE = 3.0


def answering(respond: Callable[[], web.StreamResponse]) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        return respond()

    return recording_app([web.get(DICTIONARY, handler)])


@asynccontextmanager
async def gen3_member(app: web.Application) -> AsyncIterator[tuple[Gen3Adapter, Server]]:
    async with serve(app) as server:
        adapter = Gen3Adapter(member(server.url), CONFIG, OPEN)
        try:
            yield adapter, server
        finally:
            await adapter.close()


class RecordingCache(MemoryCache):
    """The in-process cache, remembering the TTL of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[float | None] = []

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self.ttls.append(ttl)
        await super().set(key, value, ttl=ttl)


def dictionaries(adapter: Any, cache: MemoryCache | None = None, **kw: Any) -> MemberDictionaries:
    return MemberDictionaries(reference_dictionary(), cache if cache is not None else MemoryCache(),
                              lambda m: adapter, **kw)


async def offer_of(adapter: Any, cache: MemoryCache | None = None, **kw: Any):
    return await dictionaries(adapter, cache, **kw).offer(adapter.member, Deadline.after(DEADLINE))


# --- the Gen3 adapter's call -----------------------------------------------------------------------------------------


async def test_a_gen3_member_hands_over_its_dictionary_anonymously():
    async with gen3_member(answering(lambda: web.json_response(document()))) as (adapter, server):
        assert isinstance(adapter, OffersDictionary)
        assert await adapter.data_dictionary(Deadline.after(DEADLINE)) == document()
        offer = await offer_of(adapter)
    assert offer.status == "offered" and offer.dictionary == reference_dictionary()
    assert [(m, p) for m, p, _ in server.hits] == [("GET", "/api/v0/submission/_dictionary/_all")] * 2
    assert all("authorization" not in {h.lower() for h in headers} for _, _, headers in server.hits)


@pytest.mark.parametrize("status", [404, 405, 501])
async def test_no_submission_service_is_no_dictionary(status):
    async with gen3_member(answering(lambda: web.json_response({"message": "nope"}, status=status))) as (adapter, _):
        assert await adapter.data_dictionary(Deadline.after(DEADLINE)) is None
        offer = await offer_of(adapter)
    assert (offer.status, offer.detail) == ("none", NO_SERVICE)


@pytest.mark.parametrize(("respond", "detail"), [
    (lambda: web.Response(body=b"<html>not json", content_type="text/html"), "sent a malformed answer"),
    (lambda: web.json_response([1, 2, 3]), "sent a malformed answer"),
    (lambda: web.json_response({"message": "boom"}, status=500), "answered HTTP 500"),
    (lambda: web.json_response({"message": "who are you"}, status=401), "answered HTTP 401"),
    (lambda: web.json_response({
        "a": {"properties": {}, "links": [{"name": "bs", "target_type": "b"}]},
        "b": {"properties": {}, "links": [{"name": "as", "target_type": "a"}]},
    }), "link cycle"),
])
async def test_a_failing_or_malformed_answer_is_refused_with_the_reason(respond, detail):
    async with gen3_member(answering(respond)) as (adapter, _):
        offer = await offer_of(adapter)
    assert offer.status == "refused" and detail in offer.detail and offer.dictionary is None


async def test_a_huge_dictionary_is_refused():
    huge = document()
    huge["subject"]["description"] = "x" * (member_dictionaries.MAX_DICTIONARY_BYTES + 1)
    async with gen3_member(answering(lambda: web.json_response(huge))) as (adapter, _):
        offer = await offer_of(adapter)
    assert offer.status == "refused"
    assert offer.detail == f"its dictionary is larger than {member_dictionaries.MAX_DICTIONARY_BYTES} bytes"


async def test_an_answer_past_the_http_cap_is_refused_before_it_is_read():
    body = b'{"x": "' + b"y" * (17 * 1024 * 1024) + b'"}'
    async with gen3_member(answering(lambda: web.Response(body=body, content_type="application/json"))) as (a, _):
        offer = await offer_of(a)
    assert offer.status == "refused" and "answered too large a body" in offer.detail


async def test_a_member_that_does_not_answer_in_time_is_refused_and_not_waited_for():
    async def hang(request: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with gen3_member(recording_app([web.get(DICTIONARY, hang)])) as (adapter, _):
        started = asyncio.get_running_loop().time()
        offer = await dictionaries(adapter).offer(adapter.member, Deadline.after(0.3))
        took = asyncio.get_running_loop().time() - started
    assert offer.status == "refused" and took < 2.0
    assert "deadline" in offer.detail or "timed out" in offer.detail


# --- members that offer none ------------------------------------------------------------------------------------


async def test_a_plain_drs_member_offers_none_without_being_asked():
    async with serve(recording_app([])) as server:
        adapter = DrsAdapter(member(server.url, kind="drs"), CONFIG, OPEN)
        try:
            assert not isinstance(adapter, OffersDictionary)
            offer = await offer_of(adapter)
        finally:
            await adapter.close()
    assert (offer.status, offer.detail) == ("none", NO_CAPABILITY) and server.hits == []


async def test_a_member_behind_a_cohort_mapping_offers_none_without_being_asked():
    async with gen3_member(answering(lambda: web.json_response(document()))) as (adapter, server):
        offer = await offer_of(adapter, mapped={"m1"})
    assert (offer.status, offer.detail) == ("none", MAPPED) and server.hits == []


# --- the cache -------------------------------------------------------------------------------------------------


class Fake:
    """An adapter with the capability whose answers the test sets; counts the calls."""

    def __init__(self, answer: Any, member_id: str = "m1") -> None:
        self.member = member("http://fake.invalid", member_id=member_id)
        self.answer, self.calls = answer, 0

    async def data_dictionary(self, deadline: Deadline) -> dict[str, Any] | None:
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


async def test_an_answer_is_cached_for_the_ttl_and_read_again_for_each_export():
    fake, cache = Fake(document()), RecordingCache()
    chooser = dictionaries(fake, cache)
    first = await chooser.offer(fake.member, Deadline.after(DEADLINE))
    fake.answer = None  # the member changed its mind: not seen until the entry expires
    second = await chooser.offer(fake.member, Deadline.after(DEADLINE))
    assert fake.calls == 1 and cache.ttls == [DICTIONARY_TTL]
    assert first.dictionary == second.dictionary == reference_dictionary()
    assert first.dictionary is not second.dictionary  # read again from the cached JSON


@pytest.mark.parametrize(("answer", "ttl"), [
    (None, DICTIONARY_TTL),
    (MemberUnavailable("m1", "HTTP 503"), FAILURE_TTL),
    (RuntimeError("bug"), FAILURE_TTL),
    ({"a": {1, 2}}, DICTIONARY_TTL),  # not JSON: refused, and kept as long as an answer
])
async def test_what_is_cached_and_for_how_long(answer, ttl):
    fake, cache = Fake(answer), RecordingCache()
    chooser = dictionaries(fake, cache)
    offers = [await chooser.offer(fake.member, Deadline.after(DEADLINE)) for _ in range(2)]
    assert fake.calls == 1 and cache.ttls == [ttl] and offers[0] == offers[1]


async def test_a_cached_entry_belongs_to_one_member_and_base_url():
    cache = MemoryCache()
    a, b = Fake(document(), "a"), Fake(None, "b")
    for fake in (a, b):
        await dictionaries(fake, cache).offer(fake.member, Deadline.after(DEADLINE))
    assert (await dictionaries(a, cache).offer(a.member, Deadline.after(DEADLINE))).status == "offered"
    assert (await dictionaries(b, cache).offer(b.member, Deadline.after(DEADLINE))).status == "none"
    moved = Fake(None, "a")
    moved.member = member("http://elsewhere.invalid", member_id="a")
    assert (await dictionaries(moved, cache).offer(moved.member, Deadline.after(DEADLINE))).status == "none"
    assert moved.calls == 1


async def test_an_unreadable_cache_entry_is_asked_again():
    fake, cache = Fake(document()), MemoryCache()
    await cache.set(member_dictionaries.cache_key(fake.member), b"?garbage")
    offer = await dictionaries(fake, cache).offer(fake.member, Deadline.after(DEADLINE))
    assert offer.status == "offered" and fake.calls == 1


async def test_choose_asks_every_contributing_member_at_once():
    class Slow(Fake):
        async def data_dictionary(self, deadline: Deadline) -> dict[str, Any] | None:
            await asyncio.sleep(0.3)
            return await super().data_dictionary(deadline)

    members = [Slow(document(), f"m{i}") for i in range(4)]
    by_id = {f.member.id: f for f in members}
    chooser = MemberDictionaries(reference_dictionary(), MemoryCache(), lambda m: by_id[m.id])
    started = asyncio.get_running_loop().time()
    choice = await chooser.choose([f.member for f in members], "subject", Deadline.after(DEADLINE))
    assert asyncio.get_running_loop().time() - started < 1.0
    assert choice.source == "member" and choice.members == ("m0", "m1", "m2", "m3")
