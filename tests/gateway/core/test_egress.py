"""The egress policy's matching rules (pure) and its up-front host check."""

from __future__ import annotations

import pytest

from gateway.core.egress import OPEN, EgressDenied, EgressPolicy

METADATA_AND_PRIVATE = EgressPolicy.denying(["169.254.0.0/16", "10.0.0.0/8", "fc00::/7"])


def test_first_denied_is_pure_and_version_aware():
    policy = EgressPolicy.denying(["169.254.0.0/16", "fc00::/7"])
    assert policy.first_denied(["127.0.0.1", "169.254.169.254"]) == "169.254.169.254"
    assert policy.first_denied(["127.0.0.1", "::1"]) is None
    assert policy.first_denied(["fd00::1"]) == "fd00::1"
    assert EgressPolicy.denying([]).first_denied(["10.0.0.1"]) is None


@pytest.mark.parametrize("address", [
    "169.254.169.254", "10.1.2.3",
    "::ffff:169.254.169.254", "::ffff:a9fe:a9fe",  # IPv4-mapped: the IPv4 host they reach is matched
    "::FFFF:10.0.0.1", "0:0:0:0:0:ffff:0a00:0001",
    "fd00::1%eth0",  # a zone is not part of the address
])
def test_denied_addresses(address):
    assert METADATA_AND_PRIVATE.denies(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "8.8.8.8", "2001:db8::1", "::a9fe:a9fe"])
def test_allowed_addresses(address):
    assert not METADATA_AND_PRIVATE.denies(address)


def test_a_denied_mapped_network_still_matches_mapped_addresses():
    assert EgressPolicy.denying(["::ffff:0:0/96"]).denies("::ffff:8.8.8.8")


def test_open_denies_nothing_and_bad_input_is_refused():
    assert OPEN.denies_nothing and not OPEN.denies("169.254.169.254")
    assert not METADATA_AND_PRIVATE.denies_nothing
    with pytest.raises(ValueError):
        EgressPolicy.denying(["10.0.0.0/33"])
    with pytest.raises(ValueError):
        METADATA_AND_PRIVATE.denies("example.org")


def test_check_literal_judges_ip_literals_only():
    with pytest.raises(EgressDenied) as err:
        METADATA_AND_PRIVATE.check_literal("::ffff:169.254.169.254")
    assert err.value.address == "::ffff:169.254.169.254" and "inside a denied network" in str(err.value)
    METADATA_AND_PRIVATE.check_literal("metadata.example")  # a name: judged once resolved
    METADATA_AND_PRIVATE.check_literal("127.0.0.1")


async def test_check_host_resolves_names():
    loopback = EgressPolicy.denying(["127.0.0.0/8", "::1/128"])
    with pytest.raises(EgressDenied) as err:
        await loopback.check_host("localhost")
    assert err.value.host == "localhost" and loopback.denies(err.value.address)
    assert "localhost (" in str(err.value)
    with pytest.raises(EgressDenied):
        await loopback.check_host("::ffff:7f00:1")
    await METADATA_AND_PRIVATE.check_host("localhost")
    with pytest.raises(OSError):
        await METADATA_AND_PRIVATE.check_host("no-such-host.invalid")


async def test_an_open_policy_resolves_nothing():
    await OPEN.check_host("no-such-host.invalid")
