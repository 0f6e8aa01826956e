"""Members declared in the configuration (and the in-process reference commons): loaded active, idempotent
across restarts, updated or removed when the file changes, conflicts with API members a clear startup error."""

from __future__ import annotations

import pytest
from registry_kit import ADMIN, BOTH_BACKENDS, join_body

from gateway.registry.config_members import RegistryStartupError, declared_members, load_config_members
from gateway.registry.repository import RegistryRepository
from gateway.settings.gateway import Settings
from gateway.store import open_store

pytestmark = pytest.mark.parametrize("backend", BOTH_BACKENDS, indirect=True)

DECLARED = {"id": "declared", "name": "Declared commons", "base_url": "https://Data.Example.org/",
            "kind": "gen3", "prefixes": ["dg.CFG1"], "contact": "ops@example.org",
            "auth": {"type": "bearer", "token": "config-SECRET-token"}}


def _settings(base, tmp_path, members, refcommons=True):
    ref = {"subjects": 5, "data_dir": tmp_path / "ref"} if refcommons else {"enabled": False}
    return {**base, "refcommons": ref, "registry": {"members": members}}


async def test_declared_members_load_active_and_idempotently(gateway_at, base_settings, tmp_path):
    settings = _settings(base_settings, tmp_path, [DECLARED])
    async with gateway_at(**settings) as gw:
        listed = {m["id"]: m for m in (await gw.client.get("/registry/v1/commons")).json()["commons"]}
        assert set(listed) == {"declared", "refcommons"}
        declared, ref = listed["declared"], listed["refcommons"]
        assert declared["status"] == "active" and declared["source"] == "config"
        assert declared["base_url"] == "https://data.example.org" and declared["prefixes"] == ["dg.cfg1"]
        assert declared["hostnames"] == ["data.example.org"] and declared["auth"] == {"type": "bearer"}
        assert ref["kind"] == "reference" and ref["prefixes"] == ["dg.ref0"]
        assert ref["base_url"] == gw.base_url + "/refcommons" and ref["status"] == "active"
        assert {s["id"] for s in (await gw.client.get("/services")).json()} == {"declared", "refcommons"}
        ref_type = (await gw.client.get("/services/refcommons")).json()["type"]
        assert ref_type == {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"}
        audit = (await gw.client.get("/registry/v1/audit", headers=ADMIN)).json()
        assert [(e["actor"], e["action"]) for e in audit["entries"]] == [("config", "create")] * 2
        assert "config-SECRET-token" not in str(audit)
        await gw.client.post("/registry/v1/commons/declared/suspend", headers=ADMIN)

    async with gateway_at(**settings) as gw:
        listed = {m["id"]: m for m in (await gw.client.get("/registry/v1/commons")).json()["commons"]}
        assert listed["declared"] == declared | {"status": "suspended", "updated": listed["declared"]["updated"]}
        assert listed["declared"]["created"] == declared["created"]
        # the in-process commons' URL is an instance's own fact: written when absent, never over the stored one
        assert listed["refcommons"]["base_url"] == ref["base_url"] != gw.base_url + "/refcommons"
        actions = [e["action"] for e in (await gw.client.get("/registry/v1/audit", headers=ADMIN)).json()["entries"]]
        assert actions == ["create", "create", "suspended"], "nothing rewritten"
        # an admin moves it: removing the record has the instance answering write it again under its own URL
        assert (await gw.client.delete("/registry/v1/commons/refcommons", headers=ADMIN)).status_code == 200
        assert (await gw.client.delete("/registry/v1/commons/declared", headers=ADMIN)).status_code == 409
        ref_now = (await gw.client.get("/registry/v1/commons/refcommons")).json()
        assert ref_now["base_url"] == gw.base_url + "/refcommons" and ref_now["status"] == "active"
        assert (await gw.client.get("/_status")).json()["checks"]["registry"] == "ok"

    changed = {**DECLARED, "name": "Renamed", "prefixes": ["dg.cfg2"]}
    async with gateway_at(**_settings(base_settings, tmp_path, [changed], refcommons=False)) as gw:
        listed = {m["id"]: m for m in (await gw.client.get("/registry/v1/commons")).json()["commons"]}
        assert set(listed) == {"declared"}, "refcommons no longer declared: removed"
        assert listed["declared"]["name"] == "Renamed" and listed["declared"]["prefixes"] == ["dg.cfg2"]
        assert listed["declared"]["status"] == "suspended", "an admin's suspension outlives restarts"
        r = await gw.client.post("/registry/v1/commons",
                                 json=join_body("http://127.0.0.1:1", "Grab", ["dg.cfg1"], hostnames=["x.org"]))
        assert r.status_code == 422, "dg.cfg1 was freed (the join got as far as the candidate check)"


async def test_prefix_moving_between_declared_members(gateway_at, base_settings, tmp_path):
    a = {"id": "a", "name": "A", "base_url": "https://a.example.org", "prefixes": ["dg.one"]}
    b = {"id": "b", "name": "B", "base_url": "https://b.example.org", "prefixes": ["dg.two"]}
    async with gateway_at(**_settings(base_settings, tmp_path, [a, b], refcommons=False)):
        pass
    swapped = [{**b, "prefixes": ["dg.one"]}, {**a, "prefixes": ["dg.two"]}]
    async with gateway_at(**_settings(base_settings, tmp_path, swapped, refcommons=False)) as gw:
        listed = {m["id"]: m["prefixes"] for m in (await gw.client.get("/registry/v1/commons")).json()["commons"]}
        assert listed == {"a": ["dg.two"], "b": ["dg.one"]}


async def test_conflicts_with_api_members_stop_the_start(gateway_at, base_settings, tmp_path, commons):
    async with gateway_at(**base_settings) as gw:
        r = await gw.client.post("/registry/v1/commons", json=join_body(commons.base_url, "Joined", ["dg.cfg1"]))
        assert r.status_code == 201
        # admitted: it holds dg.cfg1 (a pending join would not block the start: test_joiners_and_admins)
        assert (await gw.client.post("/registry/v1/commons/joined/approve", headers=ADMIN)).status_code == 200
    settings = Settings(**_settings(base_settings, tmp_path, [DECLARED], refcommons=False))
    store = await open_store(settings.store.url, key_prefix=settings.store.key_prefix)
    try:
        repository = RegistryRepository(store)
        with pytest.raises(RegistryStartupError, match=r"'declared': prefix dg.cfg1 is already owned by member "
                                                       r"'joined' \(registered through the API\)"):
            await load_config_members(repository, settings)
        same_id = Settings(**_settings(base_settings, tmp_path, [{**DECLARED, "id": "joined", "prefixes": ["dg.x1"]}],
                                       refcommons=False))
        with pytest.raises(RegistryStartupError, match="'joined': that id is already registered through the API"):
            await load_config_members(repository, same_id)
        assert [m.id for m in await repository.members()] == ["joined"]
    finally:
        await store.close()


def test_declared_members_are_validated(base_settings, tmp_path):
    dup = {**DECLARED, "id": "twin"}
    with pytest.raises(RegistryStartupError, match=r"prefix dg\.cfg1 is declared by both 'declared' and 'twin'"):
        declared_members(Settings(**_settings(base_settings, tmp_path, [DECLARED, dup], refcommons=False)))
    bad = {**DECLARED, "prefixes": ["nope"]}
    with pytest.raises(RegistryStartupError, match="'declared': 'nope' is not a GUID prefix"):
        declared_members(Settings(**_settings(base_settings, tmp_path, [bad], refcommons=False)))
    with pytest.raises(RegistryStartupError, match="must own at least one GUID prefix"):
        declared_members(Settings(**_settings(base_settings, tmp_path, [{**DECLARED, "prefixes": []}], False)))
