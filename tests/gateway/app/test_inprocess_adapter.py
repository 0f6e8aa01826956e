"""The in-process reference adapter (no HTTP), checked against the Gen3 adapter over the same commons;
and the app's adapter factory."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from adapter_support import PREFIX, member

from gateway.app.inprocess import ReferenceAdapter
from gateway.app.members import adapter_factory
from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN
from gateway.core.errors import AccessDenied, MemberTimeout, MemberUnavailable, NotFoundUpstream
from gateway.core.member import MemberAuth
from gateway.members.drs import DrsAdapter
from gateway.members.factory import build_adapter
from gateway.members.gen3 import Gen3Adapter
from gateway.members.protocols import MemberAdapter
from refcommons.authz.default_policy import ADMIN_USER

MISSING = f"{PREFIX}/00000000-0000-4000-8000-000000000000"


@pytest.fixture
def ref(commons) -> ReferenceAdapter:
    return ReferenceAdapter(member(commons.base_url, kind="reference"), commons.commons)


def deadline() -> Deadline:
    return Deadline.after(10)


async def test_records_match_the_gen3_adapter_over_http(commons, ref, config):
    gen3 = Gen3Adapter(member(commons.base_url), config, OPEN)
    guids = [f.guid for f in commons.commons.dataset.files][:20]
    asked = guids[:10] + [g.split("/", 1)[1] for g in guids[10:15]] + [g.replace("/", ":") for g in guids[15:]]
    try:
        for a in [*asked[::4], MISSING]:
            assert await ref.get_record(a, deadline()) == await gen3.get_record(a, deadline())
        assert await ref.get_records([*asked, MISSING], deadline()) == await gen3.get_records([*asked, MISSING],
                                                                                              deadline())
    finally:
        await gen3.close()
    hits = len(commons.hits)
    assert (await ref.get_record(guids[0], deadline())).format == "indexd"
    assert len(commons.hits) == hits  # in process: no HTTP


async def test_access(commons, ref):
    f = commons.open_file()
    access = await ref.access_url(f.guid, "s3", deadline())
    query = {k: v[0] for k, v in parse_qs(urlsplit(access.url).query).items()}
    assert commons.commons.fence.verify_download(f.guid, query) > time.time()
    controlled = commons.controlled_file()
    with pytest.raises(AccessDenied) as err:
        await ref.access_url(controlled.guid, "s3", deadline())
    assert err.value.status == 401
    stranger = await commons.token("stranger@example.org")
    with pytest.raises(AccessDenied) as err:
        await ref.access_url(controlled.guid, "s3", deadline(), authorization=f"Bearer {stranger}")
    assert err.value.status == 403
    admin = await commons.token(ADMIN_USER)
    access = await ref.access_url(controlled.guid.replace("/", ":"), "gs", deadline(), authorization=f"Bearer {admin}")
    assert parse_qs(urlsplit(access.url).query)["user"] == [ADMIN_USER]
    with pytest.raises(NotFoundUpstream):
        await ref.access_url(MISSING, "s3", deadline())
    with pytest.raises(NotFoundUpstream):
        await ref.access_url(f.guid, "ftp", deadline())
    with pytest.raises(MemberTimeout):
        await ref.access_url(f.guid, "s3", Deadline.after(0))


async def test_member_credentials_in_process(commons, tmp_path):
    controlled = commons.controlled_file()
    path = await commons.credentials_file(tmp_path / "credentials.json", ADMIN_USER)
    bearer = MemberAuth("bearer", token=await commons.token(ADMIN_USER))
    for auth in (MemberAuth("api_key", credentials_file=str(path)), bearer):
        adapter = ReferenceAdapter(member(commons.base_url, kind="reference", auth=auth), commons.commons)
        access = await adapter.access_url(controlled.guid, "s3", deadline())
        assert parse_qs(urlsplit(access.url).query)["user"] == [ADMIN_USER]
    nowhere = MemberAuth("api_key", credentials_file=str(tmp_path / "none"))
    broken = ReferenceAdapter(member(commons.base_url, kind="reference", auth=nowhere), commons.commons)
    with pytest.raises(MemberUnavailable):
        await broken.access_url(controlled.guid, "s3", deadline())


async def test_probe_is_always_ok(ref):
    probe = await ref.probe(1.0)
    assert probe.ok and probe.latency_ms == 0.0 and probe.info["drs"]["objectCount"] > 0


async def test_factory(commons, config):
    """The app's adapters: the in-process one for ``reference``, the members' factory for the kinds over HTTP."""
    adapter_of = adapter_factory(config, commons.commons, lambda _: OPEN)
    built = {kind: adapter_of(member(commons.base_url, kind=kind)) for kind in ("gen3", "drs", "reference")}
    assert isinstance(built["gen3"], Gen3Adapter) and isinstance(built["drs"], DrsAdapter)
    assert isinstance(built["reference"], ReferenceAdapter) and built["reference"].commons is commons.commons
    for adapter in built.values():
        assert isinstance(adapter, MemberAdapter) and adapter.member_id == "m1"
        await adapter.close()
    with pytest.raises(ValueError, match="no in-process commons"):
        adapter_factory(config, None, lambda _: OPEN)(member(commons.base_url, kind="reference"))
    with pytest.raises(ValueError, match="unknown kind 'ftp'"):
        adapter_of(member(commons.base_url, kind="ftp"))
    with pytest.raises(ValueError, match="unknown kind 'reference'"):  # the members' factory never builds it
        build_adapter(member(commons.base_url, kind="reference"), config, OPEN)
