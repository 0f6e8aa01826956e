"""The one unverified JWT peek: what it reads, and that anything malformed is ``None`` (never an exception)."""

from __future__ import annotations

import base64

import jwt
import orjson
import pytest

from gateway.core.jwt_peek import MAX_PEEK_BYTES, b64url_decode, peek, peek_bearer


def segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(header: object = None, payload: object = None, signature: str = "c2ln") -> str:
    header = {"alg": "RS256", "typ": "JWT"} if header is None else header
    payload = {"iss": "https://fence.example/user", "exp": 2_000_000_000} if payload is None else payload
    return f"{segment(orjson.dumps(header))}.{segment(orjson.dumps(payload))}.{signature}"


def test_a_token_signed_by_anyone_is_read_but_not_verified():
    made = jwt.encode({"iss": "https://fence.example/user", "exp": 1_900_000_000}, "k" * 32, algorithm="HS256",
                      headers={"kid": "k1"})
    peeked = peek(made)
    assert peeked is not None
    assert peeked.payload == {"iss": "https://fence.example/user", "exp": 1_900_000_000}
    assert peeked.header == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    tampered = made.rsplit(".", 1)[0] + ".AAAA"
    assert peek(tampered) == peeked, "a peek never looks at the signature's validity: never a basis for trust"


def test_unsecured_tokens_have_an_empty_signature():
    assert peek(token({"alg": "none"}, signature="")) is not None


@pytest.mark.parametrize("bad", [
    "", "a", "a.b", "a.b.c.d", "not-a-jwt", "eyJ.x.y",
    token() + ".",  # four segments
    token().replace(".", "..", 1),
    token(header=["alg"]), token(payload=[1, 2]), token(payload="iss"), token(payload=7),
    f"{segment(b'{not json')}.{segment(b'{}')}.c2ln",
    f"{segment(orjson.dumps({}))}.{segment(bytes([0xff, 0xfe]))}.c2ln",  # not UTF-8
    token().replace(".", "=.", 1),  # padding
    token()[:-1] + "+",  # the standard alphabet, not url-safe
    " " + token(), token() + "\n",
    "\udcff\udcfe.x.y",  # undecodable bytes in a header value
    token(signature="a"),  # a length no base64 has
])
def test_anything_malformed_is_none(bad):
    assert peek(bad) is None


def test_non_canonical_base64url_is_refused():
    assert b64url_decode("QQ") == b"A"
    assert b64url_decode("QR") is None, "the trailing bits that encode nothing must be zero"
    assert b64url_decode("Q") is None and b64url_decode("QQ==") is None and b64url_decode("Q Q") is None
    header, payload, _ = token().split(".")
    assert peek(f"{header}.{payload}.QR") is None


def test_the_size_is_bounded():
    big = token(payload={"pad": "x" * MAX_PEEK_BYTES})
    assert len(big) > MAX_PEEK_BYTES and peek(big) is None
    assert peek(big, max_bytes=2 * MAX_PEEK_BYTES) is not None
    assert peek(token(), max_bytes=10) is None


def test_peek_bearer_reads_only_bearer_headers():
    made = token()
    assert peek_bearer(f"Bearer {made}") == peek(made)
    assert peek_bearer(f"  bearer   {made}  ") == peek(made)
    for header in (f"Basic {made}", made, "Bearer", "Bearer ", "", f"Token {made}"):
        assert peek_bearer(header) is None
