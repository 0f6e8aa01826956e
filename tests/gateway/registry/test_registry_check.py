"""The pure comparison of declared members with stored records (``check_registry``) and its ``/_status`` wording."""

from __future__ import annotations

from dataclasses import replace

from gateway.core.member import Status
from gateway.registry.config_members import REFCOMMONS_ID, check_registry, declared_members
from gateway.settings.gateway import Settings


def _declared():
    settings = Settings(public_url="https://gw.example.org", refcommons={"enabled": True, "data_dir": None},
                        registry={"members": [{"id": "a", "name": "A", "base_url": "https://a.example.org",
                                               "prefixes": ["dg.a"]},
                                              {"id": "b", "name": "B", "base_url": "https://b.example.org",
                                               "prefixes": ["dg.b"]}]})
    return declared_members(settings)


def test_all_there_is_ok():
    declared = _declared()
    check = check_registry(declared, declared)
    assert check.text() == "ok" and check.healthy


def test_an_empty_store_is_empty_and_unhealthy():
    check = check_registry(_declared(), [])
    assert check.text() == "empty" and not check.healthy
    assert check.missing == ("a", "b", REFCOMMONS_ID)


def test_missing_members_are_named():
    declared = _declared()
    check = check_registry(declared, declared[:1])
    assert check.text() == f"missing declared members: b, {REFCOMMONS_ID}" and not check.healthy


def test_a_differing_record_is_diverged_but_serves():
    declared = _declared()
    stored = [replace(declared[0], base_url="https://elsewhere.example.org"), *declared[1:]]
    check = check_registry(declared, stored)
    assert check.text() == "diverged: a" and check.healthy


def test_suspension_and_another_instances_url_are_no_divergence():
    declared = _declared()
    ref = declared[2]
    stored = [replace(declared[0], status=Status.suspended), declared[1],
              replace(ref, base_url="https://other-replica.example.org/refcommons")]
    assert check_registry(declared, stored).text() == "ok"


def test_an_api_member_holding_a_declared_id_is_diverged():
    declared = _declared()
    stored = [replace(declared[0], source="api"), *declared[1:]]
    assert check_registry(declared, stored).diverged == ("a",)
