"""Strict compact-JWS parsing and signature verification (rulebook rules 3 and 6–12).

Pure functions over plain data: no network, no clock. The algorithm is always chosen by the caller (``algorithms=``),
never by the token: only RS256 and ES256 exist here, each bound to its key type and size, so no token can make us
verify with an HMAC, with ``none``, or with a key it carries itself (``jwk``/``x5u``/``x5c`` are ignored).

Every failure is a :class:`~gateway.passports.jose.errors.JwsError` with ``rule`` set to the rulebook number that
failed; messages never include token contents (no header values, no ``kid``, no payload), so they are safe to log and
to return to clients.

The encodings underneath are :mod:`gateway.passports.jose.encoding`; keys and their algorithms are
:mod:`gateway.passports.jose.jwk`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from gateway.passports.jose.encoding import b64url_bytes, strict_json_object
from gateway.passports.jose.errors import HeaderRejected, KeyRejected, MalformedJws, SignatureInvalid
from gateway.passports.jose.jwk import MAX_KID_CHARS, RS256, SUPPORTED_ALGORITHMS, VerificationKey, check_key

MAX_PASSPORT_BYTES = 256 * 1024
MAX_VISA_BYTES = 32 * 1024

TYP_PASSPORT = "vnd.ga4gh.passport+jwt"
TYP_VISA = "vnd.ga4gh.visa+jwt"
TYP_ACCESS_TOKEN = "at+jwt"
TYP_JWT = "jwt"

# header members that only make sense for JWE (RFC 7516); their presence means this is not a JWS we understand
_JWE_MEMBERS = frozenset({"enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c"})


class TokenKind(Enum):
    """What a token is expected to be, for the ``typ`` check (rule 12)."""

    PASSPORT = "passport"
    VISA_DOCUMENT = "visa document token"
    VISA_ACCESS = "visa access token"
    ACCESS_TOKEN = "access token"


@dataclass(frozen=True, eq=False)
class ParsedJws:
    """A syntactically valid compact JWS. Nothing about it is trusted until :func:`verify` succeeds."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    raw_sha256: str  # hex sha256 of the whole compact token: a safe identifier for logs, caches and dedup

    def __init__(self, header: dict[str, Any], payload: dict[str, Any], signing_input: bytes, signature: bytes,
                 raw_sha256: str) -> None:
        # the generated frozen __init__ pays one object.__setattr__ call per field; one token parsed is one of these
        self.__dict__.update(header=header, payload=payload, signing_input=signing_input, signature=signature,
                             raw_sha256=raw_sha256)

    @property
    def signing_digest(self) -> bytes:
        """sha256 of ``signing_input``: what RS256 and ES256 sign. :func:`parse_compact` computes it with the token's
        own hash (one pass over the bytes for both); a copy made with another ``signing_input``
        (``dataclasses.replace``) does not carry it over, so it is always the digest of this ``signing_input``."""
        digest: bytes | None = self.__dict__.get("_signing_digest")
        if digest is None:
            digest = hashlib.sha256(self.signing_input).digest()
            self.__dict__["_signing_digest"] = digest
        return digest

    @property
    def alg(self) -> str:
        alg: str = self.header["alg"]  # parse_compact checked it is one of the allowed algorithm names
        return alg

    @property
    def kid(self) -> str:
        kid: str = self.header["kid"]  # parse_compact checked it is a non-empty string
        return kid


def _allowed(algorithms: Iterable[str] | None) -> frozenset[str]:
    if algorithms is None:
        return SUPPORTED_ALGORITHMS
    chosen = frozenset(algorithms)
    if not chosen or not chosen <= SUPPORTED_ALGORITHMS:
        raise ValueError(f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}")
    return chosen


HeaderMemo = dict[tuple[frozenset[str], bytes], dict[str, Any]]
"""Headers that passed :func:`check_header`, by allowed algorithms and encoded segment (see :func:`parse_compact`)."""


