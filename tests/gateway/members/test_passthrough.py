"""Which caller credentials reach which member (pure rules of gateway.members.passthrough)."""

from __future__ import annotations

import jwt
import pytest

from gateway.core.member import Member, MemberAuth, Status
from gateway.members.passthrough import forwarded_authorization, token_issuer


def member(kind: str = "gen3", auth: str = "passthrough", base_url: str = "http://127.0.0.1:9001") -> Member:
    return Member(id="m", name="M", base_url=base_url, kind=kind, prefixes=("dg.m1",), hostnames=(),
                  status=Status.active, auth=MemberAuth(auth))


def bearer(iss: str, scheme: str = "Bearer") -> str:
    return f"{scheme} " + jwt.encode({"iss": iss, "sub": "u"}, "k" * 32, algorithm="HS256")


def test_a_token_reaches_only_the_member_whose_fence_issued_it():
    own = bearer("http://127.0.0.1:9001/user")
    other = bearer("http://127.0.0.1:9002/user")
    assert forwarded_authorization(member(), own) == own
    assert forwarded_authorization(member(), bearer("http://127.0.0.1:9001/user/", "bearer")) is not None
    assert forwarded_authorization(member(), other) is None
    assert forwarded_authorization(member(kind="reference"), other) is None


@pytest.mark.parametrize("mode", ["none", "bearer", "api_key"])
def test_only_passthrough_members_see_the_callers_header(mode):
    assert forwarded_authorization(member(auth=mode), bearer("http://127.0.0.1:9001/user")) is None


def test_drs_members_get_the_header_as_sent():
    for header in (bearer("https://anyone.example/user"), "Bearer opaque-token", "Basic dXNlcjpwYXNz"):
        assert forwarded_authorization(member(kind="drs"), header) == header
    assert forwarded_authorization(member(kind="drs"), None) is None


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer ", "", "eyJ.x.y"])
def test_unreadable_tokens_have_no_issuer_and_do_not_reach_gen3_members(header):
    assert token_issuer(header) is None
    assert forwarded_authorization(member(), header) is None


def test_undecodable_bytes_in_a_header_are_no_token():
    assert token_issuer("Bearer \udcff\udcfe.x.y") is None
