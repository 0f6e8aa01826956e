"""What an export's plan takes from the members' counts (gateway.export.plan): an export holds accessible
data only, so a count a member hid is still known when the member told its accessible part. Pure, no I/O."""

from __future__ import annotations

from gateway.export.plan import _projects, member_count
from gateway.members.search import Count
from gateway.search.counts import MemberAnswer, Status

HIDDEN_TOTAL = frozenset({"_total"})


def test_member_count_is_the_accessible_total_even_when_the_member_hid_its_all_total():
    assert member_count(MemberAnswer("a", Status.OK, 1, Count(90, 40))) == 40
    told = MemberAnswer("b", Status.OK, 1, Count(0, 0), hidden=HIDDEN_TOTAL, hidden_accessible={"_total": 37})
    assert member_count(told) == 37
    assert member_count(MemberAnswer("c", Status.OK, 1, Count(0, 0), hidden=HIDDEN_TOTAL)) is None  # unknown
    assert member_count(MemberAnswer("d", Status.TIMEOUT, 1)) is None


def test_projects_are_those_with_accessible_records_hidden_buckets_included_unless_known_empty():
    answer = MemberAnswer(
        "a", Status.OK, 1, Count(100, 30),
        {"project_id": {"P-A": Count(50, 30), "P-B": Count(20, 0), None: Count(3, 3)}},
        hidden=frozenset({("project_id", "P-C"), ("project_id", "P-D"), ("project_id", "P-E")}),
        hidden_accessible={("project_id", "P-C"): 4, ("project_id", "P-D"): 0},
    )
    # P-B: nothing accessible; P-D: hidden, but the member said none of it is accessible; P-E: might have some
    assert _projects(answer) == ["P-A", "P-C", "P-E"]
