"""What a caller may read at a member (gateway.access.readable, gateway.access.open_readable): readable trees and
exact paths, and the two cached lookups, which ask a member only through its Authz capability."""

from __future__ import annotations

from typing import Any

from gateway.access.open_readable import OpenAuthz
from gateway.access.readable import NOTHING, Readable, UserAuthz, from_authz_map
from gateway.cache.memory import MemoryCache
from gateway.core.deadline import Deadline
from gateway.core.errors import AccessDenied, MemberUnavailable
from gateway.core.member import Member, MemberAuth
from gateway.members.protocols import Authz

MEMBER = Member("m1", "M1", "http://m1.example", "gen3", ("dg.M1",), (), auth=MemberAuth("none"))  # type: ignore
READ = [{"method": "read", "service": "*"}]
TOKEN = "Bearer not-a-jwt"


def test_readable_trees_cover_by_segment_and_exact_paths_exactly():
    trees = from_authz_map({"/programs/P": [{"method": "read", "service": "*"}],
                            "/programs/Q": [{"method": "read-storage", "service": "*"}],  # not read
                            "/programs/R": [{"method": "read", "service": "fence"}],  # not for search
                            "/programs/S": [{"method": "*", "service": "guppy"}],
                            "not-a-path": [{"method": "read", "service": "*"}]})
    assert trees.trees == frozenset({"/programs/P", "/programs/S"})
    assert trees.covers("/programs/P/projects/OPEN") and trees.covers("/programs/P")
    assert not trees.covers("/programs/PX") and not trees.covers("/programs/Q/x") and not trees.covers("/programs")
    assert not trees.covers("/programs/P/../Q")
    exact = Readable(exact=frozenset({"/programs/phs000001.c1"}))
    assert exact.covers("/programs/phs000001.c1") and not exact.covers("/programs/phs000001.c1/x")
    assert not exact.covers_all([]) and not NOTHING
    assert from_authz_map(["not", "a", "map"]) == NOTHING


class FakeAuthz:
    """An adapter with the Authz capability: ``answer`` (a map, or an exception to raise); counts its calls."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    async def _answer(self) -> dict[str, Any]:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def user_authz(self, authorization: str, deadline: Deadline) -> dict[str, Any]:
        assert authorization == TOKEN
        return await self._answer()

    async def anonymous_authz(self, deadline: Deadline) -> dict[str, Any]:
        return await self._answer()


class NoAuthz:
    """An adapter without the capability (a plain DRS server), whatever else it has."""

    async def user_authz(self, authorization: str, deadline: Deadline) -> dict[str, Any]:  # half of it is none
        raise AssertionError("not to be asked")


def test_the_fakes_are_what_they_say():
    assert isinstance(FakeAuthz({}), Authz) and not isinstance(NoAuthz(), Authz)


async def test_a_member_without_authz_makes_nothing_readable_and_is_not_asked():
    cache = MemoryCache()
    assert await UserAuthz(cache, lambda m: NoAuthz()).readable(MEMBER, TOKEN) == NOTHING
    assert await OpenAuthz(cache, lambda m: NoAuthz()).readable(MEMBER) == NOTHING
    assert await cache.get(UserAuthz.key(MEMBER, TOKEN)) is None and await cache.get(OpenAuthz.key(MEMBER)) is None


async def test_user_authz_asks_the_member_once_and_serves_its_map_from_the_cache():
    cache, adapter = MemoryCache(), FakeAuthz({"/programs/P": READ, "/programs/Q": [{"method": "write"}]})
    lookup = UserAuthz(cache, lambda m: adapter)
    first = await lookup.readable(MEMBER, TOKEN)
    assert first == Readable(trees=frozenset({"/programs/P"}))
    assert await lookup.readable(MEMBER, TOKEN) == first and adapter.calls == 1


async def test_user_authz_a_refused_token_reads_nothing_while_cached_a_failure_only_now():
    refused = FakeAuthz(AccessDenied("m1", "no", upstream_status=401))
    lookup = UserAuthz(MemoryCache(), lambda m: refused)
    assert await lookup.readable(MEMBER, TOKEN) == NOTHING
    assert await lookup.readable(MEMBER, TOKEN) == NOTHING and refused.calls == 1
    down = FakeAuthz(MemberUnavailable("m1", "HTTP 502"))
    lookup = UserAuthz(MemoryCache(), lambda m: down)
    assert await lookup.readable(MEMBER, TOKEN) == NOTHING
    assert await lookup.readable(MEMBER, TOKEN) == NOTHING and down.calls == 2


async def test_open_authz_asks_once_and_remembers_a_failure_too():
    adapter = FakeAuthz({"/open": READ})
    lookup = OpenAuthz(MemoryCache(), lambda m: adapter)
    assert await lookup.readable(MEMBER) == Readable(trees=frozenset({"/open"}))
    assert await lookup.readable(MEMBER) == Readable(trees=frozenset({"/open"})) and adapter.calls == 1
    down = FakeAuthz(MemberUnavailable("m1", "HTTP 502"))
    lookup = OpenAuthz(MemoryCache(), lambda m: down)
    assert await lookup.readable(MEMBER) == NOTHING
    assert await lookup.readable(MEMBER) == NOTHING and down.calls == 1
