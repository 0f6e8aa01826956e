"""Visas to `(authority, dataset, consent)` grants: exact values, anchored templates, RAS v1.1, single consent."""

from __future__ import annotations

import dataclasses
import time

import pytest
import tokens_kit as kit
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.grants import (
    RAS_V11,
    ExactGrant,
    Grant,
    GrantConfig,
    IssuerGrantRules,
    RasRules,
    collect_grants,
    grants_of,
)
from gateway.passports.rules.templates import Template
from gateway.settings.value_templates import CHARSETS, Slot

NOW = 1_700_000_000
HOUR = 3600
DAC = "https://dac.example.org"
DAC_SOURCE = "https://dac.example.org/dacs/1"
RAS = "https://sts.nih.gov"

CONFIG = GrantConfig(
    rules=(
        IssuerGrantRules(
            issuer=DAC, source=DAC_SOURCE, authority="dbgap",
            exact=(
                ExactGrant("https://dac.example.org/datasets/710", "phs000710", "c1"),
                ExactGrant("EGAD00001006673", "phs000999", None),
                ExactGrant("https://dac.example.org/studies/phs000555", "phs000555", None),
            ),
            templates=(Template("https://dac.example.org/datasets/{dataset}.{consent}"),),
        ),
    ),
    ras=RasRules(issuers=frozenset({RAS})),
    single_consent=(("dbgap", "phs000555", "c1"),),
)


def cag(value: str, iss: str = DAC, source: str = DAC_SOURCE, **kw) -> VisaFacts:
    base = {"iss": iss, "sub": "alice", "type": "ControlledAccessGrants", "value": value, "source": source,
            "by": "dac", "asserted": NOW - HOUR, "expires": NOW + 10 * HOUR}
    base.update(kw)
    return VisaFacts(**base)


def ras(perms, iss: str = RAS, **kw) -> VisaFacts:
    base = {"iss": iss, "sub": "alice", "type": RAS_V11, "value": "https://sts.nih.gov/passport/dbgap/v1.1",
            "source": "https://ncbi.nlm.nih.gov/gap", "by": "dac", "asserted": NOW - HOUR, "expires": NOW + 10 * HOUR,
            "ras_dbgap_permissions": perms}
    base.update(kw)
    return VisaFacts(**base)


def keys(visa: VisaFacts, config: GrantConfig = CONFIG) -> set[tuple[str, str, str]]:
    return {g.key for g in grants_of(visa, config)}


def test_exact_and_template_values() -> None:
    assert keys(cag("https://dac.example.org/datasets/710")) == {("dbgap", "phs000710", "c1")}
    assert keys(cag("https://dac.example.org/datasets/phs000123.c1")) == {("dbgap", "phs000123", "c1")}
    assert keys(cag("https://dac.example.org/datasets/phs000123.c10")) == {("dbgap", "phs000123", "c10")}


@pytest.mark.parametrize(
    "value",
    [
        "https://dac.example.org/datasets/phs0001234.c1",  # longer study id
        "https://dac.example.org/datasets/phs00012.c1",  # shorter study id
        "https://dac.example.org/datasets/phs000123.c1x",
        "https://dac.example.org/datasets/phs000123.c1/",
        "https://dac.example.org/datasets/phs000123.c1?x=1",
        "https://dac.example.org/datasets/phs000123.c1.c2",
        "https://dac.example.org/datasets/phs000123",  # template needs the consent
        "https://dac.example.org/datasets/phs000123.",
        "https://dac.example.org/datasets/phs000123c1",
        "xhttps://dac.example.org/datasets/phs000123.c1",  # prefix lookalike
        "https://dac.example.org.evil.org/datasets/phs000123.c1",
        "https://evil.org/https://dac.example.org/datasets/phs000123.c1",
        "https://dac.example.org/datasets/phs000123.c1 ",
        "HTTPS://dac.example.org/datasets/phs000123.c1",
        "https://dac.example.org/datasets/PHS000123.c1",
        "https://dac.example.org/datasets/710/",  # exact value lookalikes
        "https://dac.example.org/datasets/7100",
        "https://dac.example.org/datasets/71",
        "https://dac.example.org/datasets/０００１２３.c1",
        "https://dac.example.org/datasets/phs٠٠٠١٢٣.c1",  # non-ASCII digits
    ],
)
def test_lookalike_values_grant_nothing(value: str) -> None:
    assert keys(cag(value)) == set()


