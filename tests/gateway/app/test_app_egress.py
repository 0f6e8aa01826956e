"""The composition root builds one egress policy from ``egress.*`` and hands it to every outbound client: here the
Passport key fetches of a running gateway, the deprecated ``registry.join_deny_networks``, and which members get
the operator's exceptions (pure)."""

from __future__ import annotations

import logging

import faults
import pytest
from servers import start_gateway

from gateway.app.members import member_egress
from gateway.core.egress import EgressPolicy
from gateway.core.member import Member, Status
from gateway.passports.trust.keys import KeyLookupError
from gateway.settings.sections import MemberConfig
from gateway.web.keys import GATE, REGISTRY, STATE


async def test_passport_keys_inside_a_denied_network_are_never_fetched(tmp_path):
    """A trusted broker whose keys live where the policy denies (loopback, here): the warm-up and every lookup are
    refused by the policy, with no request sent; the lookup fails closed."""
    async with faults.serve(faults.flaky(0)) as internal:
        gateway = await start_gateway(
            store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, refcommons={"enabled": False},
            egress={"deny_networks": ["127.0.0.0/8"]},
            passports={"enabled": True, "allow_insecure_loopback": True,
                       "trusted_brokers": [{"issuer": internal.url + "/broker", "discovery": True}],
                       "keys": {"connect_timeout": 1.0, "read_timeout": 1.0}},
        )
        try:
            with pytest.raises(KeyLookupError):
                await gateway.app[GATE].engine.keys.broker_key(internal.url + "/broker", "k1", "RS256")
        finally:
            await gateway.stop()
        assert internal.hits == []


async def test_the_deprecated_join_deny_list_sets_the_one_policy(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.app")
    gateway = await start_gateway(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, refcommons={"enabled": False},
                                  registry={"join_deny_networks": ["127.0.0.2/32"]})
    try:
        assert gateway.app[STATE].egress == EgressPolicy.denying(["127.0.0.2/32"])
        assert gateway.app[REGISTRY].egress == gateway.app[STATE].egress
        assert "registry.join_deny_networks is deprecated" in caplog.text
    finally:
        await gateway.stop()


def member(member_id: str, base_url: str, source: str = "config") -> Member:
    return Member(id=member_id, name=member_id, base_url=base_url, kind="gen3", prefixes=("dg.x1",), hostnames=(),
                  status=Status.active, source=source)  # type: ignore[arg-type]


def test_exceptions_go_to_declared_members_only():
    policy = EgressPolicy.denying(["10.0.0.0/8"], allow=["10.20.0.0/24"])
    declared = [MemberConfig(id="private", name="Private", base_url="HTTP://10.20.0.5:8080/")]
    egress = member_egress(policy, declared)
    assert egress(member("private", "http://10.20.0.5:8080")) is policy
    strict = EgressPolicy.denying(["10.0.0.0/8"])
    assert egress(member("private", "http://10.20.0.6:8080")) == strict  # its base URL is no longer the declared one
    assert egress(member("joined", "http://10.20.0.5:8080", source="api")) == strict
    assert egress(member("upstream-10-20-0-5-8080", "http://10.20.0.5:8080")) == strict  # named by a dist list
