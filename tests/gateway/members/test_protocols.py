"""The capability protocols (gateway.members.protocols) and the adapters that claim them: each adapter implements
every method of each capability it claims itself (not the protocol's empty body), with the protocol's signature,
and is seen to have it by ``isinstance`` (what the features check); a capability it does not claim is not seen."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from adapter_support import member

from gateway.app.inprocess import ReferenceAdapter
from gateway.core.egress import OPEN
from gateway.members.drs import DrsAdapter
from gateway.members.gen3 import Gen3Adapter
from gateway.members.protocols import (
    Access,
    Authz,
    BulkRecords,
    CohortSearch,
    MemberAdapter,
    Records,
    StudyDiscovery,
)
from gateway.settings.sections import UpstreamConfig

EVERY = (MemberAdapter, Records, BulkRecords, Access, CohortSearch, StudyDiscovery, Authz)
CLAIMS: dict[type, tuple[type, ...]] = {
    Gen3Adapter: (MemberAdapter, CohortSearch, StudyDiscovery, Authz),
    DrsAdapter: (MemberAdapter, CohortSearch, StudyDiscovery),
    ReferenceAdapter: (MemberAdapter, CohortSearch, StudyDiscovery, Authz),
}


def protocol_methods(protocol: type) -> dict[str, Any]:
    """Name → function of every method the protocol (and the protocols it extends) declares."""
    out: dict[str, Any] = {}
    for cls in reversed(protocol.__mro__):
        if getattr(cls, "_is_protocol", False) and cls.__module__ == "gateway.members.protocols":
            out.update({k: v for k, v in vars(cls).items() if inspect.isfunction(v) and not k.startswith("__")})
    return out


def is_protocol(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False))


def instance(cls: type) -> Any:
    m = member("http://member.example", kind="drs" if cls is DrsAdapter else "gen3")
    return ReferenceAdapter(m, None) if cls is ReferenceAdapter else cls(m, UpstreamConfig(), OPEN)  # type: ignore[arg-type]


@pytest.mark.parametrize("adapter", list(CLAIMS), ids=lambda c: c.__name__)
def test_each_claimed_method_is_the_adapters_own_with_the_protocols_signature(adapter: type) -> None:
    for protocol in CLAIMS[adapter]:
        for name, declared in protocol_methods(protocol).items():
            owner = next(c for c in adapter.__mro__ if name in vars(c))
            assert not is_protocol(owner), f"{adapter.__name__}.{name} is {owner.__name__}'s empty body"
            own = vars(owner)[name]
            assert inspect.iscoroutinefunction(own) == inspect.iscoroutinefunction(declared), name
            got, want = inspect.signature(own).parameters, inspect.signature(declared).parameters
            assert [(p.name, p.kind, p.default) for p in got.values()] == \
                   [(p.name, p.kind, p.default) for p in want.values()], f"{adapter.__name__}.{name}"


@pytest.mark.parametrize("adapter", list(CLAIMS), ids=lambda c: c.__name__)
async def test_isinstance_sees_exactly_the_claimed_capabilities(adapter: type) -> None:
    made = instance(adapter)
    try:
        claimed = {p for c in CLAIMS[adapter] for p in c.__mro__ if p in EVERY}
        assert {p for p in EVERY if isinstance(made, p)} == claimed
        assert isinstance(made.member_id, str)
    finally:
        await made.close()


def test_the_protocols_are_what_the_features_ask_for() -> None:
    assert set(protocol_methods(MemberAdapter)) == {"get_record", "get_records", "access_url", "access_urls", "probe",
                                                    "close"}
    assert set(protocol_methods(CohortSearch)) == {"cohort_counts", "cohort_rows"}
    assert set(protocol_methods(StudyDiscovery)) == {"discovery_records"}
    assert set(protocol_methods(Authz)) == {"user_authz", "anonymous_authz"}

    class OnlyCounts:
        async def cohort_counts(self, query, deadline, *, authorization=None): ...

    assert not isinstance(OnlyCounts(), CohortSearch)  # half a capability is none
