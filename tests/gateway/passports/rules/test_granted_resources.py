"""A Passport caller's readable resources at a member: :meth:`Template.render` (the inverse of ``match``) and
:meth:`MemberResourceMap.granted`, which must agree with the all-of decision resource by resource."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from gateway.passports.rules.grants import Grant
from gateway.passports.rules.resources import MemberResourceMap, ResourceTemplate, decide
from gateway.passports.rules.templates import Template
from gateway.settings.value_templates import Slot

NOW = 1_700_000_000
TEMPLATE = Template("/programs/{dataset}.{consent}")
MAP = MemberResourceMap(
    exact=(("/programs/special", ("dbgap", "phs000999", "c3")), ("/open/thing", ("other", "ds1", "c1"))),
    templates=(
        ResourceTemplate(TEMPLATE, "dbgap"),
        ResourceTemplate(Template("/orgA/{dataset}/{consent}", dataset=Slot("ds-", "alnum", 1, 8),
                                  consent=Slot("", "word", 1, 8)), "acme"),
    ),
)


def grant(authority: str, dataset: str, consent: str, expires: int = NOW + 600) -> Grant:
    return Grant(authority, dataset, consent, expires, "https://issuer.example", "https://dac.example")


def test_render_is_the_inverse_of_match() -> None:
    assert TEMPLATE.render("phs000123", "c1") == "/programs/phs000123.c1"
    assert TEMPLATE.match("/programs/phs000123.c1") == {"dataset": "phs000123", "consent": "c1"}
    assert Template("https://dac.example/{dataset}").render("phs000001") == "https://dac.example/phs000001"


def test_render_refuses_values_outside_the_slots() -> None:
    assert TEMPLATE.render("phs12", "c1") is None  # six digits wanted
    assert TEMPLATE.render("phs000123", "c1x") is None
    assert TEMPLATE.render("phs000123.c1", "c1") is None  # would not read back the same
    assert TEMPLATE.render("000123", "c1") is None  # the slot's prefix is part of the value
    assert TEMPLATE.render("phs000123") is None  # the template needs a consent
    assert Template("https://dac.example/{dataset}").render("phs000001", "c1") is None  # and this one has none


@given(st.text(alphabet=string.printable, max_size=20), st.text(alphabet=string.printable, max_size=8))
def test_render_round_trips_whenever_it_renders(dataset: str, consent: str) -> None:
    out = TEMPLATE.render(dataset, consent)
    if out is not None:
        assert TEMPLATE.match(out) == {"dataset": dataset, "consent": consent}


@given(st.from_regex(r"phs[0-9]{6}", fullmatch=True), st.from_regex(r"c[0-9]{1,4}", fullmatch=True))
def test_every_value_in_the_slots_renders(dataset: str, consent: str) -> None:
    assert TEMPLATE.render(dataset, consent) == f"/programs/{dataset}.{consent}"


def test_granted_paths_exact_entries_and_rendered_templates() -> None:
    grants = [grant("dbgap", "phs000123", "c1", NOW + 100), grant("dbgap", "phs000123", "c1", NOW + 300),
              grant("dbgap", "phs000999", "c3", NOW + 50), grant("acme", "ds-Ab9", "gru", NOW + 70),
              grant("dbgap", "phs000777", "c2", NOW - 1)]  # expired: nothing
    assert MAP.granted(grants, NOW) == {
        "/programs/special": NOW + 50,
        "/programs/phs000123.c1": NOW + 300,  # the latest of the grants reaching it
        "/programs/phs000999.c3": NOW + 50,  # the template renders it too
        "/orgA/ds-Ab9/gru": NOW + 70,
    }


def test_no_prefix_or_lookalike_paths() -> None:
    got = MAP.granted([grant("dbgap", "phs000123", "c1")], NOW)
    assert list(got) == ["/programs/phs000123.c1"]
    assert MAP.granted([grant("dbgap", "phs00012", "c1"), grant("other-authority", "phs000123", "c1")], NOW) == {}


def test_an_exact_entry_wins_over_a_rendered_template() -> None:
    """A rendered path that the map reads as another grant (an exact entry) is not granted by this one."""
    shadowing = MemberResourceMap(exact=(("/programs/phs000123.c1", ("dbgap", "phs000456", "c9")),),
                                  templates=(ResourceTemplate(TEMPLATE, "dbgap"),))
    assert shadowing.granted([grant("dbgap", "phs000123", "c1")], NOW) == {}
    assert shadowing.granted([grant("dbgap", "phs000456", "c9")], NOW) == {
        "/programs/phs000123.c1": NOW + 600, "/programs/phs000456.c9": NOW + 600}


KEYS = st.tuples(st.sampled_from(["dbgap", "acme", "other"]),
                 st.sampled_from(["phs000123", "phs000999", "ds-Ab9", "ds1", "phs12"]),
                 st.sampled_from(["c1", "c3", "gru", "c1x"]))


@given(st.lists(st.tuples(KEYS, st.integers(-100, 100)), max_size=8))
def test_granted_agrees_with_the_decision_on_each_path(raw: list) -> None:
    grants = [grant(a, d, c, NOW + dt) for (a, d, c), dt in raw]
    got = MAP.granted(grants, NOW)
    for path, until in got.items():
        decision = decide([path], MAP, grants, NOW)
        assert decision.allowed and decision.valid_until == until
    # and every path the decision allows that the map could name is listed
    candidates = {p for p, _ in MAP.exact} | {
        path for (a, d, c), _ in raw for rt in MAP.templates if rt.authority == a
        if (path := rt.template.render(d, c)) is not None}
    for path in candidates - set(got):
        assert not decide([path], MAP, grants, NOW).allowed
