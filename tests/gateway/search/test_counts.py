"""The cohort-search data model and the merge across members (gateway.search.counts): pure, no I/O."""

from __future__ import annotations

import pytest

from gateway.members.search import TOTAL, ZERO, Count
from gateway.search.counts import (
    ANSWERED,
    Cell,
    MemberAnswer,
    SourceStatus,
    Status,
    buckets,
    merge,
    total,
)
from gateway.wire.guppy import MISSING_DATA_ALIAS as MISSING_ALIAS

TEN_FOUR = Count(10, 4)


def answer(commons: str, status: str = "ok", n: Count | None = TEN_FOUR, **histograms) -> MemberAnswer:
    return MemberAnswer(commons, Status(status), 12, n if Status(status) in ANSWERED else None, histograms)


def test_count_parts_and_validation():
    c = Count(10, 3)
    assert (c.all, c.accessible, c.inaccessible) == (10, 3, 7)
    assert c + Count(5, 5) == Count(15, 8)
    assert total([c, Count(1, 0), ZERO]) == Count(11, 3)
    assert total([]) == ZERO
    assert Count(0, 0).inaccessible == 0
    for bad in [(-1, 0), (3, 4), (3, -1)]:
        with pytest.raises(ValueError):
            Count(*bad)
    for bad in [(True, 0), (1.0, 1), ("2", 1)]:
        with pytest.raises(TypeError):
            Count(*bad)


def test_status_vocabulary_is_exact():
    assert [s.value for s in Status] == ["ok", "partial", "timeout", "error", "unsupported", "stale"]
    assert {Status.OK, Status.PARTIAL, Status.STALE} == ANSWERED
    assert Status("stale") is Status.STALE
    with pytest.raises(ValueError):
        Status("failed")


def test_member_answer_validation():
    a = MemberAnswer("m1", "partial", 5, Count(2, 1))
    assert a.status is Status.PARTIAL and a.answered
    with pytest.raises(ValueError, match="needs a total"):
        MemberAnswer("m1", "ok", 5)
    with pytest.raises(ValueError):
        MemberAnswer("m1", "nope", 5, Count(1, 1))
    with pytest.raises(ValueError):
        MemberAnswer("m1", "ok", -1, Count(1, 1))
    timeout = MemberAnswer("m1", "timeout", 30000, error="deadline exceeded")
    assert not timeout.answered and timeout.total is None


def test_buckets_file_missing_values_under_the_alias():
    got = buckets({None: Count(2, 1), "no data": Count(3, 3), "a": Count(1, 0)})
    assert got == {"no data": Count(5, 4), "a": Count(1, 0)}
    assert buckets({None: Count(2, 1)}, "unknown") == {"unknown": Count(2, 1)}
    assert MISSING_ALIAS == "no data"


def test_merge_sums_totals_and_buckets_over_answered_members():
    answers = [
        answer("m1", n=Count(10, 4), sex={"female": Count(6, 2), "male": Count(4, 2)}),
        answer("m2", "partial", n=Count(5, 5), sex={"male": Count(3, 3), None: Count(2, 2)}),
        answer("m3", "stale", n=Count(7, 0), sex={"female": Count(7, 0)}, race={"x": Count(7, 0)}),
        answer("m4", "timeout"),
        answer("m5", "error"),
        answer("m6", "unsupported"),
    ]
    m = merge(answers)
    assert [a.commons for a in m.answers] == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert [a.commons for a in m.counted] == ["m1", "m2", "m3"]
    assert m.total.count == Count(22, 9)
    assert m.total.parts == (("m1", Count(10, 4)), ("m2", Count(5, 5)), ("m3", Count(7, 0)))
    assert list(m.histograms) == ["sex", "race"]
    sex = m.histograms["sex"]
    assert list(sex) == ["female", "male", "no data"]
    assert {k: c.count for k, c in sex.items()} == {
        "female": Count(13, 2),
        "male": Count(7, 5),
        "no data": Count(2, 2),
    }
    assert sex["female"].parts == (("m1", Count(6, 2)), ("m3", Count(7, 0)))
    assert m.histograms["race"]["x"].parts == (("m3", Count(7, 0)),)


def test_merge_ignores_counts_of_members_that_did_not_answer():
    failed = MemberAnswer("m2", "error", 3, Count(100, 0), {"sex": {"a": Count(100, 0)}}, error="boom")
    m = merge([answer("m1", n=Count(1, 1)), failed])
    assert m.total.count == Count(1, 1)
    assert m.histograms == {}


def test_merge_custom_alias_and_empty():
    m = merge([answer("m1", n=Count(2, 0), f={None: Count(2, 0)})], missing_alias="unknown")
    assert list(m.histograms["f"]) == ["unknown"] and m.missing_alias == "unknown"
    empty = merge([])
    assert empty.total == Cell() and empty.total.count == ZERO and empty.counted == ()


