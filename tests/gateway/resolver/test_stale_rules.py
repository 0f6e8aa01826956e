"""The pure rules behind issue 14's stale and false answers: a fan-out that left a member out says 503 (never a
404), a cached hit carries when its record was fetched, cache keys carry the generation, and a purge covers an id's
usual spellings."""

from __future__ import annotations

from gateway.core.member import Member, Status
from gateway.core.records import MemberRecord
from gateway.registry.directory import Routes
from gateway.resolver.cache_entries import cache_key, hit_entry, read_entry
from gateway.resolver.holders import everyone_outcomes
from gateway.resolver.identifiers import parse_identifier
from gateway.resolver.outcomes import Resolution, ResolutionError
from gateway.resolver.purge import parsed, spellings

UUID = "6f1c0e2a-9b1d-4c3e-8f00-0123456789ab"


def member(mid: str, prefix: str) -> Member:
    return Member(id=mid, name=mid, base_url=f"https://{mid}.example", kind="gen3", prefixes=(prefix,), hostnames=(),
                  status=Status.active)


A, B = member("a", "dg.aaaa"), member("b", "dg.bbbb")
ROUTES = Routes.build(1, [A, B])


def test_nobody_asked_has_it_but_a_member_was_left_out_503_naming_it_not_cached_as_a_miss():
    items = [(UUID, parse_identifier(UUID))]
    answers = {"a": {}}
    out = everyone_outcomes([A], dict(answers), [], items, left_out=["b"], retry_after=7)[UUID]
    assert isinstance(out, ResolutionError) and out.status == 503 and out.retry_after == 7
    assert "b" in out.message and "1 member commons asked" in out.message
    assert everyone_outcomes([A], dict(answers), [], items)[UUID].status == 404  # type: ignore[union-attr]
    held = everyone_outcomes([A], {"a": {UUID: MemberRecord("a", UUID, "indexd", {})}}, [], items, left_out=["b"])
    assert isinstance(held[UUID], Resolution)  # found among those asked: answered


def test_a_cached_hit_says_when_its_record_was_fetched():
    ident = parse_identifier(f"dg.aaaa/{UUID}")
    hit = Resolution(ident, A, MemberRecord("a", ident.object_id, "indexd", {"authz": ["/x"]}), "prefix")
    back = read_entry(ident, hit_entry(hit, 1000.0), ROUTES.members)
    assert isinstance(back, Resolution) and back.fetched_at == 1000.0 and back.age(1030.5) == 30.5
    assert hit.age(5.0) == 0.0  # fresh from the member
    old = b'{"m": "a", "id": "x", "f": "indexd", "d": {}, "r": "prefix"}'  # written before fetch times existed
    back = read_entry(ident, old, ROUTES.members)
    assert isinstance(back, Resolution) and back.age(1.0e9) > 1.0e8  # too old for any decision


def test_keys_carry_the_generation_and_a_purge_covers_the_usual_spellings():
    ident = parse_identifier(UUID)
    assert cache_key(1, ident, 0) != cache_key(1, ident, 1) != cache_key(2, ident, 1)
    assert spellings(parse_identifier(f"dg.AAAA/{UUID}")) == [f"dg.AAAA/{UUID}", UUID, f"drs://dg.AAAA:{UUID}"]
    assert spellings(parse_identifier(f"drs://dg.aaaa:{UUID}")) == [f"drs://dg.aaaa:{UUID}", UUID, f"dg.aaaa/{UUID}"]
    assert list(parsed([UUID])) == [UUID]
