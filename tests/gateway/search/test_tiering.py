"""Tiered access on merged counts (gateway.search.tiering): every hiding path, boundaries, per-member tiers, and
an adversary that tries every linear combination the partition equations allow, on examples and on random data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.access.tiers import Tier, TierPolicy, strictest
from gateway.members.search import Count
from gateway.search.counts import ANSWERED, MemberAnswer, Status, merge
from gateway.search.tiering import (
    TOTAL,
    Accessibility,
    Rendered,
    RowsForbidden,
    Shown,
    bucket_cell,
    check_rows,
    member_cell,
    member_tier,
    render,
    render_counts,
)

ACC, ALL, UNACC = Accessibility.ACCESSIBLE, Accessibility.ALL, Accessibility.UNACCESSIBLE
REGULAR = TierPolicy(Tier.REGULAR)
HIDDEN = Shown(None, True)
Cellkey = tuple[str, ...]


def ans(commons: str, all_: int, acc: int, *, tier: Tier | None = None, status: str = "ok", **facets) -> MemberAnswer:
    """A member answer; each facet is ``{key: (all, accessible)}``."""
    hist = {f: {k: Count(*v) for k, v in b.items()} for f, b in facets.items()}
    return MemberAnswer(commons, Status(status), 7, Count(all_, acc), hist, tier=tier)


def members(r: Rendered) -> dict[str, Shown]:
    return {s.commons: Shown(s.count, s.hidden) for s in r.sources}


# --- the adversary ------------------------------------------------------------------------------------------------


def equations(answers: Sequence[MemberAnswer], facets: Mapping[str, Sequence[str]], partitioning: set[str]):
    """The linear equations that truly hold between the cells of a response (built from the answers, not from the
    module under test): members sum to the total, and a partitioning facet's buckets sum to its reporters."""
    counted = [a for a in answers if a.status in ANSWERED]
    eqs: list[dict[Cellkey, int]] = []
    if counted:
        eqs.append({TOTAL: 1, **{member_cell(a.commons): -1 for a in counted}})
    for f, keys in facets.items():
        if f not in partitioning:
            continue
        eq = {bucket_cell(f, k): 1 for k in keys}
        reporters = [a for a in counted if f in a.histograms]
        if len(reporters) == len(counted):
            eq[TOTAL] = -1
        else:
            eq.update((member_cell(a.commons), -1) for a in reporters)
        eqs.append(eq)
    return eqs


def knowledge(r: Rendered) -> dict[Cellkey, int | None]:
    """Every cell of a response: its value, or ``None`` if hidden. A member with nothing to report counts 0."""
    out: dict[Cellkey, int | None] = {TOTAL: r.total.value}
    for s in r.sources:
        if s.status in ANSWERED:
            out[member_cell(s.commons)] = None if s.hidden else (s.count or 0)
    for f, h in r.histograms.items():
        for k, b in h.items():
            out[bucket_cell(f, k)] = b.value
    return out


def attack(known: Mapping[Cellkey, int | None], eqs: Sequence[Mapping[Cellkey, int]]) -> dict[Cellkey, Fraction]:
    """Every hidden value that some linear combination of the equations pins down, with the value it gives.

    Gaussian elimination over the rationals on ``sum(coef * hidden) = -sum(coef * visible)``: a hidden cell is
    determined exactly when a reduced row has it as its only unknown. This covers every linear combination."""
    unknown = [c for c, v in known.items() if v is None]
    col = {c: i for i, c in enumerate(unknown)}
    rows = []
    for eq in eqs:
        row = [Fraction(0)] * (len(unknown) + 1)
        for c, k in eq.items():
            if c in col:
                row[col[c]] += k
            else:
                row[-1] -= k * known.get(c, 0)
        rows.append(row)
    top = 0
    for j in range(len(unknown)):
        pivot = next((i for i in range(top, len(rows)) if rows[i][j]), None)
        if pivot is None:
            continue
        rows[top], rows[pivot] = rows[pivot], rows[top]
        rows[top] = [v / rows[top][j] for v in rows[top]]
        for i in range(len(rows)):
            if i != top and rows[i][j]:
                rows[i] = [a - rows[i][j] * b for a, b in zip(rows[i], rows[top])]
        top += 1
    found = {}
    for row in rows[:top]:
        nz = [j for j in range(len(unknown)) if row[j]]
        if len(nz) == 1:
            found[unknown[nz[0]]] = row[-1] / row[nz[0]]
    return found


