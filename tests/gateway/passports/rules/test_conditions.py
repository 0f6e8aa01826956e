"""Visa `conditions`: shape, bounds, prefixes and evaluation (rules 32-37, expiry per rule 41)."""

from __future__ import annotations

import pytest
import tokens_kit as kit

from gateway.passports.rules.conditions import (
    MAX_AND_CLAUSES,
    MAX_CLAIMS_PER_CLAUSE,
    MAX_OR_GROUPS,
    MAX_PATTERN_LENGTH,
    ConditionsError,
    conditions_met,
    evaluate,
    parse_conditions,
)
from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.linked import build_graph

NOW = 1_700_000_000
HOUR = 3600
ISS = "https://issuer.example.org"
SUB = "alice"


def visa(type_: str = "AffiliationAndRole", value: str = "faculty@uni.example.org", **kw) -> VisaFacts:
    base = {
        "iss": ISS, "sub": SUB, "type": type_, "value": value, "source": "https://uni.example.org", "by": "so",
        "asserted": NOW - HOUR, "expires": NOW + 10 * HOUR,
    }
    base.update(kw)
    return VisaFacts(**base)


def cag(conditions=None, **kw) -> VisaFacts:
    return visa("ControlledAccessGrants", "https://dac.example.org/datasets/710", by="dac",
                source="https://dac.example.org", conditions=conditions, **kw)


def clause(**claims) -> dict:
    return {"type": "AffiliationAndRole", **claims}


def test_spec_split_pattern_example_with_the_corrected_value() -> None:
    conds = parse_conditions([[{"type": "LinkedIdentities", "value": "split_pattern:123,https:%2F%2Fexample?.org"}]])
    linked = visa("LinkedIdentities",
                  "001,https:%2F%2Fexample1.org;123,https:%2F%2Fexample2.org;456,https:%2F%2Fexample3.org")
    assert evaluate(conds, [linked], NOW) is not None
    # as printed in the spec (double colon) it does not match: the rulebook's erratum
    printed = visa("LinkedIdentities",
                   "001,https::%2F%2Fexample1.org;123,https::%2F%2Fexample2.org;456,https::%2F%2Fexample3.org")
    assert evaluate(conds, [printed], NOW) is None
    # the same pattern as a plain `pattern:` is matched against the whole, unsplit value
    whole = parse_conditions([[{"type": "LinkedIdentities", "value": "pattern:123,https:%2F%2Fexample?.org"}]])
    assert evaluate(whole, [linked], NOW) is None


def test_split_pattern_splits_the_value_not_the_pattern() -> None:
    # DAM splits the pattern into an OR list; here the `;` stays in the pattern and so never matches a piece
    conds = parse_conditions([[clause(value="split_pattern:faculty@uni.example.org;staff@uni.example.org")]])
    assert evaluate(conds, [visa()], NOW) is None
    conds = parse_conditions([[clause(value="split_pattern:faculty@*")]])
    assert evaluate(conds, [visa(value="student@x;faculty@uni.example.org")], NOW) is not None


def test_brackets_and_dots_are_literal() -> None:
    conds = parse_conditions([[clause(value="pattern:[fs]aculty@uni.example.org")]])
    assert evaluate(conds, [visa()], NOW) is None
    assert evaluate(conds, [visa(value="[fs]aculty@uni.example.org")], NOW) is not None
    dots = parse_conditions([[clause(value="pattern:faculty@uni.example.org")]])
    assert evaluate(dots, [visa(value="faculty@uniXexampleXorg")], NOW) is None


def test_const_is_exact_and_case_sensitive() -> None:
    conds = parse_conditions([[clause(value="const:faculty@uni.example.org")]])
    assert evaluate(conds, [visa()], NOW) is not None
    assert evaluate(conds, [visa(value="Faculty@uni.example.org")], NOW) is None
    assert evaluate(conds, [visa(value="faculty@uni.example.org/")], NOW) is None
    assert evaluate(conds, [visa(value="xfaculty@uni.example.org")], NOW) is None


