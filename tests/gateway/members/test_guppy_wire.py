"""The Guppy wire format for cohort search, without any server: query texts (valid GraphQL, names checked,
filters only in variables) and how answers become :class:`MemberCounts` and :class:`RowsPage`."""

from __future__ import annotations

import pytest
from graphql import parse

from gateway.core.errors import MemberUnavailable
from gateway.members.guppy_wire import (
    GuppyQueryError,
    InvalidQuery,
    cohort_counts,
    counts_request,
    parse_counts,
    parse_rows,
    rows_request,
    unknown_fields,
)
from gateway.members.search import TOTAL, ZERO, CohortQuery, Count

Q = CohortQuery("subject", {"=": {"sex": "female"}}, ("sex", "project_id"))


def hist(**counts: int) -> dict:
    return {"asTextHistogram": [{"key": k, "count": c} for k, c in counts.items()]}


def answer(all_part: dict, accessible_part: dict, errors: list | None = None) -> dict:
    body: dict = {"data": {"all": {"subject": all_part}, "accessible": {"subject": accessible_part}}}
    if errors:
        body["errors"] = errors
    return body


def test_counts_request_is_one_graphql_operation_with_two_aliases():
    text, variables = counts_request(Q)
    document = parse(text)
    [operation] = document.definitions
    assert [s.alias.value for s in operation.selection_set.selections] == ["all", "accessible"]
    assert "accessibility: all" in text and "accessibility: accessible" in text
    assert text.count("sex { asTextHistogram { key count } }") == 2 and text.count("_totalCount") == 2
    assert variables == {"filter": {"=": {"sex": "female"}}}
    assert "female" not in text  # the filter travels only as a variable
    assert counts_request(CohortQuery("file"))[1] == {"filter": None}
    assert counts_request(CohortQuery("subject", None, ("sex", "sex")))[0].count("sex {") == 2  # once per alias


@pytest.mark.parametrize("bad", ["sex } } evil: subject { subject_id", "a-b", "1abc", "", "séx", "sex\n", None])
def test_names_are_checked_before_they_reach_the_query_text(bad):
    with pytest.raises(InvalidQuery):
        counts_request(CohortQuery("subject", None, (bad,)))  # type: ignore[arg-type]
    with pytest.raises(InvalidQuery):
        rows_request(CohortQuery("subject"), ["subject_id", bad], 0, 10)  # type: ignore[list-item]
    with pytest.raises(InvalidQuery):
        counts_request(CohortQuery(bad))  # type: ignore[arg-type]


def test_rows_request():
    text, variables = rows_request(Q, ["subject_id", "sex", "subject_id"], 20, 10)
    parse(text)
    assert "accessibility: accessible" in text and "accessibility: all" not in text
    assert "{ subject_id sex }" in text
    assert variables == {"filter": {"=": {"sex": "female"}}, "first": 10, "offset": 20}
    for fields, offset, limit in (([], 0, 10), (["sex"], -1, 10), (["sex"], 0, -1)):
        with pytest.raises(InvalidQuery):
            rows_request(Q, fields, offset, limit)


def test_parse_counts_pairs_all_and_accessible():
    got = parse_counts("m", Q, answer(
        {"_totalCount": 10, "sex": hist(female=6, male=4), "project_id": hist(A=7, B=3)},
        {"_totalCount": 5, "sex": hist(female=2, male=3), "project_id": hist(A=5)},
    ))
    assert got.total == Count(10, 5) and not got.hidden and not got.partial
    assert got.histograms == {"sex": {"female": Count(6, 2), "male": Count(4, 3)},
                              "project_id": {"A": Count(7, 5), "B": Count(3, 0)}}


def test_hidden_cells_are_reported_and_left_out():
    got = parse_counts("m", Q, answer(
        {"_totalCount": -1, "sex": hist(female=-1, male=4), "project_id": {"asTextHistogram": [
            {"key": None, "count": 2}, {"key": 7, "count": -1}]}},
        {"_totalCount": 5, "sex": hist(female=2, male=3),
         "project_id": {"asTextHistogram": [{"key": "7", "count": 1}]}},
    ))
    assert got.total == ZERO
    assert got.hidden == {TOTAL, ("sex", "female"), ("project_id", "7")}
    assert got.histograms == {"sex": {"male": Count(4, 3)}, "project_id": {None: Count(2, 0)}}
    # Guppy never hides accessible aggregations: the caller's own part of each hidden cell is still known
    assert got.hidden_accessible == {TOTAL: 5, ("sex", "female"): 2, ("project_id", "7"): 1}


