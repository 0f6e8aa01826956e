"""The egress policy's matching rules (pure: every spelling and embedding of an address) and its up-front host
check."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from gateway.core.egress import (
    OPEN,
    VERDICTS_KEPT,
    EgressDenied,
    EgressPolicy,
    address_forms,
    parse_host,
    parse_ipv4_loose,
)
from gateway.settings.sections import DEFAULT_DENY_NETWORKS

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
    "::a9fe:a9fe",  # IPv4-compatible ::169.254.169.254 (once allowed: the brief asks for every embedding)
])
def test_denied_addresses(address):
    assert METADATA_AND_PRIVATE.denies(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "8.8.8.8", "2001:db8::1"])
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


# --- normalised address forms: every spelling that reaches a denied IPv4 host is denied ---------------------------

LOOPBACK_ONLY = EgressPolicy.denying(["127.0.0.0/8", "::1/128"])

# (spelling, an IPv4 address it embeds or reaches); each worked out by hand from its RFC, not with the code under test
REACHES_LOOPBACK = [
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped (RFC 4291 §2.5.5.2)
    ("::ffff:7f00:1", "127.0.0.1"),
    ("::FFFF:7F00:0001", "127.0.0.1"),
    ("0:0:0:0:0:ffff:7f00:1", "127.0.0.1"),
    ("::ffff:0:7f00:1", "127.0.0.1"),  # SIIT IPv4-translated (RFC 2765)
    ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible (RFC 4291 §2.5.5.1, deprecated)
    ("::7f00:1", "127.0.0.1"),
    ("2002:7f00:1::", "127.0.0.1"),  # 6to4 (RFC 3056): 2002:<v4>::/48
    ("2002:7f00:0001:abcd::1", "127.0.0.1"),
    ("64:ff9b::127.0.0.1", "127.0.0.1"),  # NAT64 well-known prefix (RFC 6052 /96)
    ("64:ff9b::7f00:1", "127.0.0.1"),
    ("64:ff9b:1:7f00:0:100::", "127.0.0.1"),  # local-use 64:ff9b:1::/48 (RFC 8215), /48 position, u octet skipped
    ("64:ff9b:1:ab7f:0:1::", "127.0.0.1"),  # a /56 inside it
    ("64:ff9b:1:abcd:7f:0:100:0", "127.0.0.1"),  # a /64 inside it
    ("64:ff9b:1:abcd::7f00:1", "127.0.0.1"),  # a /96 inside it
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo (RFC 4380): client = ~80ff:fffe
    ("2130706433", "127.0.0.1"),  # inet_aton spellings the resolver takes as numbers
    ("0x7f.1", "127.0.0.1"),
    ("0X7F.0.0.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("127.0.0.01", "127.0.0.1"),
    ("[::ffff:127.0.0.1]", "127.0.0.1"),  # as a URL's host
    ("0.0.0.0", "127.0.0.1"),  # unspecified: connecting to it reaches this host
    ("0", "127.0.0.1"),
    ("::", "127.0.0.1"),
    ("::ffff:0.0.0.0", "127.0.0.1"),
]


@pytest.mark.parametrize(("spelling", "reached"), REACHES_LOOPBACK)
def test_every_spelling_of_a_denied_host_is_denied(spelling, reached):
    assert LOOPBACK_ONLY.denies(spelling)
    ip = parse_host(spelling)
    assert ip is not None
    assert ipaddress.ip_address(reached) in address_forms(ip)


@pytest.mark.parametrize("spelling", [
    "::1", "[::1]",  # loopback, but the metadata/private policy allows it (and ::1 is not IPv4-compatible)
    "2001:db8::1", "8.8.8.8", "134744072",  # 8.8.8.8 spelt as a number
    "::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808", "64:ff9b:1:808:8:800::",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo client 8.8.8.8
])
def test_spellings_of_allowed_hosts_pass(spelling):
    assert not METADATA_AND_PRIVATE.denies(spelling)


@pytest.mark.parametrize(("spelling", "reached"), [
    ("::ffff:169.254.169.254", "169.254.169.254"), ("2002:a9fe:a9fe::", "169.254.169.254"),
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"), ("64:ff9b::10.1.2.3", "10.1.2.3"), ("::10.1.2.3", "10.1.2.3"),
    ("2852039166", "169.254.169.254"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"), ("012.1.2.3", "10.1.2.3"),
    ("fe80::1%eth0", "fe80::1"), ("[fe80::1%25eth0]", "fe80::1"), ("fd00::1", "fd00::1"),
])
def test_metadata_and_private_ranges_in_any_spelling(spelling, reached):
    form = EgressPolicy.denying(DEFAULT_DENY_NETWORKS).denied_form(spelling)
    assert form == ipaddress.ip_address(reached)


LOOSE = ["2130706433", "0x7f.1", "017700000001", "0x7f000001", "127.1", "0177.0.0.1", "127.0.0.01", "0X7F.1",
         "0", "00", "1.2.3", "1.2.65535", "1.2.65536", "4294967295", "4294967296", "0xffffffff", "0x100000000",
         "1.0x10.3.4", "0x", "0x.1", "09", "08.0.0.1", "1.2.3.4.5", "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ", "+1", "-1",
         "1e3", "0x7g", "1_0.0.0.1", "256.0.0.1", "1.256.0.1", "٣.1.1.1", "example.org", ""]


@pytest.mark.parametrize("spelling", LOOSE)
def test_ipv4_spellings_are_read_as_the_system_resolver_reads_them(spelling):
    """getaddrinfo without DNS (``AI_NUMERICHOST``) is the oracle: what it takes as a number, we read the same."""
    try:
        infos = socket.getaddrinfo(spelling, None, socket.AF_INET, flags=socket.AI_NUMERICHOST)
        expected = ipaddress.IPv4Address(infos[0][4][0])
    except (OSError, UnicodeError):
        expected = None
    assert parse_ipv4_loose(spelling) == expected


def test_names_and_garbage_are_not_addresses():
    for text in ("example.org", "localhost", "::ffff:0x7f.1", "[::1", "1.2.3.4.5", "", "[]", "::g"):
        assert parse_host(text) is None
    with pytest.raises(ValueError):
        LOOPBACK_ONLY.denies("localhost")


def test_the_refusal_names_the_embedded_address():
    with pytest.raises(EgressDenied) as err:
        LOOPBACK_ONLY.check_literal("2002:7f00:1::")
    assert str(err.value) == "2002:7f00:1:: is inside a denied network (it reaches 127.0.0.1)"
    with pytest.raises(EgressDenied) as err:
        LOOPBACK_ONLY.check_literal("127.0.0.1")
    assert str(err.value) == "127.0.0.1 is inside a denied network"


def test_exceptions_carve_out_of_denied_networks_and_can_be_dropped():
    policy = EgressPolicy.denying(["10.0.0.0/8", "fc00::/7"], allow=["10.20.0.0/24"])
    assert not policy.denies("10.20.0.5") and not policy.denies("::ffff:10.20.0.5")
    assert not policy.denies("2002:a14:5::")  # 6to4 of 10.20.0.5
    assert policy.denies("10.21.0.1") and policy.denies("fd00::1")
    strict = policy.without_exceptions()
    assert strict.denies("10.20.0.5") and strict.deny == policy.deny and strict.allow == ()
    assert EgressPolicy.denying([], allow=["10.0.0.0/8"]).denies_nothing


async def test_check_host_reads_literals_without_dns():
    with pytest.raises(EgressDenied):
        await LOOPBACK_ONLY.check_host("0x7f.1")
    with pytest.raises(EgressDenied):
        await LOOPBACK_ONLY.check_host("[::ffff:127.0.0.1]")
    await LOOPBACK_ONLY.check_host("8.8.8.8")


def test_verdicts_are_remembered_within_a_bound():
    """A member's address is judged once, not on every call; the memory is bounded whatever the addresses."""
    policy = EgressPolicy.denying(["10.0.0.0/8"])
    for n in range(VERDICTS_KEPT + 10):
        assert policy.denies(str(ipaddress.IPv4Address(0x0A000000 + n)))
    assert len(policy._verdicts) <= VERDICTS_KEPT
    assert policy.denies("10.1.2.3") and policy.denies("10.1.2.3") and not policy.denies("8.8.8.8")
    assert policy.without_exceptions() is policy and policy == EgressPolicy.denying(["10.0.0.0/8"])
