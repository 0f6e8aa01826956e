"""Tiered study counts, the pure part: which studies are the caller's, and which of their counts are hidden."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.access.readable import NOTHING, Readable
from gateway.access.tiers import Tier, TierPolicy, derivable
from gateway.discovery.study_tiering import StudyCountHider, complementary, member_studies
from gateway.search.tiering import TOTAL

LIMIT = 50
FIELDS = ("_subjects_count",)


def study(authz: list[str], subjects: int) -> dict:
    return {"authz": authz, "_subjects_count": subjects}


STUDIES = [
    ("open", study(["/programs/P/projects/OPEN"], 10)),
    ("big", study(["/programs/phs000001.c1"], 400)),
    ("small", study(["/programs/phs000002.c1"], 7)),
    ("two", study(["/programs/phs000003.c1", "/programs/phs000003.c2"], 30)),
    ("none", study([], 3)),
]


def hider(readable: Readable, tier: Tier = Tier.REGULAR, studies=STUDIES) -> StudyCountHider:
    policy = TierPolicy(tier, LIMIT)
    return StudyCountHider(policy, {"m": member_studies(studies, readable.covers_all, tier, LIMIT, FIELDS)})


def shown(h: StudyCountHider, studies=STUDIES) -> dict[str, int | None]:
    return {guid: h("m", guid, "_subjects_count", s["_subjects_count"]) for guid, s in studies}


def test_anonymous_regular_small_counts_hidden_and_no_hidden_count_derivable():
    got = shown(hider(NOTHING))
    assert got["big"] == 400
    assert got["small"] is None and got["none"] is None and got["open"] is None and got["two"] is None


def test_a_readable_study_is_shown_and_all_of_its_authz_is_needed():
    readable = Readable(exact=frozenset({"/programs/phs000002.c1", "/programs/phs000003.c1"}))
    got = shown(hider(readable))
    assert got["small"] == 7  # the caller's own
    assert got["two"] is None  # c2 is not readable: not the caller's, 30 < limit
    assert got["none"] is None  # no authz: never the caller's


def test_tiers_private_hides_every_inaccessible_count_libre_none():
    readable = Readable(trees=frozenset({"/programs/P"}))
    assert shown(hider(readable, Tier.PRIVATE)) == {"open": 10, "big": None, "small": None, "two": None,
                                                    "none": None}
    assert shown(hider(NOTHING, Tier.LIBRE)) == {g: s["_subjects_count"] for g, s in STUDIES}


def test_one_hidden_count_next_to_a_known_total_takes_another_with_it():
    """total = 400 + 7: hiding only 7 would leave it to subtraction; the 400 goes too."""
    studies = [("big", study(["/a"], 400)), ("small", study(["/b"], 7))]
    assert complementary(studies, frozenset(), "_subjects_count", LIMIT) == frozenset({"big", "small"})
    # the caller's own studies are public: they are never hidden to protect another
    assert complementary(studies, frozenset({"big"}), "_subjects_count", LIMIT) == frozenset({"small"})


def test_counts_fields_get_the_primary_rule():
    h = hider(NOTHING)
    assert h("m", "big", "consent_groups", 3) is None and h("m", "big", "consent_groups", 60) == 60
    assert h("m", "big", "consent_groups", 0) == 0
    assert h("elsewhere", "x", "_subjects_count", 5) is None  # a member the request did not look at


@given(st.lists(st.tuples(st.integers(0, 120), st.booleans()), min_size=1, max_size=9))
def test_no_hidden_count_follows_from_the_shown_ones_and_the_total(cells):
    studies = [(f"s{i}", study([f"/p/{i}"], n)) for i, (n, _) in enumerate(cells)]
    mine = frozenset(f"s{i}" for i, (_, readable) in enumerate(cells) if readable)
    hidden = complementary(studies, mine, "_subjects_count", LIMIT)
    for i, (n, readable) in enumerate(cells):
        if not readable and 0 < n < LIMIT:
            assert f"s{i}" in hidden  # the primary rule
        if readable:
            assert f"s{i}" not in hidden
    keys = [("study", g) for g in sorted(hidden)]
    equation = {TOTAL: 1, **{("study", g): -1 for g, _ in studies}}
    leaked = derivable(keys, [equation])
    # a lone hidden count is derivable only when nothing else could be hidden (every other one is the caller's)
    others = [g for g, _ in studies if g not in mine and g not in hidden]
    assert not leaked or (len(hidden) == 1 and not others)
