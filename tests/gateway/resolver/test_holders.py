"""The ownership rule for ids no route decides (gateway.resolver.holders), as pure functions: which records a member
may answer with, who holds an id once every member answered (one holder, established or not; several: 409 with the
candidates), the ``drs://`` URI each candidate is named by, and how those answers are cached
(gateway.resolver.cache_entries); a lie counted in the member's health (gateway.registry.health)."""

from __future__ import annotations

import pytest

from gateway.core.errors import MemberUnavailable
from gateway.core.member import Member, Status
from gateway.core.records import MemberRecord, Probe
from gateway.registry.directory import Routes
from gateway.registry.health import HealthRecord, lied_record, next_record
from gateway.resolver.cache_entries import hit_entry, miss_entry, read_entry
from gateway.resolver.holders import Lie, drs_uri, everyone_outcomes, refusal, vet
from gateway.resolver.identifiers import parse_identifier
from gateway.resolver.outcomes import Candidate, Resolution, ResolutionError

UUID = "6f1c0e2a-9b1d-4c3e-8f00-0123456789ab"


def member(mid: str, prefixes: tuple[str, ...] = (), hostnames: tuple[str, ...] = (), kind: str = "gen3") -> Member:
    return Member(id=mid, name=mid.upper(), base_url=f"http://{mid}.example", kind=kind,
                  prefixes=prefixes, hostnames=hostnames, status=Status.active, source="config")


A = member("a", ("dg.aaaa",))
B = member("b", ("dg.bbbb", "dg.bbb2"), ("b.example",))
D = member("d", hostnames=("drs.d.example:8443",), kind="drs")
N = member("n", kind="drs")
ROUTES = Routes.build(3, [A, B, D, N])
OWNERS = ROUTES.by_prefix


def rec(m: Member, oid: str) -> MemberRecord:
    return MemberRecord(m.id, oid, "indexd", {"did": oid})


# --- which records a member may answer with -----------------------------------------------------------------


@pytest.mark.parametrize(("who", "did"), [
    (A, UUID), (A, UUID.upper()), (A, f"dg.aaaa/{UUID}"), (A, f"dg.AAAA/{UUID}"), (B, f"dg.bbb2/{UUID}"),
    (N, UUID),
])
def test_a_record_naming_the_id_asked_under_its_own_prefix_or_none_is_accepted(who, did):
    assert refusal(UUID, did, who, OWNERS) is None


@pytest.mark.parametrize(("who", "did", "says"), [
    (A, f"dg.bbbb/{UUID}", "under the prefix dg.bbbb of member commons b"),
    (N, f"dg.AAAA/{UUID}", "under the prefix dg.aaaa of member commons a"),
    (A, f"dg.zzzz/{UUID}", "under the prefix dg.zzzz, which it does not own"),
    (A, "another-id", "a record of another id"),
    (A, f"{UUID}-x", "a record of another id"),
    (A, f"x/{UUID}", "a record of another id"),  # not a prefix
    (A, f"dg.aaaa/other/{UUID}", "a record of another id"),
])
def test_any_other_record_is_refused(who, did, says):
    reason = refusal(UUID, did, who, OWNERS)
    assert reason is not None and says in reason
    assert UUID not in reason, "the reason (shown in the public health record) names no id; the log does"


def test_vet_takes_the_refused_records_out_and_lists_them():
    answers = {"a": {UUID: rec(A, f"dg.bbbb/{UUID}"), "ok": rec(A, "ok")}, "b": MemberUnavailable("b", "down"),
               "n": {}}
    kept, lies = vet([A, B, N], answers, OWNERS)
    assert kept == {"a": {"ok": rec(A, "ok")}, "b": answers["b"], "n": {}}
    assert lies == [Lie("a", UUID, f"dg.bbbb/{UUID}", "a record under the prefix dg.bbbb of member commons b")]


# --- who holds it ------------------------------------------------------------------------------------------


def test_one_holder_among_members_that_all_answered_is_established():
    out = everyone_outcomes([A, B, N], {"a": {}, "b": {UUID: rec(B, f"dg.bbbb/{UUID}")}, "n": {}}, [],
                            [("u", parse_identifier(UUID))])["u"]
    assert isinstance(out, Resolution) and out.member is B and out.route == "fanout"
    assert out.established and out.owner_known