def inaccessible_knowledge(all_: Rendered, acc: Rendered, unacc: Rendered) -> dict[Cellkey, int | None]:
    """What a user learns of each cell's inaccessible part by asking in all three modes: the unaccessible answer,
    or ``all - accessible`` (accessible answers are never hidden)."""
    k_all, k_acc, k_un = knowledge(all_), knowledge(acc), knowledge(unacc)
    assert all(v is not None for v in k_acc.values())
    return {c: k_un[c] if k_un[c] is not None else (None if k_all[c] is None else k_all[c] - k_acc[c]) for c in k_all}


def assert_safe(answers: Sequence[MemberAnswer], policy: TierPolicy, non_partitioning=(), **kw) -> dict:
    """Render all three modes and check that no hidden inaccessible part can be derived, alone or combined."""
    merged = merge(answers)
    out = {m: render(merged, policy, m, non_partitioning=non_partitioning, **kw) for m in Accessibility}
    facets = {f: list(h) for f, h in out[ALL].histograms.items()}
    eqs = equations(answers, facets, set(facets) - set(non_partitioning))
    for mode in (ALL, UNACC):
        assert attack(knowledge(out[mode]), eqs) == {}, mode
    assert attack(inaccessible_knowledge(out[ALL], out[ACC], out[UNACC]), eqs) == {}
    hidden_all = {c for c, v in knowledge(out[ALL]).items() if v is None}
    hidden_un = {c for c, v in knowledge(out[UNACC]).items() if v is None}
    assert hidden_all == hidden_un
    assert not out[ACC].any_hidden
    return out


def test_the_adversary_breaks_primary_only_suppression():
    """Hiding only the small bucket leaves it equal to total minus the visible buckets, and the attack finds it."""
    weak = Rendered(
        ALL,
        50,
        Shown(300),
        {"sex": {"female": Shown(200), "male": HIDDEN, "no data": Shown(70)}},
        (),
    )
    eqs = [
        {TOTAL: 1, bucket_cell("sex", "female"): -1, bucket_cell("sex", "male"): -1, bucket_cell("sex", "no data"): -1}
    ]
    assert attack(knowledge(weak), eqs) == {bucket_cell("sex", "male"): 30}
    two_hidden = Rendered(ALL, 50, Shown(300), {"sex": {"female": HIDDEN, "male": HIDDEN, "no data": Shown(70)}}, ())
    assert attack(knowledge(two_hidden), eqs) == {}


# --- modes, tiers and boundaries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inaccessible", "hidden"),
    [(0, False), (1, True), (49, True), (50, False), (51, False)],
)
def test_boundaries_of_the_limit(inaccessible, hidden):
    r = render(merge([ans("m1", 1000 + inaccessible, 1000)]), REGULAR, ALL)
    assert r.total == (HIDDEN if hidden else Shown(1000 + inaccessible))
    assert members(r)["m1"] == r.total
    un = render(merge([ans("m1", 1000 + inaccessible, 1000)]), REGULAR, UNACC)
    assert un.total == (HIDDEN if hidden else Shown(inaccessible))


def test_limit_is_configurable_and_defaults_to_50():
    assert REGULAR.limit == 50
    one = merge([ans("m1", 5, 2)])
    assert render(one, TierPolicy("regular", limit=4), ALL).total == HIDDEN
    assert render(one, TierPolicy("regular", limit=3), ALL).total == Shown(5)
    assert render(one, TierPolicy("regular", limit=3), UNACC).total == Shown(3)
    assert render(one, TierPolicy("regular", limit=0), ALL).total == Shown(5)
    with pytest.raises(ValueError):
        TierPolicy("regular", limit=-1)


