"""Strict compact-JWS parsing, header rules, key binding and signature verification (rulebook rules 6–12)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re

import orjson
import pytest
import tokens_kit as kit
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.passports.jose import jws
from gateway.passports.jose.encoding import _strict_json_object, b64url_decode, strict_json_object
from gateway.passports.jose.errors import HeaderRejected, JwsError, KeyRejected, MalformedJws, SignatureInvalid
from gateway.passports.jose.jwk import check_key, key_from_jwk
from gateway.passports.jose.jws import TokenKind, check_typ, parse_compact, verify

PAYLOAD = {"iss": kit.BROKER, "sub": kit.SUB, "iat": kit.NOW, "exp": kit.NOW + 60, "ga4gh_passport_v1": []}


def token(alg: str = "RS256", key=None, **header_extra) -> str:
    return kit.sign(kit.header(alg, "k1", kit.TYP_PASSPORT, **header_extra), PAYLOAD, key, alg=alg)


def rule_of(excinfo: pytest.ExceptionInfo) -> int:
    return excinfo.value.rule


# --- happy paths -------------------------------------------------------------------------------------------------


def test_rs256_round_trip():
    parsed = parse_compact(token("RS256"))
    assert parsed.header["alg"] == "RS256" and parsed.kid == "k1"
    assert parsed.payload == PAYLOAD
    verify(parsed, kit.rsa_key().public_key())
    verify(parsed, key_from_jwk(kit.jwk(kit.rsa_key(), "k1")))


def test_es256_round_trip():
    parsed = parse_compact(token("ES256"))
    verify(parsed, kit.ec_key().public_key())
    verify(parsed, key_from_jwk(kit.jwk(kit.ec_key(), "k1")))


def test_raw_sha256_identifies_the_token():
    t = token()
    import hashlib

    assert parse_compact(t).raw_sha256 == hashlib.sha256(t.encode()).hexdigest()


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_signature_covers_exactly_the_signing_input_it_is_verified_with(alg):
    """However the digest of the signing input is computed (once, at parse time, with the token's own hash), a
    parsed token whose signing input is replaced afterwards is verified over the replacement, never over a digest
    remembered from before."""
    key = kit.rsa_key().public_key() if alg == "RS256" else kit.ec_key().public_key()
    parsed = parse_compact(token(alg))
    verify(parsed, key)
    other = parse_compact(token(alg, sub="x"))  # a valid token of the same key, another header
    verify(other, key)
    swapped = dataclasses.replace(parsed, signing_input=other.signing_input)
    with pytest.raises(SignatureInvalid):
        verify(swapped, key)
    verify(dataclasses.replace(other, signature=other.signature), key)
    rebuilt = jws.ParsedJws(parsed.header, parsed.payload, other.signing_input, other.signature, parsed.raw_sha256)
    verify(rebuilt, key)


def test_wrong_key_fails_signature():
    parsed = parse_compact(token("RS256"))
    with pytest.raises(SignatureInvalid) as exc:
        verify(parsed, kit.rsa_key(2048, 1).public_key())
    assert rule_of(exc) == 9


def test_tampered_payload_fails_signature():
    h, _p, s = token().split(".")
    forged = f"{h}.{kit.segment(dict(PAYLOAD, sub='someone-else'))}.{s}"
    with pytest.raises(SignatureInvalid):
        verify(parse_compact(forged), kit.rsa_key().public_key())


def test_es256_der_signature_rejected():
    # ES256 signatures are raw r||s (64 bytes); a DER-encoded one is refused without reaching cryptography
    h = kit.header("ES256", "k1", kit.TYP_PASSPORT)
    signing_input = f"{kit.segment(h)}.{kit.segment(PAYLOAD)}"
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    der = kit.ec_key().sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(SignatureInvalid):
        verify(parse_compact(f"{signing_input}.{kit.b64url(der)}"), kit.ec_key().public_key())


# --- rule 6: compact serialisation, strict base64url -------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    "", "a.b", "a.b.c.d", "...", "a..c", ".b.c",
    "eyJhbGciOiJSUzI1NiJ9.e30.c2lnÄ",  # non-ASCII
    "eyJhbGciOiJSUzI1NiJ9.e30.c2ln=",  # padding
    "eyJhbGciOiJSUzI1NiJ9.e30.c2l+",  # standard (not url-safe) alphabet
    "eyJhbGciOiJSUzI1NiJ9.e30.c",  # impossible length
])
def test_malformed_compact_rejected(bad):
    with pytest.raises(MalformedJws) as exc:
        parse_compact(bad)
    assert rule_of(exc) == 6


def test_jwe_five_segments_rejected():
    with pytest.raises(MalformedJws, match="JWE") as exc:
        parse_compact("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d")
    assert rule_of(exc) == 6


def test_jwe_header_members_rejected_even_in_three_segments():
    with pytest.raises(MalformedJws) as exc:
        parse_compact(token(enc="A256GCM"))
    assert rule_of(exc) == 6


def test_json_serialization_rejected():
    h, p, s = token().split(".")
    general = json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})
    flattened = json.dumps({"payload": p, "protected": h, "signature": s})
    for text in (general, flattened):
        with pytest.raises(MalformedJws) as exc:
            parse_compact(text)
        assert rule_of(exc) == 6


def test_unsigned_token_rejected():
    h, p, _s = token().split(".")
    with pytest.raises(MalformedJws) as exc:
        parse_compact(f"{h}.{p}.")
    assert rule_of(exc) == 6


def test_non_canonical_base64url_rejected():
    h, p, s = token().split(".")
    # flip the unused low bits of the last character of the signature (RSA-2048: 256 bytes → 342 chars, 2 spare bits)
    last = s[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(MalformedJws) as exc:
        parse_compact(f"{h}.{p}.{s[:-1]}{twin}")
    assert rule_of(exc) == 6


def test_non_string_token_rejected():
    for bad in (None, b"a.b.c", 42, ["a", "b", "c"]):
        with pytest.raises(MalformedJws):
            parse_compact(bad)


# --- rule 3: size caps -------------------------------------------------------------------------------------------


def test_oversized_token_rejected_before_parsing():
    big = dict(PAYLOAD, pad="x" * (jws.MAX_VISA_BYTES + 1))
    t = kit.sign(kit.header("RS256", "k1"), big)
    parse_compact(t)  # fine under the passport cap
    with pytest.raises(MalformedJws) as exc:
        parse_compact(t, max_bytes=jws.MAX_VISA_BYTES)
    assert rule_of(exc) == 3
    with pytest.raises(MalformedJws) as exc:
        parse_compact("A" * (jws.MAX_PASSPORT_BYTES + 1))
    assert rule_of(exc) == 3


# --- rule 7: JSON objects, no duplicate names --------------------------------------------------------------------


def test_duplicate_header_member_rejected():
    raw_header = '{"alg":"RS256","kid":"k1","alg":"HS256"}'
    with pytest.raises(MalformedJws, match="duplicate") as exc:
        parse_compact(kit.sign(raw_header, PAYLOAD, alg="RS256"))
    assert rule_of(exc) == 7


def test_duplicate_payload_member_rejected():
    raw_payload = '{"sub":"a","iss":"b","sub":"c","iat":1,"exp":2}'
    with pytest.raises(MalformedJws, match="duplicate") as exc:
        parse_compact(kit.sign(kit.header(), raw_payload))
    assert rule_of(exc) == 7


def test_nested_duplicate_member_rejected():
    raw_payload = '{"ga4gh_visa_v1":{"type":"a","type":"b"}}'
    with pytest.raises(MalformedJws):
        parse_compact(kit.sign(kit.header(), raw_payload))


@pytest.mark.parametrize("raw", ['["alg"]', '"x"', "null", "1", "{", '{"a":NaN}', '{"a":Infinity}'])
def test_payload_must_be_a_json_object(raw):
    with pytest.raises(MalformedJws) as exc:
        parse_compact(kit.sign(kit.header(), raw))
    assert rule_of(exc) == 7


def test_header_must_be_a_json_object():
    with pytest.raises(MalformedJws) as exc:
        parse_compact(kit.sign('["RS256"]', PAYLOAD))
    assert rule_of(exc) == 7


def test_non_utf8_rejected():
    with pytest.raises(MalformedJws) as exc:
        parse_compact(kit.sign(kit.header(), b'{"sub":"\xff"}'))
    assert rule_of(exc) == 7


# --- rule 8: algorithms ------------------------------------------------------------------------------------------


def test_alg_none_rejected():
    t = kit.sign(kit.header("none", "k1", kit.TYP_PASSPORT), PAYLOAD, alg="none")
    with pytest.raises(MalformedJws):  # empty signature segment
        parse_compact(t)
    # and with a non-empty bogus signature
    h, p, _ = t.split(".")
    with pytest.raises(HeaderRejected) as exc:
        parse_compact(f"{h}.{p}.{kit.b64url(b'x')}")
    assert rule_of(exc) == 8


def test_hs256_signed_with_rsa_public_key_rejected():
    secret = kit.public_pem(kit.rsa_key())
    t = kit.sign(kit.header("HS256", "k1", kit.TYP_PASSPORT), PAYLOAD, secret, alg="HS256")
    with pytest.raises(HeaderRejected) as exc:
        parse_compact(t)
    assert rule_of(exc) == 8
    # even handed straight to verify() (bypassing parse), an HS256 header never verifies
    parsed = jws.ParsedJws(header={"alg": "HS256", "kid": "k1"}, payload=PAYLOAD,
                           signing_input=t.rsplit(".", 1)[0].encode(), signature=b"x", raw_sha256="0")
    with pytest.raises(HeaderRejected):
        verify(parsed, kit.rsa_key().public_key())


@pytest.mark.parametrize("alg", ["HS256", "HS512", "PS256", "RS512", "ES384", "EdDSA", "rs256", "", None, 1, ["RS256"]])
def test_other_algorithms_rejected(alg):
    raw = kit.header("RS256", "k1")
    raw["alg"] = alg
    with pytest.raises(HeaderRejected) as exc:
        parse_compact(kit.sign(raw, PAYLOAD, alg="RS256"))
    assert rule_of(exc) == 8


def test_alg_missing_rejected():
    with pytest.raises(HeaderRejected):
        parse_compact(kit.sign({"kid": "k1"}, PAYLOAD, alg="RS256"))


def test_per_call_algorithm_subset():
    with pytest.raises(HeaderRejected):
        parse_compact(token("ES256"), algorithms=["RS256"])
    parse_compact(token("ES256"), algorithms=["ES256"])
    with pytest.raises(ValueError):
        parse_compact(token(), algorithms=["RS256", "HS256"])
    with pytest.raises(ValueError):
        parse_compact(token(), algorithms=[])


# --- rule 9: key binding -----------------------------------------------------------------------------------------


def test_rsa_1024_rejected():
    small = kit.rsa_key(1024)
    parsed = parse_compact(token("RS256", small))
    with pytest.raises(KeyRejected) as exc:
        verify(parsed, small.public_key())
    assert rule_of(exc) == 9
    with pytest.raises(KeyRejected):
        key_from_jwk(kit.jwk(small))


def test_ec_p384_for_es256_rejected():
    p384 = kit.ec_key("P-384")
    h = kit.header("ES256", "k1")
    parsed = parse_compact(kit.sign(h, PAYLOAD, p384, alg="ES384"))
    with pytest.raises(KeyRejected) as exc:
        verify(parsed, p384.public_key())
    assert rule_of(exc) == 9
    with pytest.raises(KeyRejected):
        key_from_jwk(kit.jwk(p384, alg=None))
    with pytest.raises(KeyRejected):
        key_from_jwk(kit.jwk(kit.ec_key("secp256k1"), alg=None, crv="P-256"))  # not on P-256: point check


def test_key_type_bound_to_alg():
    rs = parse_compact(token("RS256"))
    es = parse_compact(token("ES256"))
    with pytest.raises(KeyRejected):
        verify(rs, kit.ec_key().public_key())
    with pytest.raises(KeyRejected):
        verify(es, kit.rsa_key().public_key())
    with pytest.raises(KeyRejected):  # a JWK-derived key stays bound to its algorithm
        verify(es, key_from_jwk(kit.jwk(kit.rsa_key())))
    with pytest.raises(KeyRejected):  # private keys, bytes and PEM are not public keys
        verify(rs, kit.rsa_key())
    with pytest.raises(KeyRejected):
        verify(rs, kit.public_pem(kit.rsa_key()))


def test_jwk_alg_mismatch_rejected():
    for alg in ("ES256", "HS256", "RS512", "none"):
        with pytest.raises(KeyRejected) as exc:
            key_from_jwk(kit.jwk(kit.rsa_key(), alg=alg))
        assert rule_of(exc) == 9
    with pytest.raises(KeyRejected):
        key_from_jwk(kit.jwk(kit.ec_key(), alg="RS256"))


def test_jwk_use_enc_rejected():
    with pytest.raises(KeyRejected) as exc:
        key_from_jwk(kit.jwk(kit.rsa_key(), use="enc"))
    assert rule_of(exc) == 9
    assert key_from_jwk(kit.jwk(kit.rsa_key(), use=None, alg=None)).alg == "RS256"


def test_jwk_key_ops_must_allow_verify():
    with pytest.raises(KeyRejected):
        key_from_jwk(kit.jwk(kit.rsa_key(), key_ops=["encrypt"]))
    key_from_jwk(kit.jwk(kit.rsa_key(), key_ops=["verify"]))


@pytest.mark.parametrize("jwk_fn", [
    lambda: {"kty": "oct", "k": kit.b64url(b"secret"), "kid": "k1"},
    lambda: kit.jwk(kit.rsa_key(), d=kit.b64url(b"private")),
    lambda: kit.jwk(kit.rsa_key(), kty="RSA-X"),
    lambda: kit.jwk(kit.rsa_key(), e="AAE"),  # e = 1
    lambda: kit.jwk(kit.rsa_key(), n=None),
    lambda: kit.jwk(kit.rsa_key(), n="not base64url!"),
    lambda: kit.jwk(kit.ec_key(), x=kit.b64url(b"\x01" * 31)),
    lambda: kit.jwk(kit.rsa_key(), kid=""),
    lambda: kit.jwk(kit.rsa_key(), kid=7),
    lambda: kit.jwk(kit.rsa_key(), kid="k" * 129),
    lambda: {k: v for k, v in kit.jwk(kit.rsa_key()).items() if k != "kid"},
    lambda: [kit.jwk(kit.rsa_key())],
    lambda: "not a jwk",
])
def test_bad_jwks_rejected(jwk_fn):
    with pytest.raises(KeyRejected):
        key_from_jwk(jwk_fn())


def test_jwk_without_kid_allowed_when_asked():
    j = {k: v for k, v in kit.jwk(kit.rsa_key()).items() if k != "kid"}
    assert key_from_jwk(j, require_kid=False).kid is None


def test_jwk_keys_verify_like_the_originals():
    vk = key_from_jwk(kit.jwk(kit.rsa_key(), "abc"))
    assert vk.kid == "abc" and vk.alg == "RS256"
    assert vk.key.public_numbers() == kit.rsa_key().public_key().public_numbers()


# --- rules 10, 11: kid, crit, embedded keys ----------------------------------------------------------------------


@pytest.mark.parametrize("kid", [
    "../../etc/passwd", "'; DROP TABLE keys; --", "%s%s%n", "{kid}", "k1\r\nX-Injected: 1", "\x00", "k1 ",
    "https://attacker.example/jwks.json", "ü" * 128,
])
def test_injection_kids_are_opaque_and_never_echoed(kid):
    parsed = parse_compact(kit.sign(kit.header("RS256", kid), PAYLOAD))
    assert parsed.kid == kid  # kept verbatim, only ever a dict key
    with pytest.raises(SignatureInvalid) as exc:
        verify(parsed, kit.rsa_key(2048, 1).public_key())
    assert kid not in str(exc.value)


@pytest.mark.parametrize("kid", [None, "", 1, ["k1"], {"a": 1}, "k" * 129])
def test_bad_kid_rejected(kid):
    raw = {"alg": "RS256"} if kid is None else {"alg": "RS256", "kid": kid}
    with pytest.raises(HeaderRejected) as exc:
        parse_compact(kit.sign(raw, PAYLOAD))
    assert rule_of(exc) == 10


@pytest.mark.parametrize("crit", [["exp"], [], ["b64"], "x"])
def test_crit_rejected(crit):
    with pytest.raises(HeaderRejected) as exc:
        parse_compact(token(crit=crit))
    assert rule_of(exc) == 11


def test_b64_false_rejected():
    with pytest.raises(HeaderRejected):
        parse_compact(token(b64=False))


def test_embedded_keys_are_ignored():
    attacker = kit.rsa_key(2048, 2)
    t = kit.sign(kit.header("RS256", "k1", jwk=kit.jwk(attacker), x5u="https://attacker.example/x5u",
                            x5c=["MIIB"]), PAYLOAD, attacker)
    parsed = parse_compact(t)  # parses: the members are simply not used
    with pytest.raises(SignatureInvalid):
        verify(parsed, kit.rsa_key().public_key())


def test_jku_must_be_a_string():
    for bad in (1, "", ["https://a"]):
        with pytest.raises(HeaderRejected):
            parse_compact(token(jku=bad))


# --- rule 12: typ ------------------------------------------------------------------------------------------------


def test_passport_typ():
    check_typ({"typ": "vnd.ga4gh.passport+jwt"}, TokenKind.PASSPORT)
    check_typ({"typ": "application/VND.GA4GH.PASSPORT+JWT"}, TokenKind.PASSPORT)
    for bad in ({}, {"typ": "JWT"}):
        with pytest.raises(HeaderRejected):
            check_typ(bad, TokenKind.PASSPORT)
        check_typ(bad, TokenKind.PASSPORT, legacy=True)
    for confused in ("at+jwt", "vnd.ga4gh.visa+jwt", "JOSE", "", 1):
        with pytest.raises(HeaderRejected) as exc:
            check_typ({"typ": confused}, TokenKind.PASSPORT, legacy=True)
        assert rule_of(exc) == 12


def test_visa_typ():
    for ok in ({}, {"typ": "JWT"}, {"typ": "vnd.ga4gh.visa+jwt"}):
        check_typ(ok, TokenKind.VISA_DOCUMENT)
    for ok in ({"typ": "at+jwt"}, {"typ": "JWT"}):
        check_typ(ok, TokenKind.VISA_ACCESS)
    for confused in ("vnd.ga4gh.passport+jwt", "at+jwt"):
        with pytest.raises(HeaderRejected):
            check_typ({"typ": confused}, TokenKind.VISA_DOCUMENT, legacy=True)
    with pytest.raises(HeaderRejected):
        check_typ({"typ": "vnd.ga4gh.passport+jwt"}, TokenKind.VISA_ACCESS, legacy=True)
    with pytest.raises(HeaderRejected):
        check_typ({}, TokenKind.VISA_ACCESS)
    check_typ({}, TokenKind.VISA_ACCESS, legacy=True)


def test_access_token_typ():
    check_typ({"typ": "at+jwt"}, TokenKind.ACCESS_TOKEN)
    with pytest.raises(HeaderRejected):
        check_typ({"typ": "vnd.ga4gh.passport+jwt"}, TokenKind.ACCESS_TOKEN)


# --- errors never echo token contents ----------------------------------------------------------------------------


def test_error_messages_do_not_echo_token():
    secret = "SECRET-MARKER-12345"
    attempts = [
        kit.sign({"alg": secret, "kid": secret}, {"sub": secret}),
        kit.sign({"alg": "RS256", "kid": secret, "crit": [secret]}, {"sub": secret}),
        kit.sign(f'{{"alg":"RS256","kid":"{secret}","kid":"{secret}"}}', {"sub": secret}),
        kit.sign({"alg": "RS256", "kid": "k" * 200 + secret}, {"sub": secret}),
        f"{secret}.{secret}.{secret}",
    ]
    for t in attempts:
        with pytest.raises(JwsError) as exc:
            parse_compact(t)
        assert secret not in str(exc.value)
        assert secret.lower() not in str(exc.value).lower()


# --- hypothesis: arbitrary input never escapes as anything but JwsError ------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_jws_error(text):
    with contextlib.suppress(JwsError):
        parse_compact(text)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u", "zip"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                                 st.sampled_from(["RS256", "ES256", "none", "HS256"]),
                                 st.lists(st.text(max_size=3), max_size=2))))
def test_arbitrary_headers_parse_only_when_valid(h):
    try:
        parsed = parse_compact(kit.sign(h, PAYLOAD, alg="RS256"))
    except JwsError:
        return
    assert parsed.header["alg"] in {"RS256", "ES256"}
    assert isinstance(parsed.kid, str) and 0 < len(parsed.kid) <= 128
    assert "crit" not in parsed.header


# --- the fast paths decide exactly as the strict definitions -----------------------------------------------------

_B64URL_DEFINITION = re.compile(r"[A-Za-z0-9_-]*")


def b64url_by_definition(segment: str) -> bytes | None:
    """RFC 7515 §2 spelled out slowly: url-safe alphabet, no padding, and the one canonical spelling."""
    if _B64URL_DEFINITION.fullmatch(segment) is None or len(segment) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment else None


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. \n%\x00Ä", max_size=24))
def test_b64url_decode_is_the_definition(segment):
    expected = b64url_by_definition(segment)
    try:
        assert b64url_decode(segment) == expected
    except MalformedJws as exc:
        assert expected is None and exc.rule == 6


@settings(max_examples=1500, deadline=None)
@given(st.binary(min_size=24, max_size=400), st.integers(min_value=0), st.sampled_from("+/=. \n%\x00Äa"))
def test_b64url_decode_of_long_segments_is_the_definition(raw, where, intruder):
    """Segments long enough for a vectorised decoder's wide path (the short ones above may stay on its scalar path):
    a canonical encoding decodes, and one foreign character anywhere in it is refused."""
    text = kit.b64url(raw)
    assert b64url_decode(text) == raw
    at = where % len(text)
    for segment in (text[:at] + intruder + text[at + 1:], text[:at] + intruder + text[at:]):
        expected = b64url_by_definition(segment)
        try:
            assert b64url_decode(segment) == expected
        except MalformedJws as exc:
            assert expected is None and exc.rule == 6


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_every_canonical_encoding_decodes_and_no_twin_does(raw):
    text = kit.b64url(raw)
    assert b64url_decode(text) == raw
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(text) % 4:  # flipping the lowest bit of the last character touches only bits that carry no data
        twin = text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1]
        with pytest.raises(MalformedJws, match="canonical"):
            b64url_decode(twin)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)


def json_spellings(value) -> list[bytes]:
    out = [
        json.dumps(value).encode(),
        json.dumps(value, separators=(",", ":")).encode(),
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ]
    # orjson's own spelling, the fast path's case, exists unless an integer or a surrogate is out of its range
    with contextlib.suppress(orjson.JSONEncodeError):
        out.append(orjson.dumps(value))
    return out


def outcome(parse, raw: bytes) -> tuple[str, str]:
    try:
        return "ok", repr(parse(raw, what="payload"))  # repr tells 1 from 1.0 and shows member order
    except MalformedJws as exc:
        return "rejected", f"{exc.rule} {exc.reason}"


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _JSON_VALUES, max_size=4))
def test_strict_json_fast_path_agrees_with_the_strict_parser(obj):
    for raw in json_spellings(obj):
        assert outcome(strict_json_object, raw) == outcome(_strict_json_object, raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=30) | st.sampled_from([b'{"a":1}', b'{"a":{"b":[1,2.5,"x"]}}']).map(lambda b: b[:-1]))
def test_strict_json_agrees_on_arbitrary_bytes(raw):
    assert outcome(strict_json_object, raw) == outcome(_strict_json_object, raw)


@pytest.mark.parametrize("raw", [
    b'{"a":1,"a":1}', b'{"a":{"b":1,"b":1}}', b'[{"a":1,"a":2}]', b'{"a":[{"x":true,"x":true}]}',
    b'{"a":1,"b":2,"a":1}', b'{"a":"\\u00e9","a":"\\u00e9"}',
])
def test_compact_duplicates_are_still_caught(raw):
    with pytest.raises(MalformedJws) as exc:
        strict_json_object(raw, what="payload")
    assert exc.value.rule == 7


@pytest.mark.parametrize("raw", [
    b'{"n":123456789012345678901234567890}', b'{"n":-0}', b'{"n":1E5}', b'{"s":"\\/"}', b'{"s":"\\u00e9"}',
    b'{ "a" : 1 }', b'{"a":1.0}', b'{"a":' + b"[" * 300 + b"]" * 300 + b"}",
])
def test_other_spellings_give_the_strict_parsers_values(raw):
    assert outcome(strict_json_object, raw) == outcome(_strict_json_object, raw)
    assert outcome(strict_json_object, raw)[0] == "ok"


def test_shared_headers_are_parsed_once_and_give_the_same_result():
    tokens = [kit.sign(kit.header("RS256", "k1", kit.TYP_PASSPORT), dict(PAYLOAD, jti=str(n))) for n in range(3)]
    memo: jws.HeaderMemo = {}
    shared = [parse_compact(t, headers=memo) for t in tokens]
    alone = [parse_compact(t) for t in tokens]
    assert len(memo) == 1
    for a, b in zip(shared, alone):
        assert (a.header, a.payload, a.signing_input, a.signature, a.raw_sha256) == \
            (b.header, b.payload, b.signing_input, b.signature, b.raw_sha256)
    shared[0].header["alg"] = "tampered"  # each token has its own header dict: nothing leaks between them
    assert shared[1].header["alg"] == "RS256"
    assert parse_compact(tokens[2], headers=memo).header["alg"] == "RS256"


def test_shared_headers_keep_every_check_and_its_order():
    memo: jws.HeaderMemo = {}
    good = token()
    h, p, s = good.split(".")
    parse_compact(good, headers=memo)
    for bad, rule in ((f"{h}.{p}+.{s}", 6), (f"{h}.{p}.{s}=", 6), (f"{h}.{kit.segment('[1]')}.{s}", 7)):
        with pytest.raises(MalformedJws) as with_memo:
            parse_compact(bad, headers=memo)
        with pytest.raises(MalformedJws) as without:
            parse_compact(bad)
        assert (with_memo.value.rule, with_memo.value.reason) == (without.value.rule, without.value.reason) == \
            (rule, without.value.reason)
    with pytest.raises(HeaderRejected) as exc:  # a header checked for one algorithm set is not for another
        parse_compact(good, algorithms=["ES256"], headers=memo)
    assert rule_of(exc) == 8
    refused = token(crit=["exp"])
    for _ in range(2):  # a refused header is never remembered
        with pytest.raises(HeaderRejected):
            parse_compact(refused, headers=memo)
    assert all(key[1] != refused.split(".")[0].encode() for key in memo)


def test_check_key_remembers_only_real_key_classes():
    class Impostor:
        key_size = 2048

    verify(parse_compact(token()), kit.rsa_key().public_key())  # an RSA key class is now known
    for alg in ("RS256", "ES256"):
        with pytest.raises(KeyRejected):
            check_key(Impostor(), alg)
    with pytest.raises(KeyRejected):
        check_key(kit.ec_key().public_key(), "RS256")
    with pytest.raises(KeyRejected):
        check_key(kit.rsa_key().public_key(), "ES256")


def test_parsed_jws_init_takes_exactly_its_fields():
    kit.assert_init_matches_fields(jws.ParsedJws)
    parsed = parse_compact(token())
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.header = {}  # type: ignore[misc]