def test_consent_lookalikes_are_distinct() -> None:
    assert keys(cag("https://dac.example.org/datasets/phs000123.c1")) != keys(
        cag("https://dac.example.org/datasets/phs000123.c10"))


def test_issuer_and_source_must_both_match() -> None:
    assert keys(cag("https://dac.example.org/datasets/710", iss="https://other.example.org")) == set()
    assert keys(cag("https://dac.example.org/datasets/710", source="https://dac.example.org/dacs/2")) == set()
    assert keys(cag("https://dac.example.org/datasets/710", iss=DAC + "/")) == set()


def test_other_visa_types_grant_nothing() -> None:
    v = cag("https://dac.example.org/datasets/710", type="ResearcherStatus")
    assert keys(v) == set()
    assert keys(cag("https://dac.example.org/datasets/710", type="controlledaccessgrants")) == set()


def test_consentless_grants_need_single_consent_config() -> None:
    assert keys(cag("EGAD00001006673")) == set()
    assert keys(cag("https://dac.example.org/studies/phs000555")) == {("dbgap", "phs000555", "c1")}
    open_ = GrantConfig(rules=CONFIG.rules)
    assert keys(cag("https://dac.example.org/studies/phs000555"), open_) == set()


def test_template_without_consent_uses_single_consent() -> None:
    config = GrantConfig(
        rules=(IssuerGrantRules(DAC, DAC_SOURCE, "ega", templates=(
            Template("https://ega.example.org/datasets/{dataset}", dataset=Slot("EGAD", "digits", 11, 11)),)),),
        single_consent=(("ega", "EGAD00001006673", "c1"),),
    )
    assert keys(cag("https://ega.example.org/datasets/EGAD00001006673"), config) == {("ega", "EGAD00001006673", "c1")}
    assert keys(cag("https://ega.example.org/datasets/EGAD00001006674"), config) == set()


def test_exact_wins_over_template_and_only_first_match_counts() -> None:
    assert keys(cag("https://dac.example.org/datasets/710")) == {("dbgap", "phs000710", "c1")}


def test_ras_permissions_with_per_grant_expiry() -> None:
    perms = [
        {"phs_id": "phs000123", "version": "v1", "participant_set": "p1", "consent_group": "c1",
         "role": "designated user", "expiration": NOW + 2 * HOUR},
        {"phs_id": "phs000456", "version": "v9", "participant_set": "p3", "consent_group": "c2",
         "expiration": NOW + 100 * HOUR},
    ]
    got = {g.key: g.expires for g in grants_of(ras(perms), CONFIG)}
    assert got == {("dbgap", "phs000123", "c1"): NOW + 2 * HOUR, ("dbgap", "phs000456", "c2"): NOW + 10 * HOUR}


@pytest.mark.parametrize(
    "perm",
    [
        {"phs_id": "phs0001234", "consent_group": "c1", "expiration": NOW + HOUR},
        {"phs_id": "phs00012", "consent_group": "c1", "expiration": NOW + HOUR},
        {"phs_id": "phs000123.c1", "consent_group": "c1", "expiration": NOW + HOUR},
        {"phs_id": "PHS000123", "consent_group": "c1", "expiration": NOW + HOUR},
        {"phs_id": "phs000123", "consent_group": "c1x", "expiration": NOW + HOUR},
        {"phs_id": "phs000123", "consent_group": "C1", "expiration": NOW + HOUR},
        {"phs_id": "phs000123", "consent_group": "", "expiration": NOW + HOUR},
        {"phs_id": "phs000123", "consent_group": 1, "expiration": NOW + HOUR},
        {"phs_id": "phs000123", "expiration": NOW + HOUR},  # no consent, not single-consent
        {"phs_id": "phs000123", "consent_group": "c1"},  # no expiration
        {"phs_id": "phs000123", "consent_group": "c1", "expiration": str(NOW + HOUR)},
        {"phs_id": "phs000123", "consent_group": "c1", "expiration": True},
        {"phs_id": "phs000123", "consent_group": "c1", "expiration": NOW + 0.5},
        {"consent_group": "c1", "expiration": NOW + HOUR},
        "phs000123.c1",
    ],
)
def test_bad_ras_permissions_grant_nothing(perm) -> None:
    assert keys(ras([perm])) == set()