def test_accessible_mode_shows_only_accessible_counts_and_never_hides():
    merged = merge([ans("m1", 1003, 1000, sex={"f": (1001, 1000), "m": (2, 0)}), ans("m2", 4, 4)])
    r = render(merged, REGULAR, "accessible")
    assert r.accessibility is ACC
    assert r.total == Shown(1004)
    assert r.histograms == {"sex": {"f": Shown(1000), "m": Shown(0)}}
    assert members(r) == {"m1": Shown(1000), "m2": Shown(4)}
    assert not r.any_hidden


def test_all_mode_hides_a_large_count_whose_inaccessible_part_is_small():
    """all - accessible would be the small inaccessible part: Guppy's rule hides the whole count."""
    merged = merge([ans("m1", 1003, 1000)])
    assert render(merged, REGULAR, ACC).total == Shown(1000)
    assert render(merged, REGULAR, ALL).total == HIDDEN
    assert render(merged, REGULAR, UNACC).total == HIDDEN


def test_the_limit_is_checked_after_summing_across_members():
    merged = merge([ans("m1", 30, 0), ans("m2", 30, 0)])
    r = render(merged, REGULAR, ALL)
    assert r.total == Shown(60)
    assert members(r) == {"m1": HIDDEN, "m2": HIDDEN}  # each alone is small; two hidden: neither derivable
    small = render(merge([ans("m1", 10, 0), ans("m2", 10, 0)]), REGULAR, ALL)
    assert small.total == HIDDEN and members(small) == {"m1": HIDDEN, "m2": HIDDEN}
    assert_safe([ans("m1", 30, 0), ans("m2", 30, 0)], REGULAR)


def test_each_histogram_bucket_is_checked_after_summing():
    merged = merge(
        [
            ans("m1", 200, 100, race={"a": (120, 100), "b": (40, 0), "c": (40, 0)}),
            ans("m2", 200, 200, race={"a": (100, 100), "b": (100, 100)}),
            ans("m3", 50, 0, race={"c": (50, 0)}),
        ]
    )
    r = render(merged, REGULAR, ALL)
    assert r.total == Shown(450)
    # a: inaccessible 20 → hidden; b: 40 → hidden; c: 90 → visible
    assert r.histograms["race"] == {"a": HIDDEN, "b": HIDDEN, "c": Shown(90)}
    assert members(r) == {"m1": Shown(200), "m2": Shown(200), "m3": Shown(50)}


# --- complementary suppression --------------------------------------------------------------------------------------


def test_a_single_hidden_bucket_next_to_a_visible_total_takes_another_bucket_with_it():
    answers = [ans("m1", 400, 0, sex={"female": (200, 0), "male": (30, 0), "no data": (70, 0), "other": (100, 0)})]
    out = assert_safe(answers, REGULAR)
    r = out[ALL]
    assert r.total == Shown(400)
    sex = r.histograms["sex"]
    assert sex["male"] == HIDDEN
    # the complement is the smallest bucket that gets the hidden pair to the limit: "no data" (30 + 70 >= 50)
    assert sex == {"female": Shown(200), "male": HIDDEN, "no data": HIDDEN, "other": Shown(100)}


def test_a_facet_declared_non_partitioning_gets_no_complement():
    answers = [ans("m1", 400, 0, tags={"x": (200, 0), "y": (30, 0), "z": (350, 0)})]
    r = render(merge(answers), REGULAR, ALL, non_partitioning={"tags"})
    assert r.histograms["tags"] == {"x": Shown(200), "y": HIDDEN, "z": Shown(350)}
    safe = render(merge(answers), REGULAR, ALL)  # by default a facet might partition: hide one more
    assert sum(b.hidden for b in safe.histograms["tags"].values()) == 2


def test_a_single_hidden_member_next_to_a_visible_merged_total_takes_another_member_with_it():
    answers = [ans("m1", 500, 400), ans("m2", 303, 300), ans("m3", 260, 200), ans("m4", 900, 0)]
    out = assert_safe(answers, REGULAR)
    r = out[ALL]
    assert r.total == Shown(1963)
    # m2 (3 inaccessible) is hidden; the complement is the smallest member reaching the limit: m3 (60)
    assert members(r) == {"m1": Shown(500), "m2": HIDDEN, "m3": HIDDEN, "m4": Shown(900)}