def test_merge_rejects_two_answers_from_one_member():
    with pytest.raises(ValueError, match="two answers"):
        merge([answer("m1"), answer("m1", "timeout")])


def test_source_status_defaults():
    s = SourceStatus("m1", Status.TIMEOUT, 5000, error="deadline")
    assert (s.count, s.hidden) == (None, False)


# --- cells a member hid itself ----------------------------------------------------------------------------------


def test_member_total_key_is_the_adapter_contracts():
    assert TOTAL == "_total"  # what adapters put in MemberCounts.hidden (and the tests below write out)
    hid = MemberAnswer("a", Status.OK, 1, Count(5, 5), hidden=frozenset({TOTAL}), hidden_accessible={TOTAL: 2})
    assert hid.total_hidden and hid.accessible_total == 2


def test_merge_marks_member_hidden_cells_and_ignores_their_numbers():
    a = MemberAnswer("a", Status.OK, 3, Count(100, 90), {"sex": {"F": Count(60, 60), "M": Count(5, 0)}},
                     hidden=frozenset({("sex", "M"), ("sex", None)}))
    b = MemberAnswer("b", Status.OK, 3, Count(0, 0), {"sex": {"M": Count(70, 70)}}, hidden=frozenset({"_total"}))
    m = merge([a, b])
    assert m.histograms["sex"]["F"] == Cell((("a", Count(60, 60)),))
    assert m.histograms["sex"]["M"] == Cell((("b", Count(70, 70)),), ("a",))  # a's 5 is not counted
    assert m.histograms["sex"][MISSING_ALIAS] == Cell((), ("a",))
    assert m.total == Cell((("a", Count(100, 90)),), ("b",))
    assert a.reports("sex") and not a.reports("race")
    assert MemberAnswer("c", Status.OK, 1, Count(1, 1), hidden={("race", "x")}).reports("race")


def test_hidden_cells_of_an_answer_that_did_not_count_are_ignored():
    a = MemberAnswer("a", Status.TIMEOUT, 3, hidden=frozenset({"_total", ("sex", "M")}))
    m = merge([a])
    assert m.total == Cell() and m.histograms == {}


def test_an_answer_keeps_the_accessible_part_of_its_hidden_cells_only_for_hidden_cells():
    a = MemberAnswer("a", Status.OK, 3, Count(0, 0), hidden=frozenset({"_total", ("sex", "M")}),
                     hidden_accessible={"_total": 40})
    assert a.accessible_total == 40 and a.hidden_accessible == {"_total": 40}
    assert MemberAnswer("b", Status.OK, 3, Count(0, 0), hidden=frozenset({"_total"})).accessible_total is None
    assert MemberAnswer("c", Status.OK, 3, Count(9, 4)).accessible_total == 4
    assert MemberAnswer("d", Status.TIMEOUT, 3).accessible_total is None
    with pytest.raises(ValueError):  # not a hidden cell
        MemberAnswer("e", Status.OK, 3, Count(9, 4), hidden_accessible={("sex", "M"): 1})
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError):
            MemberAnswer("e", Status.OK, 3, Count(9, 4), hidden=frozenset({"_total"}),
                         hidden_accessible={"_total": bad})


def test_merge_keeps_the_told_accessible_parts_of_member_hidden_cells():
    a = MemberAnswer("a", Status.OK, 3, Count(0, 0), {"sex": {"F": Count(60, 60), None: Count(9, 2)}},
                     hidden=frozenset({"_total", ("sex", "M"), ("sex", MISSING_ALIAS)}),
                     hidden_accessible={"_total": 70, ("sex", "M"): 4, ("sex", MISSING_ALIAS): 1})
    b = MemberAnswer("b", Status.OK, 3, Count(0, 0), {"sex": {"F": Count(5, 5)}},
                     hidden=frozenset({"_total", ("sex", "M"), ("sex", "X")}), hidden_accessible={("sex", "M"): 6})
    m = merge([a, b])
    assert m.total == Cell((), ("a", "b"), (("a", 70),)) and m.total.accessible_hidden is None  # b did not tell
    assert m.histograms["sex"]["M"] == Cell((), ("a", "b"), (("a", 4), ("b", 6)))
    assert m.histograms["sex"]["M"].accessible_hidden == 10
    assert m.histograms["sex"]["X"].accessible_hidden is None
    # a's None bucket is filed with its hidden "no data" one, so dropped from the merge: its accessible 2 joins
    assert m.histograms["sex"][MISSING_ALIAS] == Cell((), ("a",), (("a", 3),))
    assert merge([MemberAnswer("c", Status.OK, 1, Count(1, 1))]).total.accessible_hidden == 0
