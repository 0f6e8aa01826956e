"""LinkedIdentities parsing and connectivity (rules 38-39), including DAM's connectivity defects."""

from __future__ import annotations

import pytest

from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.linked import (
    IdentityGraph,
    LinkedIdentitiesError,
    build_graph,
    link_expiries,
    links_of,
    parse_linked_value,
)

NOW = 1_700_000_000
A = ("https://a.example.org", "alice-a")
B = ("https://b.example.org", "alice-b")
C = ("https://c.example.org", "alice-c")
D = ("https://d.example.org", "alice-d")


def enc(ident: tuple[str, str]) -> str:
    from urllib.parse import quote

    iss, sub = ident
    return f"{quote(sub, safe='')},{quote(iss, safe='')}"


def link(owner: tuple[str, str], *others: tuple[str, str], expires: int = NOW + 3600, **kw) -> VisaFacts:
    return VisaFacts(
        iss=owner[0], sub=owner[1], type="LinkedIdentities", value=";".join(enc(o) for o in others),
        source="https://broker.example.org", by="system", asserted=NOW - 10, expires=expires, **kw,
    )


def test_parse_decodes_sub_then_iss() -> None:
    got = parse_linked_value("10001,https:%2F%2Fissuer.example1.org%2Foidc;abcd%3Bx%2C,https:%2F%2Fexample2.org")
    assert got == (("https://issuer.example1.org/oidc", "10001"), ("https://example2.org", "abcd;x,"))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a",
        "a,b,c",
        "a,b;",  # trailing empty entry
        ";a,b",
        "a,",
        ",b",
        "a%2,b",  # truncated escape
        "a%zz,b",
        "a,b%",
        "%ff,b",  # not UTF-8
        "a,b;c",
    ],
)
def test_malformed_values_are_rejected(value: str) -> None:
    with pytest.raises(LinkedIdentitiesError):
        parse_linked_value(value)
    bad = VisaFacts(iss=A[0], sub=A[1], type="LinkedIdentities", value=value, source="s", by=None,
                    asserted=NOW, expires=NOW + 10)
    assert links_of(bad) is None


def test_one_malformed_entry_ignores_the_whole_visa() -> None:
    v = VisaFacts(iss=A[0], sub=A[1], type="LinkedIdentities", value=enc(B) + ";broken", source="s", by=None,
                  asserted=NOW, expires=NOW + 10)
    graph = build_graph([v], NOW)
    assert not graph.connected([A, B])


def test_own_identity_is_linked_to_every_listed_one() -> None:
    graph = build_graph([link(A, B, C)], NOW)
    assert graph.connected([A, B, C])
    assert graph.connected([B, C])
    assert not graph.connected([A, D])


def test_transitive_links() -> None:
    graph = build_graph([link(A, B), link(C, B), link(D, C)], NOW)
    assert graph.connected([A, D])


def test_dam_false_pass_a_links_c_b_unlinked() -> None:
    # DAM: len(mark)=2 (A, C) == len(ids)=2 (A, B) -> wrongly connected
    graph = build_graph([link(A, C)], NOW)
    assert not graph.connected([A, B])


def test_dam_false_fail_duplicates_in_the_identity_list() -> None:
    # DAM: ids per visa [A, A, B] (3) vs mark {A, B} (2) -> wrongly not connected
    graph = build_graph([link(A, B)], NOW)
    assert graph.connected([A, A, B])


def test_dam_blocking_link_with_more_identities_than_visas() -> None:
    many = [(f"https://i{i}.example.org", f"s{i}") for i in range(200)]
    graph = build_graph([link(A, *many)], NOW)
    assert graph.connected([A, many[-1]])
    assert graph.connected(many)


def test_trivial_cases() -> None:
    graph = IdentityGraph()
    assert graph.connected([])
    assert graph.connected([A])
    assert graph.connected([A, A])
    assert not graph.connected([A, B])


def test_expired_or_conditional_or_other_type_links_do_not_count() -> None:
    assert not build_graph([link(A, B, expires=NOW)], NOW).connected([A, B])
    assert not build_graph([link(A, B, conditions=[[{"type": "x", "value": "const:y"}]])], NOW).connected([A, B])
    other = VisaFacts(iss=A[0], sub=A[1], type="ControlledAccessGrants", value=enc(B), source="s", by="dac",
                      asserted=NOW, expires=NOW + 10)
    assert not build_graph([other], NOW).connected([A, B])


def test_link_expiries_bound_the_combination() -> None:
    links = [link(A, B, expires=NOW + 100), link(B, C, expires=NOW + 50), link(D, ("x", "y"), expires=NOW + 5)]
    graph = build_graph(links, NOW)
    assert link_expiries(links, graph, [A, C], NOW) == NOW + 50
    assert link_expiries(links, graph, [A, A], NOW) is None


def test_no_links_make_an_empty_graph_whatever_the_iterable() -> None:
    for empty in ([], (), iter([]), (v for v in [link(A, B)] if v.expires < NOW)):
        graph = build_graph(empty, NOW)
        assert graph == IdentityGraph() and graph.root(A) == A and not graph.connected([A, B])