def test_a_hidden_total_keeps_a_bucket_hidden_in_every_partition():
    """With ``T`` hidden, a facet whose buckets were all visible would give ``T`` back as their sum."""
    answers = [ans("m1", 100, 90, tags={"x": (100, 90)}, kind={"p": (60, 60), "q": (40, 30)})]
    out = assert_safe(answers, REGULAR)
    r = out[ALL]
    assert r.total == HIDDEN
    assert r.histograms["kind"]["q"] == HIDDEN
    assert r.histograms["tags"]["x"] == HIDDEN


def test_members_that_did_not_report_a_facet_enter_its_equation():
    """m2 reports no ``sex``: the buckets sum to m1's count, not to the total."""
    answers = [ans("m1", 300, 0, sex={"f": (290, 0), "m": (10, 0)}), ans("m2", 500, 500)]
    out = assert_safe(answers, REGULAR)
    r = out[ALL]
    assert r.histograms["sex"]["m"] == HIDDEN
    assert r.histograms["sex"]["f"] == HIDDEN or members(r)["m1"] == HIDDEN


def test_hidden_pattern_is_the_same_in_all_and_unaccessible_modes():
    answers = [
        ans("m1", 1000, 990, race={"a": (500, 495), "b": (500, 495)}),
        ans("m2", 80, 0, race={"a": (80, 0)}),
    ]
    out = assert_safe(answers, REGULAR)
    assert out[UNACC].histograms["race"]["b"] == HIDDEN
    assert out[UNACC].total == Shown(90)
    assert out[ALL].total == Shown(1080)


# --- per-member tiers -----------------------------------------------------------------------------------------------


def test_libre_shows_everything():
    answers = [ans("m1", 5, 2, sex={"f": (4, 2), "m": (1, 0)})]
    for mode, total in [(ALL, 5), (UNACC, 3), (ACC, 2)]:
        r = render(merge(answers), TierPolicy("libre"), mode)
        assert r.total == Shown(total) and not r.any_hidden
    check_rows(ALL, TierPolicy("libre"))
    check_rows("unaccessible", TierPolicy("libre"), ["m1"])


def test_private_members_contribute_only_accessible_data():
    answers = [
        ans("m1", 100, 60, sex={"f": (70, 60), "m": (30, 0)}),
        ans("m2", 200, 100, sex={"f": (150, 100), "m": (50, 0)}),
    ]
    policy = TierPolicy("libre", per_member={"m1": "private"})
    r = render(merge(answers), policy, ALL)
    assert r.total == Shown(260)
    assert members(r) == {"m1": Shown(60), "m2": Shown(200)}
    assert r.histograms["sex"] == {"f": Shown(210), "m": Shown(50)}
    un = render(merge(answers), policy, UNACC)
    assert un.total == Shown(100)
    assert members(un) == {"m1": Shown(None), "m2": Shown(100)}  # nothing to report, not "hidden"
    assert un.histograms["sex"] == {"f": Shown(50), "m": Shown(50)}
    everything_private = render(merge(answers), TierPolicy("private"), UNACC)
    assert everything_private.total == Shown(0) and not everything_private.any_hidden
    assert_safe(answers, policy)


def test_a_bucket_only_a_private_members_inaccessible_records_have_does_not_exist():
    answers = [ans("m1", 10, 8, race={"a": (8, 8), "secret": (2, 0)})]
    for mode in Accessibility:
        r = render(merge(answers), TierPolicy("private"), mode)
        assert list(r.histograms["race"]) == ["a"]


def test_libre_inaccessible_parts_do_not_help_a_regular_count_reach_the_limit():
    """The libre member's 1000 are public: counting them would let the regular member's 3 be subtracted out."""
    answers = [ans("m1", 3, 0), ans("m2", 1000, 0)]
    policy = TierPolicy("regular", per_member={"m2": "libre"})
    out = assert_safe(answers, policy)
    assert out[ALL].total == HIDDEN
    assert members(out[ALL]) == {"m1": HIDDEN, "m2": Shown(1000)}