def parse_compact(
    token: object,
    *,
    max_bytes: int = MAX_PASSPORT_BYTES,
    algorithms: Iterable[str] | None = None,
    headers: HeaderMemo | None = None,
) -> ParsedJws:
    """Parse a compact JWS and check its header (rules 3, 6–11). ``typ`` is checked separately (:func:`check_typ`).

    ``algorithms`` narrows the accepted ``alg`` values (a non-empty subset of RS256/ES256); the signature is not
    verified here.

    ``headers``, a dict the caller keeps for one batch of tokens (the Visas of one Passport, which usually all carry
    their issuer's header byte for byte), lets each distinct header be decoded and checked once per batch. A header
    found there passed exactly the checks it would meet again, so the outcome is the same; each token still gets
    its own copy of the dict.
    """
    allowed = SUPPORTED_ALGORITHMS if algorithms is SUPPORTED_ALGORITHMS else _allowed(algorithms)  # the usual one
    if not isinstance(token, str):
        raise MalformedJws(6, "token is not a string")
    if len(token) > max_bytes:  # checked on characters first: cheap, and non-ASCII is rejected just below
        raise MalformedJws(3, "token exceeds the size limit")
    if not token.isascii():
        raise MalformedJws(6, "token is not compact serialization")
    # find() is a memchr; split() walks a 10 kB Passport character by character
    h_end = token.find(".")
    p_end = token.find(".", h_end + 1) if h_end >= 0 else -1
    if p_end < 0 or token.find(".", p_end + 1) >= 0:
        _wrong_segments(token)
    if h_end == 0 or p_end == h_end + 1:
        raise MalformedJws(6, "token has an empty header or payload")
    if p_end == len(token) - 1:
        raise MalformedJws(6, "token is unsigned")
    raw_token = token.encode("ascii")
    slot = (allowed, raw_token[:h_end])
    known = headers.get(slot) if headers is not None else None
    if known is not None:  # decoded and checked before: only the steps that can fail remain, in their order
        header = dict(known)
        payload_raw = b64url_bytes(raw_token[h_end + 1:p_end], 6, "payload")
        signature = b64url_bytes(raw_token[p_end + 1:], 6, "signature")
    else:
        header = strict_json_object(b64url_bytes(slot[1], 6, "header"), what="header")
        payload_raw = b64url_bytes(raw_token[h_end + 1:p_end], 6, "payload")
        signature = b64url_bytes(raw_token[p_end + 1:], 6, "signature")
        check_header(header, allowed)
        if headers is not None:
            headers[slot] = dict(header)
    payload = strict_json_object(payload_raw, what="payload")
    signing_input = raw_token[:p_end]
    # one pass over the bytes for both hashes: the digest the signature covers (verify() hands it to cryptography
    # prehashed), then the rest of the token for its identifier
    running = hashlib.sha256(signing_input)
    digest = running.digest()
    running.update(raw_token[p_end:])
    parsed = ParsedJws(header, payload, signing_input, signature, running.hexdigest())
    parsed.__dict__["_signing_digest"] = digest  # not a field: a copy with another signing_input never inherits it
    return parsed


def _wrong_segments(token: str) -> NoReturn:
    if token.count(".") == 4:
        raise MalformedJws(6, "token is a JWE, not a JWS")
    raise MalformedJws(6, "token is not compact serialization (3 segments)")


def check_header(header: Mapping[str, Any], allowed: frozenset[str] = SUPPORTED_ALGORITHMS) -> None:
    """Rules 8, 10, 11 on a decoded protected header. ``jwk``/``x5u``/``x5c``/``x5t`` are ignored on purpose."""
    if _JWE_MEMBERS & header.keys():
        raise MalformedJws(6, "header has JWE members")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise HeaderRejected(8, "alg is missing or not allowed")
    if "crit" in header:
        raise HeaderRejected(11, "crit header present; no extensions are understood")
    if "b64" in header:  # RFC 7797 unencoded payloads: only meaningful with crit, never accepted
        raise HeaderRejected(11, "b64 header present")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise HeaderRejected(10, "kid is missing or not a string")
    if len(kid) > MAX_KID_CHARS:
        raise HeaderRejected(10, "kid is too long")
    if "typ" in header and not isinstance(header["typ"], str):
        raise HeaderRejected(12, "typ is not a string")
    if "jku" in header and (not isinstance(header["jku"], str) or not header["jku"]):
        raise HeaderRejected(11, "jku is not a non-empty string")