def test_ras_single_consent_and_untrusted_issuer() -> None:
    perm = {"phs_id": "phs000555", "expiration": NOW + HOUR}
    assert keys(ras([perm])) == {("dbgap", "phs000555", "c1")}
    ok = {"phs_id": "phs000123", "consent_group": "c1", "expiration": NOW + HOUR}
    assert keys(ras([ok], iss="https://stsstg.nih.gov")) == set()
    assert keys(ras({"phs_id": "phs000123"})) == set()
    assert keys(ras(None)) == set()


def test_collect_drops_expired_ras_grants_and_keeps_the_rest() -> None:
    perms = [
        {"phs_id": "phs000123", "consent_group": "c1", "expiration": NOW - 1},
        {"phs_id": "phs000123", "consent_group": "c2", "expiration": NOW + HOUR},
    ]
    got = collect_grants([ras(perms)], CONFIG, NOW)
    assert [(g.key, g.expires) for g in got] == [(("dbgap", "phs000123", "c2"), NOW + HOUR)]


def test_collect_honours_conditions_and_their_expiry() -> None:
    conds = [[{"type": "ResearcherStatus", "value": "const:https://doi.org/10.1038/s41431-018-0219-y"}]]
    gated = cag("https://dac.example.org/datasets/710", conditions=conds)
    assert collect_grants([gated], CONFIG, NOW) == ()
    status = VisaFacts(iss="https://broker.example.org", sub="alice", type="ResearcherStatus",
                       value="https://doi.org/10.1038/s41431-018-0219-y", source="https://broker.example.org",
                       by="so", asserted=NOW, expires=NOW + 3 * HOUR)
    # a different identity (iss differs) needs a link
    assert collect_grants([gated, status], CONFIG, NOW) == ()
    link = VisaFacts(iss=DAC, sub="alice", type="LinkedIdentities", value="alice,https:%2F%2Fbroker.example.org",
                     source="https://broker.example.org", by="system", asserted=NOW, expires=NOW + 2 * HOUR)
    got = collect_grants([gated, status, link], CONFIG, NOW)
    assert [(g.key, g.expires) for g in got] == [(("dbgap", "phs000710", "c1"), NOW + 2 * HOUR)]
    # links trusted for linking can be restricted by the caller
    assert collect_grants([gated, status, link], CONFIG, NOW, link_visas=[]) == ()
    same_identity = VisaFacts(**{**status.__dict__, "iss": DAC})
    got = collect_grants([gated, same_identity], CONFIG, NOW)
    assert [(g.key, g.expires) for g in got] == [(("dbgap", "phs000710", "c1"), NOW + 3 * HOUR)]


@pytest.mark.parametrize(
    "text",
    [
        "https://x/{dataset}{consent}",  # adjacent placeholders
        "https://x/{consent}",  # no dataset
        "https://x/{dataset}/{dataset}",
        "https://x/{dataset}.{other}",
        "https://x/{dataset",
        "https://x/dataset}",
        "https://x/{dataset}1",  # a digit after a digits slot would be ambiguous
        "",
    ],
)
def test_bad_templates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Template(text)


def test_ambiguous_slot_charset_is_refused() -> None:
    with pytest.raises(ValueError):
        Template("https://x/{dataset}a", dataset=Slot("", "alnum", 1, 10))
    with pytest.raises(ValueError):
        Slot("phs", "regex", 1, 2)