def test_a_merged_count_follows_the_strictest_contributing_member():
    policy = TierPolicy("libre", per_member={"m1": "regular"})
    libre_only = render(merge([ans("m2", 5, 0)]), policy, ALL)
    assert libre_only.total == Shown(5)
    mixed = render(merge([ans("m1", 105, 100), ans("m2", 5, 0)]), policy, ALL)
    assert mixed.total == HIDDEN and members(mixed) == {"m1": HIDDEN, "m2": Shown(5)}


def test_member_tier_precedence():
    policy = TierPolicy("regular", per_member={"m1": "libre", "m2": "private"})
    assert policy.tier_for("m1") is Tier.LIBRE and policy.tier_for("mx") is Tier.REGULAR
    assert member_tier(policy, ans("m1", 1, 1)) is Tier.LIBRE
    assert member_tier(policy, ans("m1", 1, 1, tier=Tier.REGULAR)) is Tier.REGULAR  # an answer can only tighten
    assert member_tier(policy, ans("m2", 1, 1, tier=Tier.LIBRE)) is Tier.PRIVATE
    assert strictest(["libre", "private", "regular"]) is Tier.PRIVATE
    with pytest.raises(ValueError):
        TierPolicy("open")


def test_sources_list_every_member_with_its_own_rendered_count():
    answers = [
        ans("m1", 500, 480),
        ans("m2", 600, 500, status="stale"),
        MemberAnswer("m3", "timeout", 5000, error="deadline exceeded"),
        MemberAnswer("m4", "unsupported", 2),
    ]
    r = render(merge(answers), REGULAR, ALL)
    got = [(s.commons, s.status.value, s.took_ms, s.count, s.hidden, s.error) for s in r.sources]
    assert got == [
        ("m1", "ok", 7, None, True, None),
        ("m2", "stale", 7, None, True, None),  # the complement: m1 = total - m2 otherwise
        ("m3", "timeout", 5000, None, False, "deadline exceeded"),
        ("m4", "unsupported", 2, None, False, None),
    ]
    assert r.total == Shown(1100)


def test_bad_accessibility_is_a_value_error():
    with pytest.raises(ValueError):
        render(merge([]), REGULAR, "everything")
    with pytest.raises(ValueError):
        check_rows("none", REGULAR)


# --- rows and study counts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["regular", "private"])
@pytest.mark.parametrize("mode", ["all", "unaccessible"])
def test_rows_of_inaccessible_data_are_forbidden(level, mode):
    with pytest.raises(RowsForbidden, match="use accessibility: accessible") as exc:
        check_rows(mode, TierPolicy(level))
    assert exc.value.status == 403
    check_rows("accessible", TierPolicy(level))


def test_rows_depend_on_the_members_involved():
    policy = TierPolicy("libre", per_member={"m2": "regular"})
    check_rows(ALL, policy, ["m1"])
    with pytest.raises(RowsForbidden):
        check_rows(ALL, policy, ["m1", "m2"])
    with pytest.raises(RowsForbidden):
        check_rows(ALL, policy)  # any member


def test_study_counts_get_the_primary_rule_and_optionally_a_partition():
    counts = {"_subjects_count": Count(1010, 1000), "_files_count": Count(300, 0), "_samples_count": Count(0, 0)}
    v = render_counts(counts, REGULAR, ALL, commons="m1")
    assert v.values == {"_subjects_count": HIDDEN, "_files_count": Shown(300), "_samples_count": Shown(0)}
    assert v.total is None
    assert render_counts(counts, REGULAR, ACC).values["_subjects_count"] == Shown(1000)
    assert render_counts(counts, TierPolicy("libre"), UNACC).values["_subjects_count"] == Shown(10)
    assert render_counts(counts, TierPolicy("private"), UNACC).values["_files_count"] == Shown(None)
    by_study = {"s1": Count(100, 0), "s2": Count(7, 0), "s3": Count(90, 0)}
    part = render_counts(by_study, REGULAR, ALL, total=Count(197, 0))
    assert part.total == Shown(197)
    assert part.values == {"s1": Shown(100), "s2": HIDDEN, "s3": HIDDEN}


# --- properties on random federations --------------------------------------------------------------------------------

