"""Object `authz` resources to grants, and the all-of access decision with its validity (section 5, rule 41)."""

from __future__ import annotations

import pytest

from gateway.passports.rules.grants import Grant
from gateway.passports.rules.resources import (
    ALLOWED,
    EXPIRED,
    NO_RESOURCES,
    NOT_GRANTED,
    UNMAPPED,
    MemberResourceMap,
    ResourceTemplate,
    decide,
)
from gateway.passports.rules.templates import Template
from gateway.settings.value_templates import Slot

NOW = 1_700_000_000

MAP = MemberResourceMap(
    exact=(("/programs/special", ("dbgap", "phs000999", "c3")),),
    templates=(
        ResourceTemplate(Template("/programs/{dataset}.{consent}"), "dbgap"),
        ResourceTemplate(Template("/orgA/programs/{dataset}.{consent}"), "dbgap"),
    ),
)


def grant(dataset: str, consent: str, expires: int) -> Grant:
    return Grant("dbgap", dataset, consent, expires, "https://sts.nih.gov", "https://ncbi.nlm.nih.gov/gap")


def test_lookup() -> None:
    assert MAP.lookup("/programs/phs000123.c1") == ("dbgap", "phs000123", "c1")
    assert MAP.lookup("/orgA/programs/phs000123.c1") == ("dbgap", "phs000123", "c1")
    assert MAP.lookup("/programs/special") == ("dbgap", "phs000999", "c3")
    for unmapped in ["/orgB/programs/phs000123.c1", "/programs/phs000123", "/programs/phs0001234.c1",
                     "/programs/phs000123.c1/projects/x", "programs/phs000123.c1", "/programs/special/",
                     "/orgA/programs/phs000123.c1x", "/x/orgA/programs/phs000123.c1"]:
        assert MAP.lookup(unmapped) is None, unmapped


def test_allowed_with_validity_the_earliest_expiry_used() -> None:
    grants = [grant("phs000123", "c1", NOW + 500), grant("phs000123", "c1", NOW + 900),
              grant("phs000999", "c3", NOW + 700), grant("phs000456", "c1", NOW + 10)]
    d = decide(["/programs/phs000123.c1", "/programs/special"], MAP, grants, NOW)
    assert d.allowed and d.reason == ALLOWED
    # the best grant per requirement (900 for c1), then the earliest across requirements (700)
    assert d.valid_until == NOW + 700
    # an unrelated, sooner grant does not shorten it
    assert set(d.required) == {("dbgap", "phs000123", "c1"), ("dbgap", "phs000999", "c3")}


def test_passport_expiry_bounds_validity() -> None:
    d = decide(["/programs/phs000123.c1"], MAP, [grant("phs000123", "c1", NOW + 900)], NOW,
               passport_expires=NOW + 60)
    assert d.allowed and d.valid_until == NOW + 60
    d = decide(["/programs/phs000123.c1"], MAP, [grant("phs000123", "c1", NOW + 900)], NOW, passport_expires=NOW)
    assert not d.allowed and d.reason == EXPIRED


def test_all_of_every_resource_must_be_granted() -> None:
    grants = [grant("phs000123", "c1", NOW + 500)]
    d = decide(["/programs/phs000123.c1", "/orgA/programs/phs000123.c2"], MAP, grants, NOW)
    assert not d.allowed and d.reason == NOT_GRANTED and d.missing == ("/orgA/programs/phs000123.c2",)
    assert d.valid_until is None


def test_consent_and_study_lookalikes_do_not_cover() -> None:
    for g in [grant("phs000123", "c10", NOW + 500), grant("phs0001234", "c1", NOW + 500),
              grant("phs00012", "c1", NOW + 500), grant("phs000123", "c", NOW + 500)]:
        assert not decide(["/programs/phs000123.c1"], MAP, [g], NOW).allowed


def test_any_unmapped_resource_denies() -> None:
    grants = [grant("phs000123", "c1", NOW + 500)]
    d = decide(["/programs/phs000123.c1", "/elsewhere/phs000123.c1"], MAP, grants, NOW)
    assert not d.allowed and d.reason == UNMAPPED and d.missing == ("/elsewhere/phs000123.c1",)


def test_no_resources_denies() -> None:
    d = decide([], MAP, [grant("phs000123", "c1", NOW + 500)], NOW)
    assert not d.allowed and d.reason == NO_RESOURCES


def test_expired_grants_do_not_count() -> None:
    d = decide(["/programs/phs000123.c1"], MAP, [grant("phs000123", "c1", NOW)], NOW)
    assert not d.allowed and d.reason == NOT_GRANTED
    d = decide(["/programs/phs000123.c1"], MAP, [grant("phs000123", "c1", NOW), grant("phs000123", "c1", NOW + 1)],
               NOW)
    assert d.allowed and d.valid_until == NOW + 1


def test_other_authority_does_not_cover() -> None:
    g = Grant("ega", "phs000123", "c1", NOW + 500, "i", "s")
    assert not decide(["/programs/phs000123.c1"], MAP, [g], NOW).allowed


def test_resource_templates_must_capture_consent() -> None:
    with pytest.raises(ValueError):
        ResourceTemplate(Template("/programs/{dataset}"), "dbgap")
    ResourceTemplate(Template("/p/{dataset}/{consent}", dataset=Slot("EGAD", "digits", 11, 11)), "ega")