def test_template_matching_is_linear_on_hostile_values() -> None:
    t = Template("https://x/{dataset}.{consent}", dataset=Slot("", "word", 1, 64))
    start = time.perf_counter()
    for _ in range(200):
        assert t.match("https://x/" + "a" * 100_000 + ".c1") is None
        assert t.match("https://x/" + "a-" * 20 + ".c" + "1" * 50_000) is None
    assert time.perf_counter() - start < 2.0


# --- the compiled matcher and the grant fast path ------------------------------------------------------------------


def match_by_scanning(t: Template, value: str) -> dict[str, str] | None:
    """The template semantics as one greedy left-to-right pass (the matcher before templates were compiled)."""
    pos, n = 0, len(value)
    got: dict[str, str] = {}
    for part in t._parts:
        if isinstance(part, str):
            if not value.startswith(part, pos):
                return None
            pos += len(part)
            continue
        name, slot = part
        if not value.startswith(slot.prefix, pos):
            return None
        start = end = pos + len(slot.prefix)
        while end < n and value[end] in CHARSETS[slot.charset] and end - start <= slot.max_len:
            end += 1
        if not slot.min_len <= end - start <= slot.max_len:
            return None
        got[name] = value[pos:end]
        pos = end
    return got if pos == n else None


TEMPLATES = [
    Template("https://dac.example.org/datasets/{dataset}.{consent}"),
    Template("urn:{dataset}", dataset=Slot("EGAD", "digits", 1, 11)),
    Template("x/{dataset}-{consent}/y", dataset=Slot("", "alnum", 2, 5), consent=Slot("c", "digits", 1, 2)),
    Template("{dataset}", dataset=Slot("", "word", 1, 8)),
    Template("a.b{dataset}", dataset=Slot("p.", "digits", 1, 3)),  # the prefix's "." is literal, not "any"
]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(TEMPLATES), st.text(alphabet="https:/dac.exmplorgtsEGADurnxyc0123456789-_.éAp٣b",
                                           max_size=60))
def test_compiled_templates_match_as_the_greedy_scan(t, value):
    assert t.match(value) == match_by_scanning(t, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TEMPLATES), st.data())
def test_compiled_templates_match_what_they_should(t, data):
    # values built from the template itself, so that matches (not only misses) are compared
    value = ""
    for part in t._parts:
        if isinstance(part, str):
            value += part
        else:
            _, slot = part
            value += slot.prefix + data.draw(st.text(alphabet=[*sorted(CHARSETS[slot.charset]), "x", "."],
                                                     min_size=slot.min_len - 1, max_size=slot.max_len + 1))
    assert t.match(value) == match_by_scanning(t, value)


def test_collect_without_conditions_keeps_each_grants_own_end() -> None:
    perms = [{"phs_id": "phs000123", "consent_group": "c1", "expiration": NOW + HOUR},
             {"phs_id": "phs000124", "consent_group": "c1", "expiration": NOW + 20 * HOUR}]
    visas = [cag("https://dac.example.org/datasets/phs000001.c1"), ras(perms),
             cag("https://dac.example.org/datasets/phs000002.c1", expires=NOW)]  # expired: nothing
    got = collect_grants(visas, CONFIG, NOW)
    assert [(g.key, g.expires) for g in got] == [
        (("dbgap", "phs000001", "c1"), NOW + 10 * HOUR),
        (("dbgap", "phs000123", "c1"), NOW + HOUR),
        (("dbgap", "phs000124", "c1"), NOW + 10 * HOUR),  # capped by its visa
    ]


def test_grant_init_takes_exactly_its_fields() -> None:

    kit.assert_init_matches_fields(Grant)
    g = Grant("dbgap", "phs000001", "c1", NOW, "i", "s")
    assert g == Grant(authority="dbgap", dataset="phs000001", consent="c1", expires=NOW, issuer="i", source="s")
    assert hash(g) == hash(Grant("dbgap", "phs000001", "c1", NOW, "i", "s"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.expires = 0  # type: ignore[misc]