RECORD = st.tuples(
    st.booleans(),  # accessible
    st.sampled_from(["a", "b", "c", None]),  # kind: one value or none (partitions, missing under the alias)
    st.frozensets(st.sampled_from(["x", "y", "z"])),  # tags: any number of values (does not partition)
)
MEMBER = st.fixed_dictionaries(
    {
        "records": st.lists(RECORD, max_size=14),
        "status": st.sampled_from(list(Status)),
        "tier": st.sampled_from([None, None, None, *Tier]),
        "override": st.sampled_from([None, None, *Tier]),
        "reports_kind": st.booleans(),
    }
)


def build(spec: list[dict], level: Tier, limit: int) -> tuple[list[MemberAnswer], TierPolicy]:
    answers = []
    overrides = {}
    for i, m in enumerate(spec):
        commons = f"m{i}"
        if m["override"] is not None:
            overrides[commons] = m["override"]
        status = m["status"]
        if status not in ANSWERED:
            answers.append(MemberAnswer(commons, status, 1, error="x"))
            continue
        recs = m["records"]
        hist: dict[str, dict] = {"tags": {}}
        if m["reports_kind"]:
            hist["kind"] = {}
        for acc, kind, tags in recs:
            one = Count(1, int(acc))
            if "kind" in hist:
                hist["kind"][kind] = hist["kind"].get(kind, Count(0, 0)) + one
            for t in tags:
                hist["tags"][t] = hist["tags"].get(t, Count(0, 0)) + one
        total = Count(len(recs), sum(a for a, _, _ in recs))
        answers.append(MemberAnswer(commons, status, 1, total, hist, tier=m["tier"]))
    return answers, TierPolicy(level, limit, overrides)


def truth(spec, answers, policy):
    """Each cell's true value per mode and its protected part, straight from the records."""
    order = {Tier.LIBRE: 0, Tier.REGULAR: 1, Tier.PRIVATE: 2}
    cells: dict[Cellkey, dict] = {}

    def add(cell, tier, acc):
        c = cells.setdefault(cell, {ACC: 0, ALL: 0, UNACC: 0, "protected": 0})
        c[ACC] += acc
        c[ALL] += 1 if tier is not Tier.PRIVATE or acc else 0
        c[UNACC] += 0 if acc or tier is Tier.PRIVATE else 1
        c["protected"] += 1 if tier is Tier.REGULAR and not acc else 0

    cells[TOTAL] = {ACC: 0, ALL: 0, UNACC: 0, "protected": 0}
    for m, a in zip(spec, answers):
        if a.status not in ANSWERED:
            continue
        tier = policy.tier_for(a.commons)
        if m["tier"] is not None and order[m["tier"]] > order[tier]:
            tier = m["tier"]
        cells[member_cell(a.commons)] = {ACC: 0, ALL: 0, UNACC: 0, "protected": 0, "tier": tier}
        for acc, kind, tags in m["records"]:
            add(TOTAL, tier, acc)
            add(member_cell(a.commons), tier, acc)
            if tier is Tier.PRIVATE and not acc:
                continue  # does not exist for the user, and neither do buckets only such records have
            if m["reports_kind"]:
                add(bucket_cell("kind", "no data" if kind is None else kind), tier, acc)
            for t in tags:
                add(bucket_cell("tags", t), tier, acc)
    return cells


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=st.lists(MEMBER, min_size=1, max_size=5),
    level=st.sampled_from([*Tier, Tier.REGULAR, Tier.REGULAR]),
    limit=st.sampled_from([1, 2, 3, 5, 8]),
)
def test_property_visible_numbers_are_true_and_nothing_hidden_is_derivable(spec, level, limit):
    answers, policy = build(spec, level, limit)
    out = assert_safe(answers, policy, non_partitioning={"tags"})
    cells = truth(spec, answers, policy)
    for mode, r in out.items():
        got = knowledge(r)
        present = {c for c in cells if c[0] != "bucket" or cells[c][ALL] or cells[c][ACC]}
        assert set(got) == present
        for c, v in got.items():
            t = cells[c]
            private_member = t.get("tier") is Tier.PRIVATE
            if v is None:
                assert mode is not ACC
                assert not private_member
                continue
            if private_member and mode is UNACC:
                assert members(r)[c[1]] == Shown(None)
                continue
            assert v == t[mode], (mode, c)
            if mode is not ACC:
                assert not 0 < t["protected"] < limit, (mode, c)  # no small inaccessible part is ever shown
        for s in r.sources:
            if s.status not in ANSWERED:
                assert (s.count, s.hidden) == (None, False)


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=6),
    limit=st.sampled_from([1, 5, 50]),
)
def test_property_study_counts_with_a_total_leak_nothing(parts, limit):
    counts = {f"s{i}": Count(a + b, a) for i, (a, b) in enumerate(parts)}
    whole = Count(sum(c.all for c in counts.values()), sum(c.accessible for c in counts.values()))
    policy = TierPolicy("regular", limit)
    for mode in (ALL, UNACC):
        v = render_counts(counts, policy, mode, total=whole)
        known = {("count", k): s.value for k, s in v.values.items()} | {TOTAL: v.total.value}
        eq = {TOTAL: 1, **{("count", k): -1 for k in counts}}
        assert attack(known, [eq]) == {}
        for k, s in v.values.items():
            if not s.hidden:
                assert not 0 < counts[k].inaccessible < limit