def test_type_is_an_implied_exact_match() -> None:
    conds = parse_conditions([[{"type": "AffiliationAndRole", "value": "pattern:*"}]])
    assert evaluate(conds, [visa("ResearcherStatus", "faculty@uni.example.org")], NOW) is None
    assert evaluate(conds, [visa("affiliationandrole")], NOW) is None


def test_one_visa_must_match_every_claim_of_a_clause() -> None:
    conds = parse_conditions([[clause(value="const:faculty@uni.example.org", by="const:so")]])
    half_a = visa(by="self")
    half_b = visa(value="staff@uni.example.org", by="so")
    assert evaluate(conds, [half_a, half_b], NOW) is None
    assert evaluate(conds, [half_a, half_b, visa()], NOW) is not None


def test_missing_claim_never_matches() -> None:
    conds = parse_conditions([[clause(by="pattern:*")]])
    assert evaluate(conds, [visa(by=None)], NOW) is None
    custom = parse_conditions([[clause(department="const:genomics")]])
    assert evaluate(custom, [visa()], NOW) is None
    assert evaluate(custom, [visa(extra=(("department", "genomics"),))], NOW) is not None


def test_or_of_ands() -> None:
    student = clause(value="const:student@uni.example.org")
    faculty = clause(value="const:faculty@uni.example.org")
    terms = {"type": "AcceptedTermsAndPolicies", "value": "const:https://terms.example.org", "by": "const:self"}
    conds = parse_conditions([[student], [faculty, terms]])
    terms_visa = visa("AcceptedTermsAndPolicies", "https://terms.example.org", by="self")
    assert evaluate(conds, [visa()], NOW) is None  # faculty alone: second group lacks the terms
    sat = evaluate(conds, [visa(), terms_visa], NOW)
    assert sat is not None and set(sat.used) == {visa(), terms_visa}
    assert evaluate(conds, [visa(value="student@uni.example.org")], NOW) is not None


def test_unknown_prefix_fails_only_its_clause() -> None:
    conds = parse_conditions([[clause(value="regex:.*")], [clause(value="const:faculty@uni.example.org")]])
    assert evaluate(conds, [visa(value="regex:.*")], NOW) is None
    assert evaluate(conds, [visa()], NOW) is not None
    no_prefix = parse_conditions([[clause(value="faculty@uni.example.org")]])
    assert evaluate(no_prefix, [visa()], NOW) is None


def test_a_visa_with_its_own_conditions_never_satisfies_a_clause() -> None:
    conds = parse_conditions([[clause(value="const:faculty@uni.example.org")]])
    other = [[{"type": "ResearcherStatus", "value": "const:x"}]]
    assert evaluate(conds, [visa(conditions=other)], NOW) is None
    # not even when its own conditions are met
    met = visa("ResearcherStatus", "x")
    assert evaluate(conds, [visa(conditions=other), met], NOW) is None
    # and a visa cannot satisfy its own conditions
    selfish = cag(conditions=[[{"type": "ControlledAccessGrants", "value": "pattern:*"}]])
    assert conditions_met(selfish, [selfish], NOW) is None


def test_expired_visas_do_not_satisfy() -> None:
    conds = parse_conditions([[clause(value="const:faculty@uni.example.org")]])
    assert evaluate(conds, [visa(expires=NOW)], NOW) is None


def test_validity_is_the_earliest_of_the_visas_used() -> None:
    conds = [[clause(value="const:faculty@uni.example.org")]]
    grant = cag(conditions=conds, expires=NOW + 9 * HOUR)
    short, long_ = visa(expires=NOW + 2 * HOUR), visa(expires=NOW + 5 * HOUR)
    sat = conditions_met(grant, [grant, short, long_], NOW)
    assert sat is not None and sat.used == (long_,) and sat.expires == NOW + 5 * HOUR
    sat = conditions_met(grant, [grant, short], NOW)
    assert sat is not None and sat.expires == NOW + 2 * HOUR
    assert conditions_met(grant, [grant], NOW) is None


