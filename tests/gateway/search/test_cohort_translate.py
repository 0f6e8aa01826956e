"""Cohort-search mappings (gateway.search.mapping.model, cohort_translate): start-up checks, questions in a
member's names, answers back in the gateway's, and properties against the reference commons' own Guppy filter
evaluator: a translated filter selects exactly the member rows whose mapped rows the original filter selects, and
translated histograms (hidden cells included) equal histograms of the mapped rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.members.search import TOTAL, CohortQuery, Count, MemberCounts, RowsPage
from gateway.search.mapping.model import CohortMappingError, IndexMapping, compile_cohort_mappings
from gateway.search.mapping.translate import (
    UntranslatableQuery,
    counts_to_gateway,
    row_to_gateway,
    rows_to_gateway,
    to_member,
)
from gateway.settings.aggregate import AggregateMappingSettings
from gateway.settings.gateway import Settings
from refcommons.guppy.filter import matches, parse

FIELDS = {"sex": "gender", "race": "race_label", "age": "age_years", "visits": "encounters"}
VALUES = {
    "sex": {"F": "female", "f": "female", "M": "male", "U": "unknown"},
    "tags": {"a": "alpha", "b": "alpha", "c": "gamma"},
    "visits.kind": {"ip": "inpatient", "op": "outpatient"},
}
GATEWAY_KINDS = {"sex": "text", "race": "text", "project": "text", "age": "number", "tags": "text",
                 "visits": "nested", "visits.kind": "text", "visits.days": "number"}
MEMBER_KINDS = {"gender": "text", "race_label": "text", "project": "text", "age_years": "number", "tags": "text",
                "encounters": "nested", "encounters.kind": "text", "encounters.days": "number"}
MAPPED_VALUES = {"sex", "tags", "visits.kind"}


def compile_(fields: Mapping[str, str] = FIELDS, values: Mapping[str, Any] = VALUES) -> IndexMapping:
    settings = AggregateMappingSettings(cohort={"m": {"subject": {"fields": dict(fields), "values": dict(values)}}})
    index = compile_cohort_mappings(settings.cohort)["m"].index("subject")
    assert index is not None
    return index


MAPPING = compile_()


def translate(flt: Any, facets: Iterable[str] = (), fields: Iterable[str] = ()) -> Any:
    question = to_member(MAPPING, "m", CohortQuery("subject", flt, tuple(facets)), tuple(fields))
    return question.query.filter


# --- start-up checks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index, words", [
    ({"fields": {"sex": "gender", "x": "gender"}}, "one-to-one"),
    ({"fields": {"visits.kind": "kind"}}, "nesting depth"),
    ({"fields": {"visits": "encounters", "visits.kind": "other.kind"}}, "stays under its parent"),
    ({"fields": {"visits.kind": "encounters.kind"}}, "stays under its parent"),
    ({"fields": {"sex": "gender"}, "values": {"gender": {"1": "x"}}}, "no such field for the gateway"),
    ({"values": {"sex": {}}}, "empty value map"),
    ({"values": {"sex": {"unknown": "no data"}}}, "cannot be mapped"),
    ({"values": {"sex": {"no data": "unknown"}}}, "cannot be mapped"),
    ({"fields": {"sex": "gen-der"}}, "not a Guppy field name"),
    ({"fields": {"1sex": "gender"}}, "not a Guppy field name"),
    ({"values": {"sex.": {"F": "female"}}}, "not a Guppy field name"),
    ({"fields": {"sex": "gender"}, "value": {}}, "Extra inputs"),
    ({"fields": {"sex": 1}}, "valid string"),
])
def test_bad_mappings_are_refused_at_start_up_naming_member_index_and_field(index, words):
    # the shape when the settings load, the meaning when the gateway starts (the cohort service compiles them)
    shape_only = "Extra" in words or "valid string" in words
    with pytest.raises(ValidationError if shape_only else CohortMappingError) as exc:
        settings = Settings(aggregate={"mappings": {"cohort": {"member-b": {"subject": index}}}})
        compile_cohort_mappings(settings.aggregate.mappings.cohort)
    assert words in str(exc.value)
    if not shape_only:
        assert str(exc.value).startswith("aggregate.mappings.cohort: member 'member-b', index 'subject'")


def test_only_the_two_indices_can_be_mapped():
    with pytest.raises(ValidationError, match="subject"):
        AggregateMappingSettings(cohort={"m": {"sample": {"fields": {"a": "b"}}}})


def test_names_both_ways_and_shadowed_names():
    assert MAPPING.member_field("sex") == "gender" and MAPPING.gateway_field("gender") == "sex"
    assert MAPPING.member_field("visits.kind") == "encounters.kind"  # children follow their renamed parent
    assert MAPPING.gateway_field("encounters.days") == "visits.days"
    assert MAPPING.member_field("project") == "project" and MAPPING.gateway_field("project") == "project"
    # the member's `gender` is the gateway's `sex`: the gateway's `gender` has no name there
    assert MAPPING.member_field("gender") is None and MAPPING.gateway_field("sex") is None
    swapped = compile_({"a": "b", "b": "a"}, {})
    assert (swapped.member_field("a"), swapped.member_field("b")) == ("b", "a")
    renamed_child = compile_({"visits": "encounters", "visits.kind": "encounters.type"}, {})
    assert renamed_child.member_field("visits.kind") == "encounters.type"
    assert renamed_child.gateway_field("encounters.type") == "visits.kind"


def test_member_values_of_a_gateway_value():
    assert MAPPING.member_values("sex", "female") == ("F", "f", "female")  # listed ones, then itself (unlisted)
    assert MAPPING.member_values("sex", "F") == ()  # the member's F is the gateway's female
    assert MAPPING.member_values("sex", "other") == ("other",)
    assert MAPPING.member_values("race", "x") == ("x",)
    explicit = compile_({}, {"sex": {"female": "female", "F": "female"}})
    assert explicit.member_values("sex", "female") == ("female", "F")


# --- questions ------------------------------------------------------------------------------------------------


def test_equality_on_a_mapped_field_asks_for_every_member_value():
    two = compile_({"sex": "gender"}, {"sex": {"F": "female"}})
    q = to_member(two, "m", CohortQuery("subject", {"=": {"sex": "female"}}))
    assert q.query.filter == {"IN": {"gender": ["F", "female"]}}
    assert translate({"=": {"sex": "nobody"}}) == {"=": {"gender": "nobody"}}  # unlisted: as it came
    assert translate({"=": {"sex": "no data"}}) == {"=": {"gender": "no data"}}
    assert translate({"=": {"sex": "M"}}) == {"IN": {"gender": []}}  # no member value is the gateway's M


def test_every_operator_on_a_mapped_field():
    assert translate({"in": {"sex": ["male", "no data"]}}) == {"in": {"gender": ["M", "male", "no data"]}}
    assert translate({"!=": {"sex": "female"}}) == {"!=": {"gender": ["F", "f", "female"]}}
    assert translate({"EXCLUDES_ANY": {"tags": ["alpha", "z"]}}) == {"EXCLUDES_ANY": {"tags": ["a", "b", "alpha",
                                                                                                "z"]}}
    assert translate({"CONTAINS_ALL": {"tags": ["alpha", "z"]}}) == {
        "AND": [{"IN": {"tags": ["a", "b", "alpha"]}}, {"CONTAINS_ALL": {"tags": ["z"]}}]}
    assert translate({"excludes_all": {"tags": ["alpha", "gamma"]}}) == {
        "OR": [{"EXCLUDES_ANY": {"tags": ["a", "b", "alpha"]}}, {"EXCLUDES_ANY": {"tags": ["c", "gamma"]}}]}
    assert translate({"IN": {"tags": ["z", "y"]}}) == {"IN": {"tags": ["z", "y"]}}


def test_renames_reach_everywhere():
    flt = {"AND": [
        {"OR": [{">=": {"age": 30}}, {"=": {"race": "w"}}, {}]},
        {"nested": {"path": "visits", "AND": [{"=": {"kind": "inpatient"}}, {"<": {"days": 3}}]}},
        {"search": {"keyword": "wh", "fields": ["race", "project"]}},
        {"search": {"keyword": "wh", "fields": "race"}},
    ]}
    assert translate(flt, ["sex", "race", "project"], ["race", "age"]) == {"AND": [
        {"OR": [{">=": {"age_years": 30}}, {"=": {"race_label": "w"}}, {}]},
        {"nested": {"path": "encounters", "AND": [{"IN": {"kind": ["ip", "inpatient"]}}, {"<": {"days": 3}}]}},
        {"search": {"keyword": "wh", "fields": ["race_label", "project"]}},
        {"search": {"keyword": "wh", "fields": "race_label"}},
    ]}
    q = to_member(MAPPING, "m", CohortQuery("subject", None, ("sex", "race", "gender", "project")),
                  ("race", "gender", "subject_id"))
    assert q.query.facets == ("gender", "race_label", "project") and q.dropped_facets == ("gender",)
    assert q.fields == ("race_label", "subject_id")
    assert dict(q.facet_names) == {"gender": "sex", "race_label": "race", "project": "project"}


@pytest.mark.parametrize("flt, words", [
    ({">": {"sex": "female"}}, "whose values are mapped"),
    ({"nested": {"path": "visits", "lte": {"kind": "inpatient"}}}, "whose values are mapped"),
    ({"search": {"keyword": "fem", "fields": ["sex"]}}, "whose values are mapped"),
    ({"search": {"keyword": "fem"}}, "without fields"),
    ({"=": {"gender": "F"}}, "no field 'gender'"),
    ({"AND": [{"=": {"sex": ["female"]}}]}, "takes one value"),
    ({"=": {"sex": {"a": 1}}}, "strings or numbers"),
    ({"=": {"race": "w"}, "IN": {"race": ["w"]}}, "one operator"),
])
def test_what_cannot_be_translated_exactly_is_refused_with_the_reason(flt, words):
    with pytest.raises(UntranslatableQuery, match=words) as exc:
        translate(flt)
    assert "member 'm'" in str(exc.value)


def test_a_search_without_fields_is_fine_where_no_values_are_mapped():
    renamed = compile_({"sex": "gender"}, {})
    q = to_member(renamed, "m", CohortQuery("subject", {"search": {"keyword": "fe"}}))
    assert q.query.filter == {"search": {"keyword": "fe"}}


# --- answers --------------------------------------------------------------------------------------------------


def test_buckets_that_become_one_are_summed_and_a_hidden_part_hides_the_whole():
    question = to_member(MAPPING, "m", CohortQuery("subject", None, ("sex", "race", "project")))
    counts = MemberCounts(
        total=Count(90, 40),
        histograms={
            "gender": {"F": Count(10, 4), "f": Count(3, 1), "female": Count(20, 20), "M": Count(30, 10),
                       "male": Count(1, 0), None: Count(2, 2), "x": Count(1, 1)},
            "race_label": {"w": Count(50, 20), "b": Count(35, 20)},
            "project": {"p1": Count(90, 40)},
        },
        hidden=frozenset({("race_label", "a"), ("gender", "U"), TOTAL}),
    )
    out = counts_to_gateway(MAPPING, question, counts)
    assert out.total == Count(90, 40) and TOTAL in out.hidden and not out.partial
    assert out.histograms["sex"] == {"female": Count(33, 25), "male": Count(31, 10), None: Count(2, 2),
                                     "x": Count(1, 1)}
    assert out.hidden == {TOTAL, ("race", "a"), ("sex", "unknown")}
    assert out.histograms["race"] == {"w": Count(50, 20), "b": Count(35, 20)}
    # a hidden member cell merged with visible ones hides the gateway bucket; the visible numbers are dropped
    hiding = MemberCounts(Count(90, 40), {"gender": {"F": Count(10, 4), "female": Count(20, 20)}},
                          frozenset({("gender", "f")}))
    out = counts_to_gateway(MAPPING, question, hiding)
    assert out.histograms["sex"] == {} and out.hidden == {("sex", "female")}
    assert out.hidden_accessible == {}  # the member did not say how much of "f" is accessible: nobody knows
    # it did: the gateway bucket's accessible part is its visible parts' plus the hidden one's
    told = MemberCounts(Count(0, 0), hiding.histograms, frozenset({TOTAL, ("gender", "f"), ("gender", "U")}),
                        hidden_accessible={TOTAL: 40, ("gender", "f"): 1})
    out = counts_to_gateway(MAPPING, question, told)
    assert out.hidden_accessible == {TOTAL: 40, ("sex", "female"): 25}
    assert out.hidden == {TOTAL, ("sex", "female"), ("sex", "unknown")}


def test_a_facet_the_member_has_no_name_for_makes_the_answer_partial():
    question = to_member(MAPPING, "m", CohortQuery("subject", None, ("gender",)))
    assert question.query.facets == ()
    out = counts_to_gateway(MAPPING, question, MemberCounts(Count(5, 5)))
    assert out.partial and out.histograms == {}


def test_rows_are_renamed_and_their_values_mapped():
    question = to_member(MAPPING, "m", CohortQuery("subject"), ("sex", "tags", "visits", "age", "subject_id"))
    page = RowsPage((
        {"gender": "F", "tags": ["a", "c", "z"], "encounters": [{"kind": "ip", "days": 2}, {"kind": "er"}],
         "age_years": 41, "subject_id": "s1"},
        {"gender": "x", "subject_id": "s2"},
    ), next_offset=2, total=9)
    out = rows_to_gateway(MAPPING, question, page)
    assert out.next_offset == 2 and out.total == 9
    assert out.rows == (
        {"sex": "female", "tags": ["alpha", "gamma", "z"], "visits": [{"kind": "inpatient", "days": 2},
                                                                     {"kind": "er"}],
         "age": 41, "subject_id": "s1"},
        {"sex": "x", "subject_id": "s2"},
    )
    numeric = compile_({}, {"sex": {"1": "female"}})
    assert row_to_gateway(numeric, {"sex": 1, "other": 1}) == {"sex": "female", "other": 1}
    assert row_to_gateway(MAPPING, {"sex": "F"}) == {}  # the member's `sex` has no gateway name


# --- properties -----------------------------------------------------------------------------------------------

GENDERS = ["F", "f", "M", "U", "female", "male", "x"]
TAGS = ["a", "b", "c", "alpha", "z"]
KINDS = ["ip", "op", "inpatient", "er"]
TEXT_POOL = ["female", "male", "unknown", "F", "f", "M", "x", "no data", "alpha", "gamma", "a", "b", "c", "z", "w",
             "p1", "inpatient", "outpatient", "ip", "er", "other"]

member_rows = st.lists(st.fixed_dictionaries({}, optional={
    "gender": st.sampled_from(GENDERS),
    "race_label": st.sampled_from(["w", "b", "a"]),
    "project": st.sampled_from(["p1", "p2"]),
    "age_years": st.integers(0, 5),
    "tags": st.lists(st.sampled_from(TAGS), max_size=3),
    "encounters": st.lists(st.fixed_dictionaries({}, optional={"kind": st.sampled_from(KINDS),
                                                               "days": st.integers(0, 3)}), max_size=3),
    "acc": st.booleans(),
}), max_size=12)

TEXT_OPS = {"=": "one", "eq": "one", "!=": "either", "IN": "list", "in": "list", "CONTAINS_ANY": "list",
            "CONTAINS_ALL": "list", "EXCLUDES_ANY": "list", "EXCLUDES_ALL": "list", "excludes_all": "list",
            ">": "one", "<=": "one"}  # ranges: a syntax error on a text field, refused first on a mapped one
NUMBER_OPS = {"=": "one", "!=": "one", ">": "one", ">=": "one", "<": "one", "<=": "one", "GT": "one", "lte": "one",
              "IN": "list"}


def operand(shape: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    many = st.lists(values, min_size=1, max_size=3)
    return {"one": values, "list": many, "either": st.one_of(values, many)}[shape]


def leaf(fields: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """One comparison, the operator drawn evenly among those the field's kind takes."""
    def build(field: str) -> st.SearchStrategy[dict[str, Any]]:
        ops, values = ((TEXT_OPS, st.sampled_from(TEXT_POOL)) if fields[field] == "text" else
                       (NUMBER_OPS, st.integers(-1, 6)))
        return st.sampled_from(sorted(ops)).flatmap(
            lambda op: operand(ops[op], values).map(lambda v: {op: {field: v}}))

    return st.sampled_from(sorted(f for f, k in fields.items() if k != "nested")).flatmap(build)