# --- cells a member hid itself (its value is unknown) ------------------------------------------------------------


def test_a_merged_cell_with_a_member_hidden_part_is_hidden_in_every_mode_and_tier():
    a = MemberAnswer("a", Status.OK, 1, Count(500, 500), {"sex": {"F": Count(200, 200), "M": Count(300, 300)}},
                     hidden=frozenset({("sex", "X")}))
    b = ans("b", 400, 400, sex={"F": (100, 100), "M": (250, 250), "X": (50, 50)})
    for policy in (REGULAR, TierPolicy(Tier.LIBRE), TierPolicy(Tier.PRIVATE)):
        for mode in Accessibility:
            r = render(merge([a, b]), policy, mode)
            assert r.histograms["sex"]["X"] == HIDDEN, (policy.level, mode)


def test_suppression_treats_a_member_hidden_cell_as_already_hidden():
    # a hid its "X" bucket; with the total and "F" visible, "M" would give X away: X = T - F - M
    a = MemberAnswer("a", Status.OK, 1, Count(500, 500), {"sex": {"F": Count(200, 200), "M": Count(297, 297)}},
                     hidden=frozenset({("sex", "X")}))
    b = ans("b", 400, 400, sex={"F": (100, 100), "M": (300, 300)})
    answers = [a, b]
    for mode in (ALL, UNACC):
        r = render(merge(answers), REGULAR, mode)
        known = knowledge(r)
        assert known[bucket_cell("sex", "X")] is None
        assert sum(v is None for v in known.values()) >= 2  # at least one complementary cell
        facets = {f: list(h) for f, h in r.histograms.items()}
        assert attack(known, equations(answers, facets, set(facets))) == {}


def test_a_member_hidden_total_hides_the_merged_total_and_the_members_own_count():
    a = MemberAnswer("a", Status.OK, 1, Count(0, 0), {"sex": {"F": Count(80, 80)}},
                     hidden=frozenset({"_total", ("sex", "M")}))
    b = ans("b", 400, 400, sex={"F": (100, 100), "M": (300, 300)})
    answers = [a, b]
    r = render(merge(answers), REGULAR, ALL)
    assert r.total == HIDDEN
    assert members(r)["a"] == HIDDEN and members(r)["b"] == Shown(400)
    facets = {f: list(h) for f, h in r.histograms.items()}
    assert attack(knowledge(r), equations(answers, facets, set(facets))) == {}
    acc = render(merge(answers), REGULAR, ACC)
    assert acc.total == HIDDEN and acc.histograms["sex"]["F"] == Shown(180)