def normalise_typ(typ: str) -> str:
    # RFC 7515 §4.1.9: media types are case-insensitive and "application/" may be omitted
    typ = typ.strip().lower()
    return typ.removeprefix("application/")


_TYPS: dict[TokenKind, frozenset[str | None]] = {
    TokenKind.PASSPORT: frozenset({TYP_PASSPORT}),
    TokenKind.VISA_DOCUMENT: frozenset({None, TYP_VISA, TYP_JWT}),
    TokenKind.VISA_ACCESS: frozenset({TYP_ACCESS_TOKEN, TYP_JWT}),
    TokenKind.ACCESS_TOKEN: frozenset({TYP_ACCESS_TOKEN, TYP_JWT}),
}
_LEGACY_TYPS: dict[TokenKind, frozenset[str | None]] = {
    TokenKind.PASSPORT: frozenset({None, TYP_JWT}),  # RAS-era passports from brokers configured as legacy
    TokenKind.VISA_ACCESS: frozenset({None}),  # PS 1.2 makes the Visa typ optional
    TokenKind.ACCESS_TOKEN: frozenset({None}),
}


_ACCEPTED_TYPS: dict[tuple[TokenKind, bool], frozenset[str | None]] = {
    (kind, legacy): typs | (_LEGACY_TYPS.get(kind, frozenset()) if legacy else frozenset())
    for kind, typs in _TYPS.items() for legacy in (False, True)
}


_ACCEPTED_BY_NAME = {(kind._name_, legacy): typs for (kind, legacy), typs in _ACCEPTED_TYPS.items()}


def check_typ(header: Mapping[str, Any], kind: TokenKind, *, legacy: bool = False) -> None:
    """Rule 12: the ``typ`` must name this kind of token; a ``typ`` of another kind is token confusion."""
    raw = header.get("typ")
    if raw is not None and not isinstance(raw, str):
        raise HeaderRejected(12, "typ is not a string")
    accepted = _ACCEPTED_BY_NAME[kind._name_, bool(legacy)]  # a str key: an Enum member hashes in Python code
    if raw in accepted:  # already in normal form (the usual case): normalising would give it back unchanged
        return
    typ = None if raw is None else normalise_typ(raw)
    if typ not in accepted:
        raise HeaderRejected(12, f"typ is not acceptable for a {kind.value}")


def verify(parsed: ParsedJws, key: VerificationKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> None:
    """Verify ``parsed``'s signature under ``key`` with the header ``alg`` (already limited to RS256/ES256 by
    :func:`parse_compact`), after binding the key to that algorithm (rule 9). Raises :class:`JwsError`.
    """
    alg = parsed.header.get("alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise HeaderRejected(8, "alg is missing or not allowed")
    if isinstance(key, VerificationKey):
        if key.alg != alg:
            raise KeyRejected(9, "key is bound to a different algorithm")
        key = key.key
    public = check_key(key, alg)  # the key's type is the one alg needs from here on
    try:
        if alg == RS256:
            rsa_key: rsa.RSAPublicKey = public  # type: ignore[assignment]  # check_key: RSA for RS256 (no cast() call)
            if len(parsed.signature) != (rsa_key.key_size + 7) // 8:
                raise SignatureInvalid(9, "signature does not verify")
            rsa_key.verify(parsed.signature, parsed.signing_digest, _PKCS1V15, _PREHASHED_SHA256)
        else:
            ec_key: ec.EllipticCurvePublicKey = public  # type: ignore[assignment]  # check_key: EC for ES256
            if len(parsed.signature) != 64:  # JWS ES256 is raw r||s (RFC 7518 §3.4), never DER
                raise SignatureInvalid(9, "signature does not verify")
            r = int.from_bytes(parsed.signature[:32], "big")
            s = int.from_bytes(parsed.signature[32:], "big")
            ec_key.verify(encode_dss_signature(r, s), parsed.signing_digest, _ECDSA_PREHASHED_SHA256)
    except InvalidSignature:
        raise SignatureInvalid(9, "signature does not verify") from None


# stateless parameter objects: built once rather than per signature
_PKCS1V15 = padding.PKCS1v15()
_PREHASHED_SHA256 = Prehashed(hashes.SHA256())
_ECDSA_PREHASHED_SHA256 = ec.ECDSA(Prehashed(hashes.SHA256()))
