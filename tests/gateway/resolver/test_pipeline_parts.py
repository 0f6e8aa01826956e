"""The resolution pipeline's pure parts: how a cache entry reads back (gateway.resolver.cache_entries), where an id
is routed (gateway.resolver.routing) and what a fan-out without any holder means for each id
(gateway.resolver.holders; its ownership rule is tested in test_holders.py)."""

from __future__ import annotations

import pytest

from gateway.core.deadline import Deadline
from gateway.core.errors import MemberTimeout, MemberUnavailable
from gateway.core.member import Member, Status
from gateway.core.records import MemberRecord
from gateway.registry.directory import Routes
from gateway.resolver.cache_entries import cache_key, hit_entry, miss_entry, read_entry, recalled
from gateway.resolver.holders import everyone_outcomes
from gateway.resolver.identifiers import Identifier, InvalidIdentifier, parse_identifier
from gateway.resolver.outcomes import Resolution, ResolutionError
from gateway.resolver.routing import route_locally, route_upstream, spellings

UUID = "6f1c0e2a-9b1d-4c3e-8f00-0123456789ab"


def member(mid: str, prefix: str, hostname: str | None = None) -> Member:
    return Member(id=mid, name=mid.upper(), base_url=f"http://{mid}.example", kind="gen3", prefixes=(prefix,),
                  hostnames=(hostname,) if hostname else (), status=Status.active, source="config")


A, B, C = member("a", "dg.aaaa", "a.example"), member("b", "dg.bbbb"), member("c", "dg.cccc")
ROUTES = Routes.build(7, [A, B, C])


# --- cache entries -------------------------------------------------------------------------------------------


def test_a_hit_reads_back_as_a_cached_resolution():
    ident = parse_identifier(f"dg.AAAA/{UUID}")
    record = MemberRecord("a", f"dg.AAAA/{UUID}", "indexd", {"did": f"dg.AAAA/{UUID}", "size": 1})
    entry = hit_entry(Resolution(ident, A, record, "prefix"), 1234.5)
    back = read_entry(ident, entry, ROUTES.members)
    assert back == Resolution(ident, A, record, "prefix", cached=True, fetched_at=1234.5)  # when it was fetched
    assert read_entry(ident, entry, {"b": B}) is None  # its member is gone: resolve afresh


def test_a_miss_reads_back_as_its_404():
    ident = parse_identifier(UUID)
    back = read_entry(ident, miss_entry(ResolutionError(404, "in none of the 3")), ROUTES.members)
    assert isinstance(back, ResolutionError) and (back.status, back.message) == (404, "in none of the 3")


def test_cache_keys_hold_the_registry_version_the_generation_and_the_id_as_spelled():
    assert cache_key(7, parse_identifier(f"dg.AAAA/{UUID}")) == f"resolve:v7.0:prefixed::dg.AAAA/{UUID}"
    assert cache_key(8, parse_identifier(f"dg.aaaa/{UUID}"), 3) == f"resolve:v8.3:prefixed::dg.aaaa/{UUID}"
    assert cache_key(7, parse_identifier(f"drs://a.example/{UUID}")) == f"resolve:v7.0:hostname:a.example:{UUID}"


def test_recalled_answers_only_what_the_cache_held():
    one, two = parse_identifier(UUID), parse_identifier(f"dg.BBBB/{UUID}")
    keys = {"one": cache_key(7, one), "two": cache_key(7, two)}
    entries = {keys["one"]: miss_entry(ResolutionError(404, "nowhere"))}
    out = recalled({"one": one, "two": two}, keys, entries, ROUTES.members)
    assert list(out) == ["one"] and isinstance(out["one"], ResolutionError)


# --- routing ---------------------------------------------------------------------------------------------------


async def test_routes():
    deadline = Deadline.after(5)

    async def where(raw: str):  # as the resolver routes a batch: upstream only for a prefix no member owns
        found = route_locally(parse_identifier(raw), ROUTES, own_hostnames=frozenset({"gw.example"}))
        return await route_upstream(found, deadline, None) if isinstance(found, Identifier) else found

    assert (await where(f"dg.BBBB/{UUID}")).member == B
    assert (await where(f"drs://a.example/{UUID}")).route == "hostname"
    inner = await where(f"drs://gw.example/dg.CCCC%2F{UUID}")
    assert (inner.member, inner.route, inner.ident.object_id) == (C, "prefix", f"dg.CCCC/{UUID}")
    assert await where(UUID) is None
    with pytest.raises(ResolutionError, match=r"no member commons owns the prefix dg\.ZZZZ"):
        await where(f"dg.ZZZZ/{UUID}")
    with pytest.raises(ResolutionError, match=r"no member commons answers for DRS hostname z\.example"):
        await where(f"drs://z.example/{UUID}")
    with pytest.raises(InvalidIdentifier):
        await where("drs://gw.example/abc%25zz")


def test_a_prefix_no_member_owns_is_left_to_the_upstream_step_with_the_identifier_to_place():
    own = frozenset({"gw.example"})
    outer = parse_identifier(f"drs://gw.example/dg.ZZZZ%2F{UUID}")
    left = route_locally(outer, ROUTES, own_hostnames=own)
    assert isinstance(left, Identifier) and (left.kind, left.prefix, left.object_id) == (
        "prefixed", "dg.zzzz", f"dg.ZZZZ/{UUID}")  # the id inside the gateway's own URI, not the URI
    plain = parse_identifier(f"dg.ZZZZ/{UUID}")
    assert route_locally(plain, ROUTES, own_hostnames=own) is plain
    routed = route_locally(parse_identifier(f"dg.bbbb/{UUID}"), ROUTES, own_hostnames=own)
    assert not isinstance(routed, Identifier) and routed is not None and (routed.member, routed.route) == (B, "prefix")
    assert route_locally(parse_identifier(UUID), ROUTES, own_hostnames=own) is None


def test_spellings():
    assert spellings(parse_identifier(f"dg.aaaa/{UUID}")) == [f"dg.aaaa/{UUID}", f"dg.AAAA/{UUID}"]
    assert spellings(parse_identifier(f"dg.AAAA/{UUID}")) == [f"dg.AAAA/{UUID}"]
    assert spellings(parse_identifier(UUID)) == [UUID]


# --- a fan-out's answers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("answers", "broken", "status", "says"), [
    ({"a": {}, "b": {}, "c": {}}, [], 404, "x-1 is in none of the 3 member commons asked"),
    ({"a": {}, "b": MemberUnavailable("b", "down"), "c": {}}, [], 502, "these members failed: b"),
    ({"a": {}, "b": {}}, ["c"], 502, "these members failed: c"),
    ({"a": {}, "b": MemberTimeout("b", "slow"), "c": {}}, [], 504, "still answering or failed: b"),
    ({"a": {}, "c": MemberUnavailable("c", "down")}, [], 504, "still answering or failed: b, c"),
])
def test_an_id_nobody_answered_with(answers, broken, status, says):
    out = everyone_outcomes([A, B, C], answers, broken, [("x", parse_identifier("x-1"))])["x"]
    assert isinstance(out, ResolutionError) and out.status == status and says in out.message, out.message