def test_accessible_mode_shows_a_member_hidden_cell_whose_accessible_part_the_member_told():
    """Guppy hides ``all`` counts but never ``accessible`` ones: the caller's own data stays visible to them."""
    a = MemberAnswer("a", Status.OK, 1, Count(0, 0), {"sex": {"F": Count(200, 150)}},
                     hidden=frozenset({"_total", ("sex", "M"), ("sex", "X")}),
                     hidden_accessible={"_total": 170, ("sex", "M"): 20})
    b = ans("b", 400, 300, sex={"F": (100, 100), "M": (250, 150), "X": (50, 50)})
    acc = render(merge([a, b]), REGULAR, ACC)
    assert acc.total == Shown(470)
    assert members(acc) == {"a": Shown(170), "b": Shown(300)}
    assert acc.histograms["sex"] == {"F": Shown(250), "M": Shown(170), "X": HIDDEN}  # X: a did not tell
    for mode in (ALL, UNACC):  # nothing changes where inaccessible data counts
        r = render(merge([a, b]), REGULAR, mode)
        assert r.total == HIDDEN and members(r)["a"] == HIDDEN
        assert r.histograms["sex"]["M"] == HIDDEN and r.histograms["sex"]["X"] == HIDDEN


def test_told_accessible_parts_change_nothing_in_all_and_unaccessible_modes_and_leak_nothing():
    def answers(told: bool) -> list[MemberAnswer]:
        a = MemberAnswer("a", Status.OK, 1, Count(500, 480), {"sex": {"F": Count(200, 200), "M": Count(297, 280)}},
                         hidden=frozenset({("sex", "X")}), hidden_accessible={("sex", "X"): 0} if told else {})
        return [a, ans("b", 400, 400, sex={"F": (100, 100), "M": (300, 300)})]

    for mode in (ALL, UNACC):
        with_told, without = (render(merge(answers(t)), REGULAR, mode) for t in (True, False))
        assert with_told == without, mode
        known = knowledge(with_told)
        assert known[bucket_cell("sex", "X")] is None
        facets = {f: list(h) for f, h in with_told.histograms.items()}
        assert attack(known, equations(answers(True), facets, set(facets))) == {}
    acc = render(merge(answers(True)), REGULAR, ACC)
    assert acc.histograms["sex"]["X"] == Shown(0) and not acc.any_hidden
    # what the user learns of X's inaccessible part from all three modes: still nothing
    out = {m: render(merge(answers(True)), REGULAR, m) for m in Accessibility}
    learnt = inaccessible_knowledge(out[ALL], out[ACC], out[UNACC])
    facets = {f: list(h) for f, h in out[ALL].histograms.items()}
    assert learnt[bucket_cell("sex", "X")] is None
    assert attack(learnt, equations(answers(True), facets, set(facets))) == {}


def test_a_hidden_count_says_whether_fewer_than_the_limit_is_true_of_it():
    """``below`` marks a hidden count "fewer than limit" may be said of: hidden by the primary rule and under the
    limit in the mode asked. A complementary one (hidden to protect another) and a primary one with a large
    accessible part are hidden without it; a shown count never carries it."""
    answers = [ans("m1", 400, 0, sex={"female": (200, 0), "male": (30, 0), "no data": (70, 0), "other": (100, 0)})]
    for mode in (ALL, UNACC):
        sex = render(merge(answers), REGULAR, mode).histograms["sex"]
        assert sex["male"].hidden and sex["male"].below  # primary: 30 < 50
        assert sex["no data"].hidden and not sex["no data"].below  # complementary: 70, not fewer than 50
        assert not sex["female"].below and not sex["other"].below
    large = merge([ans("m1", 1003, 1000)])
    assert render(large, REGULAR, ALL).total.hidden and not render(large, REGULAR, ALL).total.below  # 1003
    assert render(large, REGULAR, UNACC).total.below  # 3 inaccessible: fewer than 50 is true
    small = render(merge([ans("m1", 10, 0), ans("m2", 10, 0)]), REGULAR, ALL)
    assert small.total.below and all(s.hidden and s.below for s in small.sources)
    r = render(merge([ans("m1", 30, 0), ans("m2", 30, 0)]), REGULAR, ALL)
    assert not r.total.below and all(s.hidden and s.below for s in r.sources)


def test_a_study_count_says_whether_fewer_than_the_limit_is_true_of_it():
    view = render_counts({"a": Count(30, 0), "b": Count(70, 0), "c": Count(200, 0)}, REGULAR, ALL,
                         total=Count(300, 0))
    assert view.values["a"].hidden and view.values["a"].below
    assert view.values["b"].hidden and not view.values["b"].below