def test_no_conditions() -> None:
    for empty in (None, []):
        sat = conditions_met(cag(conditions=empty), [], NOW)
        assert sat is not None and sat.used == () and sat.expires == NOW + 10 * HOUR
    assert conditions_met(cag(expires=NOW), [], NOW) is None


def test_other_identities_need_a_link() -> None:
    conds = [[clause(value="const:faculty@uni.example.org")]]
    grant = cag(conditions=conds)
    bob = visa(sub="bob")
    assert conditions_met(grant, [grant, bob], NOW) is None
    link = visa("LinkedIdentities", "bob,https:%2F%2Fissuer.example.org")
    graph = build_graph([link], NOW)
    assert conditions_met(grant, [grant, bob], NOW, graph) is not None


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "x"},
        [{"type": "x", "value": "const:y"}],  # not a list of lists
        [[]],  # an empty AND would be vacuously true
        [["not an object"]],
        [[{"value": "const:y"}]],  # no type
        [[{"type": "", "value": "const:y"}]],
        [[{"type": 5, "value": "const:y"}]],
        [[{"type": "x"}]],  # type only
        [[{"type": "x", "conditions": "const:y"}]],
        [[{"type": "x", "asserted": "const:1"}]],
        [[{"type": "x", "value": 5}]],
        [[{"type": "x", "value": ["const:y"]}]],
        [[{"type": "x", "value": "pattern:" + "a" * (MAX_PATTERN_LENGTH + 1)}]],
        [[{"type": "x", "value": "split_pattern:" + "a" * (MAX_PATTERN_LENGTH + 1)}]],
        [[{"type": "x", "value": "const:y"}]] * (MAX_OR_GROUPS + 1),
        [[{"type": "x", "value": "const:y"}] * (MAX_AND_CLAUSES + 1)],
        [[{"type": "x", **{f"c{i}": "const:y" for i in range(MAX_CLAIMS_PER_CLAUSE)}}]],
    ],
)
def test_bad_shapes_ignore_the_visa(raw) -> None:
    with pytest.raises(ConditionsError):
        parse_conditions(raw)
    bad = cag(conditions=raw)
    assert conditions_met(bad, [bad, visa(), visa("x", "y")], NOW) is None


def test_bounds_are_inclusive() -> None:
    parse_conditions([[{"type": "x", "value": "const:y"}] * MAX_AND_CLAUSES] * MAX_OR_GROUPS)
    parse_conditions([[{"type": "x", **{f"c{i}": "const:y" for i in range(MAX_CLAIMS_PER_CLAUSE - 1)}}]])
    parse_conditions([[{"type": "x", "value": "pattern:" + "a" * MAX_PATTERN_LENGTH}]])


def test_shape_is_validated_before_evaluation() -> None:
    # the first group would be met, but a later group is malformed: the whole visa is ignored
    raw = [[clause(value="const:faculty@uni.example.org")], [{"type": "x"}]]
    grant = cag(conditions=raw)
    assert conditions_met(grant, [grant, visa()], NOW) is None


def test_tuples_from_an_adapter_are_lists() -> None:
    assert not cag(conditions=()).has_conditions
    assert cag(conditions=((clause(value="const:x"),),)).has_conditions
    grant = cag(conditions=((clause(value="const:faculty@uni.example.org"),),))
    assert conditions_met(grant, [grant, visa()], NOW) is not None


def test_visa_facts_init_takes_exactly_its_fields() -> None:
    import dataclasses

    kit.assert_init_matches_fields(VisaFacts)
    a = visa(conditions=[[{"type": "x"}]], ras_dbgap_permissions=[1])
    assert a == visa() and hash(a) == hash(visa())  # conditions and permissions stay out of equality
    assert a != visa(extra=(("k", "v"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.value = "other"  # type: ignore[misc]