TOP = {k: v for k, v in GATEWAY_KINDS.items() if "." not in k and v != "nested"}
INNER = {k.split(".", 1)[1]: v for k, v in GATEWAY_KINDS.items() if k.startswith("visits.")}


def combined(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(lambda op, items: {op: items}, st.sampled_from(["AND", "OR", "and"]),
                     st.lists(inner, max_size=3))


nested_filters = st.builds(lambda inner: {"nested": {"path": "visits", **inner}},
                           st.recursive(leaf(INNER), combined, max_leaves=3))
searches = st.builds(lambda kw, fields: {"search": {"keyword": kw, **fields}},
                     st.sampled_from(["fe", "al", "wh", "ma"]),
                     st.one_of(st.just({}), st.builds(lambda f: {"fields": f},
                                                      st.lists(st.sampled_from(["race", "project", "sex"]),
                                                               min_size=1, max_size=2, unique=True))))
gateway_filters = st.recursive(st.one_of(leaf(TOP), nested_filters, searches), combined, max_leaves=6)


def refused(flt: Any, prefix: str = "") -> bool:
    """What the translation must refuse: a range or search on a value-mapped field, or a search without fields."""
    ((op, arg),) = flt.items() if flt else ((None, None),)
    if op is None:
        return False
    if op.lower() in ("and", "or"):
        return any(refused(item, prefix) for item in arg)
    if op == "nested":
        return refused({k: v for k, v in arg.items() if k != "path"}, prefix + arg["path"] + ".")
    if op == "search":
        return "fields" not in arg or any(prefix + f in MAPPED_VALUES for f in arg["fields"])
    ((field, _),) = arg.items()
    return op in (">", "<=", ">=", "<", "GT", "lte") and prefix + field in MAPPED_VALUES


def text_kind_ops_are_valid(flt: Any) -> bool:
    """Range operators on text fields are Guppy syntax errors (not the translation's business)."""
    try:
        parse(flt, GATEWAY_KINDS)
    except ValueError:
        return False
    return True


@settings(max_examples=1000, deadline=None)
@given(rows=member_rows, flt=gateway_filters)
def test_a_translated_filter_selects_exactly_the_rows_the_original_selects_once_mapped(rows, flt):
    if not text_kind_ops_are_valid(flt):
        return
    if refused(flt):
        with pytest.raises(UntranslatableQuery):
            translate(flt)
        return
    member_filter = parse(translate(flt), MEMBER_KINDS)
    gateway_filter = parse(flt, GATEWAY_KINDS)
    for row in rows:
        assert matches(member_filter, row) == matches(gateway_filter, row_to_gateway(MAPPING, row)), (row, flt)


def histogram(rows: Iterable[Mapping[str, Any]], field: str) -> dict[str | None, Count]:
    """Guppy's text histogram split by access: each row once per distinct value, ``None`` for none."""
    everything: dict[str | None, int] = {}
    accessible: dict[str | None, int] = {}
    for row in rows:
        value = row.get(field)
        keys = set(value) if isinstance(value, list) else {value}
        for key in keys or {None}:
            everything[key] = everything.get(key, 0) + 1
            accessible[key] = accessible.get(key, 0) + bool(row.get("acc"))
    return {k: Count(n, accessible[k]) for k, n in everything.items()}


CELLS = st.tuples(st.sampled_from(["gender", "race_label"]), st.sampled_from([*GENDERS, "w", "b", "a", None]))


@settings(max_examples=300, deadline=None)
@given(rows=member_rows, hide=st.sets(CELLS, max_size=3), untold=st.sets(CELLS, max_size=2))
def test_translated_histograms_equal_the_mapped_rows_histograms_and_hidden_cells_stay_hidden(rows, hide, untold):
    facets = ("sex", "race")  # single-valued fields
    question = to_member(MAPPING, "m", CohortQuery("subject", None, facets))
    member = {m: histogram(rows, m) for m in question.query.facets}
    hidden = frozenset(c for c in hide if c[1] in member[c[0]])
    numbers = {m: {k: c for k, c in h.items() if (m, k) not in hidden} for m, h in member.items()}
    told = {c: member[c[0]][c[1]].accessible for c in hidden if c not in untold}  # as Guppy's accessible answer
    out = counts_to_gateway(MAPPING, question, MemberCounts(Count(len(rows), 0), numbers, hidden, told))
    mapped = [row_to_gateway(MAPPING, r) | {"acc": r.get("acc")} for r in rows]
    for facet in facets:
        expected = histogram(mapped, facet)
        member_facet = MAPPING.member_field(facet)

        def gateway_key(key: str | None, facet: str = facet) -> str | None:
            return MAPPING.gateway_value(facet, key) if key is not None else None

        hidden_keys = {gateway_key(k) for m, k in hidden if m == member_facet}
        assert {k for f, k in out.hidden if f == facet} == hidden_keys
        assert out.histograms[facet] == {k: c for k, c in expected.items() if k not in hidden_keys}
        # a hidden gateway bucket's accessible part is known exactly when every hidden part of it was told
        untold_keys = {gateway_key(k) for m, k in hidden - set(told) if m == member_facet}
        assert {k: n for (f, k), n in out.hidden_accessible.items() if f == facet} == {
            k: expected[k].accessible for k in hidden_keys - untold_keys}