@pytest.mark.parametrize(("answers", "broken"), [
    ({"a": {}, "b": {UUID: rec(B, UUID)}, "n": MemberUnavailable("n", "down")}, []),
    ({"a": {}, "b": {UUID: rec(B, UUID)}}, []),  # n never answered
    ({"a": {}, "b": {UUID: rec(B, UUID)}}, ["n"]),
])
def test_one_holder_while_some_member_did_not_answer_is_answered_but_not_established(answers, broken):
    out = everyone_outcomes([A, B, N], answers, broken, [("u", parse_identifier(UUID))])["u"]
    assert isinstance(out, Resolution) and out.member is B
    assert not out.established and not out.owner_known


def test_several_holders_make_the_id_ambiguous_whatever_the_order():
    answers = {"n": {UUID: rec(N, UUID)}, "a": {UUID: rec(A, f"dg.AAAA/{UUID}")}, "d": {UUID: rec(D, UUID)},
               "b": MemberUnavailable("b", "down")}
    out = everyone_outcomes([A, B, D, N], answers, [], [("u", parse_identifier(UUID))])["u"]
    assert isinstance(out, ResolutionError) and out.status == 409
    assert out.candidates == (Candidate("a", f"dg.AAAA/{UUID}", f"drs://dg.AAAA:{UUID}"),
                              Candidate("d", UUID, f"drs://drs.d.example:8443/{UUID}"),
                              Candidate("n", UUID, None))
    assert "held by 3 member commons (a, d, n)" in out.message


def test_a_candidate_is_named_by_its_own_prefix_else_its_hostname():
    assert drs_uri(B, f"dg.bbbb/{UUID}") == f"drs://dg.bbbb:{UUID}"
    assert drs_uri(B, UUID) == f"drs://b.example/{UUID}"
    assert drs_uri(B, "a/b") == "drs://b.example/a%2Fb"
    assert drs_uri(A, UUID) is None
    uri = drs_uri(D, UUID)
    assert uri is not None and parse_identifier(uri).hostname == "drs.d.example:8443"


# --- what is cached ---------------------------------------------------------------------------------------


def test_the_cache_keeps_whether_the_holder_was_established():
    ident = parse_identifier(UUID)
    for established in (True, False):
        hit = Resolution(ident, B, rec(B, UUID), "fanout", established=established)
        back = read_entry(ident, hit_entry(hit), ROUTES.members)
        assert isinstance(back, Resolution) and back.established is established and back.cached
    old = b'{"m": "b", "id": "x", "f": "indexd", "d": {}, "r": "fanout"}'  # written before the mark existed
    back = read_entry(ident, old, ROUTES.members)
    assert isinstance(back, Resolution) and not back.owner_known


def test_an_ambiguous_id_is_cached_with_its_candidates():
    ident = parse_identifier(UUID)
    named = (Candidate("a", f"dg.aaaa/{UUID}", f"drs://dg.aaaa:{UUID}"), Candidate("n", UUID, None))
    back = read_entry(ident, miss_entry(ResolutionError(409, "held by 2", candidates=named)), ROUTES.members)
    assert isinstance(back, ResolutionError) and back.status == 409 and back.candidates == named


# --- a lie in the member's health -----------------------------------------------------------------------


def test_a_lie_is_a_failure_of_its_own_kind_that_no_probe_resets():
    prev = HealthRecord("healthy", 0, "t0", None, 5.0, (), "t0")
    lied = lied_record(prev, "refused 1 record(s): under the prefix of member commons b", at="t1", threshold=2,
                       history=5)
    assert lied.lies == 1 and lied.consecutive_failures == 1 and lied.state == "healthy" and lied.checked_at == "t0"
    assert lied.recent_failures == ({"at": "t1", "kind": "lied",
                                     "detail": "refused 1 record(s): under the prefix of member commons b"},)
    again = lied_record(lied, "again", at="t2", threshold=2, history=5)
    assert again.state == "unhealthy" and again.lies == 2
    probed = next_record(again, Probe(True, 3.0), at="t3", threshold=2, history=5)
    assert probed.state == "healthy" and probed.lies == 2 and len(probed.recent_failures) == 2
    assert HealthRecord.from_doc(probed.to_doc()) == probed