def test_a_hidden_cell_keeps_its_accessible_part_only_when_the_member_gave_it():
    got = parse_counts("m", Q, answer(
        {"_totalCount": -1, "sex": hist(female=-1, male=-1, other=3), "project_id": hist(A=-1)},
        {"_totalCount": -1, "sex": hist(male=3, other=-1), "project_id": hist(A=-1)},
    ))
    assert got.hidden == {TOTAL, ("sex", "female"), ("sex", "male"), ("sex", "other"), ("project_id", "A")}
    # female: no accessible bucket, so none of it is accessible; the cells hidden in both parts stay unknown
    assert got.hidden_accessible == {("sex", "female"): 0, ("sex", "male"): 3}
    assert got.histograms == {"sex": {}, "project_id": {}}
    with pytest.raises(MemberUnavailable):  # a negative accessible count other than Guppy's -1 is no answer
        parse_counts("m", Q, answer({"_totalCount": -1}, {"_totalCount": -2}))


def test_graphql_errors():
    errors = [{"message": "Cannot query field 'nope' on type 'SubjectAggregation'.",
               "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]
    with pytest.raises(GuppyQueryError) as err:
        parse_counts("m", Q, {"errors": errors})
    assert isinstance(err.value, MemberUnavailable) and "nope" in err.value.detail and err.value.errors == errors
    assert "nope" not in str(err.value)  # the member's words: for the log only
    assert unknown_fields(errors) == {"nope"}
    assert unknown_fields([{"message": 'Cannot query field "x" on type "T".'}, "junk", {"message": 3}]) == {"x"}
    with pytest.raises(GuppyQueryError):
        parse_rows("m", Q, 0, 10, {"errors": errors, "data": None})


def test_facets_that_failed_while_others_worked_make_the_answer_partial():
    got = parse_counts("m", Q, answer(
        {"_totalCount": 10, "sex": hist(female=6, male=4), "project_id": None},
        {"_totalCount": 5, "sex": hist(female=2, male=3), "project_id": hist(A=5)},
        errors=[{"message": "internal server error", "path": ["all", "subject", "project_id"]}],
    ))
    assert got.partial and set(got.histograms) == {"sex"} and got.total == Count(10, 5)


@pytest.mark.parametrize("body", [
    [], "x", {"data": None}, {"data": {"all": {"subject": {"_totalCount": 1}}}},
    answer({"_totalCount": "1"}, {"_totalCount": 1}),
    answer({"_totalCount": 1}, {"_totalCount": 2}),  # more accessible than all
    answer({"_totalCount": 1, "sex": {"asTextHistogram": [{"key": "a"}]}}, {"_totalCount": 1, "sex": hist(a=1)}),
    answer({"_totalCount": 1, "sex": {"asTextHistogram": [{"key": True, "count": 1}]}},
           {"_totalCount": 1, "sex": hist(a=1)}),
])
def test_malformed_answers_are_unavailable(body):
    with pytest.raises(MemberUnavailable):
        parse_counts("m", Q, body)


def test_parse_rows_pages():
    rows = [{"subject_id": str(i)} for i in range(10)]
    total = {"subject": {"_totalCount": 25}}
    page = parse_rows("m", Q, 0, 10, {"data": {"rows": rows, "total": total}})
    assert page.rows == tuple(rows) and page.next_offset == 10 and page.total == 25
    last = parse_rows("m", Q, 20, 10, {"data": {"rows": rows[:5], "total": total}})
    assert last.next_offset is None and last.total == 25
    exact = parse_rows("m", Q, 15, 10, {"data": {"rows": rows, "total": total}})
    assert exact.next_offset is None  # 25 rows, all read
    unknown_total = parse_rows("m", Q, 0, 10, {"data": {"rows": rows, "total": None}})
    assert unknown_total.next_offset == 10 and unknown_total.total is None
    window = parse_rows("m", Q, 9_990, 10, {"data": {"rows": rows, "total": {"subject": {"_totalCount": 50_000}}}})
    assert window.next_offset is None  # Guppy serves no raw rows past 10 000
    for bad in ({"data": {"rows": None}}, {"data": {"rows": [1]}}, [], {"data": None}):
        with pytest.raises(MemberUnavailable):
            parse_rows("m", Q, 0, 10, bad)


async def test_unknown_facets_are_dropped_and_asked_again():
    sent: list[str] = []

    async def send(text: str, variables: dict) -> dict:
        sent.append(text)
        if "nope" in text:
            return {"errors": [{"message": "Cannot query field 'nope' on type 'SubjectAggregation'."}]}
        return answer({"_totalCount": -1, "sex": hist(a=3, b=-1)}, {"_totalCount": 2, "sex": hist(a=1, b=1)})

    got = await cohort_counts("m", CohortQuery("subject", None, ("sex", "nope")), send)
    assert len(sent) == 2 and got.partial and got.histograms == {"sex": {"a": Count(3, 1)}}
    assert got.hidden_accessible == {TOTAL: 2, ("sex", "b"): 1}  # kept through the second question

    async def broken(text: str, variables: dict) -> dict:
        return {"errors": [{"message": "Cannot query field 'subject' on type 'Aggregation'."}]}

    with pytest.raises(GuppyQueryError):  # not a facet: nothing to drop
        await cohort_counts("m", CohortQuery("subject", None, ("sex",)), broken)
