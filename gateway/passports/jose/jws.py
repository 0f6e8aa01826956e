"""Strict compact-JWS parsing and signature verification (rulebook rules 6–12).

Pure functions over plain data: no network, no clock. The algorithm is always chosen by the caller (``algorithms=``),
never by the token: only RS256 and ES256 exist here, each bound to its key type and size, so no token can make us
verify with an HMAC, with ``none``, or with a key it carries itself (``jwk``/``x5u``/``x5c`` are ignored).

Every failure is a :class:`JwsError` with ``rule`` set to the rulebook number that failed; messages never include
token contents (no header values, no ``kid``, no payload), so they are safe to log and to return to clients.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NoReturn, cast

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

RS256 = "RS256"
ES256 = "ES256"
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset({RS256, ES256})

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192  # bigger keys are a CPU-exhaustion lever, not security
MAX_KID_CHARS = 128
MAX_PASSPORT_BYTES = 256 * 1024
MAX_VISA_BYTES = 32 * 1024

TYP_PASSPORT = "vnd.ga4gh.passport+jwt"
TYP_VISA = "vnd.ga4gh.visa+jwt"
TYP_ACCESS_TOKEN = "at+jwt"
TYP_JWT = "jwt"

# header members that only make sense for JWE (RFC 7516); their presence means this is not a JWS we understand
_JWE_MEMBERS = frozenset({"enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c"})
# JWK members that only a private (or symmetric) key has: a JWKS carrying them is a leak or a confusion attempt
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class JwsError(Exception):
    """A token or key failed a rule. ``rule`` is the rulebook number; the message never contains token data."""

    def __init__(self, rule: int, message: str) -> None:
        super().__init__(f"rule {rule}: {message}")
        self.rule = rule
        self.reason = message


class MalformedJws(JwsError):
    """Not a compact JWS whose header and payload are JSON objects without duplicate keys (rules 3, 6, 7)."""


class HeaderRejected(JwsError):
    """The protected header is unacceptable: ``alg``, ``kid``, ``crit``, ``typ`` (rules 8, 10, 11, 12)."""


class KeyRejected(JwsError):
    """The key cannot be used for this token: wrong type, size, curve, JWK ``alg``/``use`` (rule 9)."""


class SignatureInvalid(JwsError):
    """The signature does not verify under the given key (rule 9)."""


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
    def alg(self) -> str:
        return self.header["alg"]

    @property
    def kid(self) -> str:
        return self.header["kid"]


@dataclass(frozen=True, eq=False)
class VerificationKey:
    """A public key usable for exactly one algorithm, e.g. from a JWK (see :func:`key_from_jwk`)."""

    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    alg: str
    kid: str | None = None


# --- base64url and JSON -------------------------------------------------------------------------------------------

_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL_ALPHABET)}
# url-safe → standard alphabet; the standard-only characters and padding become "!", which strict decoding refuses
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")  # by length % 4 (1 is impossible)
# the low bits of the last character that encode no data, by length % 4: canonical encodings leave them zero
_SPARE_BITS = (0, 0, 0x0F, 0x03)


def b64url_decode(segment: str, *, rule: int = 6, what: str = "segment") -> bytes:
    """Strict base64url (RFC 7515 §2): alphabet ``[A-Za-z0-9_-]``, no padding, canonical trailing bits."""
    if not isinstance(segment, str):
        raise MalformedJws(rule, f"{what} is not base64url")
    try:
        encoded = segment.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedJws(rule, f"{what} is not base64url") from None
    return _b64url_bytes(encoded, rule, what)


def _b64url_bytes(segment: bytes, rule: int, what: str) -> bytes:
    """:func:`b64url_decode` of an ASCII segment. After the translation, the standard decoder's strict mode accepts
    exactly the url-safe alphabet without padding (this replaces a regex scan and a re-encoding, which together
    cost more than the decoding itself)."""
    remainder = len(segment) % 4
    if remainder == 1:
        raise MalformedJws(rule, f"{what} is not base64url")
    try:
        raw = binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[remainder], strict_mode=True)
    except binascii.Error:
        raise MalformedJws(rule, f"{what} is not base64url") from None
    # non-canonical encodings would make one token have many spellings
    if remainder and _B64URL_VALUE[chr(segment[-1])] & _SPARE_BITS[remainder]:
        raise MalformedJws(rule, f"{what} is not canonical base64url")
    return raw


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey
        out[key] = value
    return out


def _no_constant(_name: str) -> Any:
    raise ValueError("non-standard JSON constant")


def strict_json_object(raw: bytes, *, what: str) -> dict[str, Any]:
    """UTF-8 JSON object, no duplicate member names at any depth, no NaN/Infinity (rule 7).

    Fast path: orjson parses, and re-serialising the value gives back exactly ``raw``. Then ``raw`` *is* orjson's
    output for a dict, which cannot hold a member name twice, so it has no duplicates, and orjson's value is what
    the strict parser would build. Anything else (whitespace, other escapes or number spellings, duplicates,
    errors) takes the strict parser, which alone decides what is rejected and why.
    """
    try:
        value = orjson.loads(raw)
        if isinstance(value, dict) and orjson.dumps(value) == raw:
            return value
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass
    return _strict_json_object(raw, what=what)


def _strict_json_object(raw: bytes, *, what: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJws(7, f"{what} is not UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey:
        raise MalformedJws(7, f"{what} has duplicate member names") from None
    except (ValueError, RecursionError):
        raise MalformedJws(7, f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedJws(7, f"{what} is not a JSON object")
    return value


# --- parsing ------------------------------------------------------------------------------------------------------


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
    allowed = _allowed(algorithms)
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
        payload_raw = _b64url_bytes(raw_token[h_end + 1:p_end], 6, "payload")
        signature = _b64url_bytes(raw_token[p_end + 1:], 6, "signature")
    else:
        header = strict_json_object(_b64url_bytes(slot[1], 6, "header"), what="header")
        payload_raw = _b64url_bytes(raw_token[h_end + 1:p_end], 6, "payload")
        signature = _b64url_bytes(raw_token[p_end + 1:], 6, "signature")
        check_header(header, allowed)
        if headers is not None:
            headers[slot] = dict(header)
    payload = strict_json_object(payload_raw, what="payload")
    return ParsedJws(header, payload, raw_token[:p_end], signature, hashlib.sha256(raw_token).hexdigest())


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


def check_typ(header: Mapping[str, Any], kind: TokenKind, *, legacy: bool = False) -> None:
    """Rule 12: the ``typ`` must name this kind of token; a ``typ`` of another kind is token confusion."""
    raw = header.get("typ")
    if raw is not None and not isinstance(raw, str):
        raise HeaderRejected(12, "typ is not a string")
    accepted = _ACCEPTED_TYPS[kind, bool(legacy)]
    if raw in accepted:  # already in normal form (the usual case): normalising would give it back unchanged
        return
    typ = None if raw is None else normalise_typ(raw)
    if typ not in accepted:
        raise HeaderRejected(12, f"typ is not acceptable for a {kind.value}")


# --- keys ---------------------------------------------------------------------------------------------------------


# classes known to implement the public-key ABCs: isinstance() on an ABC costs a Python-level call per check, and
# every signature check asks (classes only ever gain ABC registrations, so a yes stays true)
_RSA_CLASSES: set[type] = set()
_EC_CLASSES: set[type] = set()


def _is_a(key: object, abc: type, known: set[type]) -> bool:
    if key.__class__ in known:
        return True
    if isinstance(key, abc):
        known.add(key.__class__)
        return True
    return False


def check_key(key: object, alg: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """Rule 9: RS256 needs an RSA public key of 2048–8192 bits, ES256 an EC P-256 public key. Nothing else."""
    if alg == RS256:
        if not _is_a(key, rsa.RSAPublicKey, _RSA_CLASSES):
            raise KeyRejected(9, "RS256 needs an RSA public key")
        key = cast(rsa.RSAPublicKey, key)
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise KeyRejected(9, "RSA key size is outside 2048-8192 bits")
        return key
    if alg == ES256:
        if not _is_a(key, ec.EllipticCurvePublicKey, _EC_CLASSES):
            raise KeyRejected(9, "ES256 needs an EC public key")
        key = cast(ec.EllipticCurvePublicKey, key)
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyRejected(9, "ES256 needs the P-256 curve")
        return key
    raise KeyRejected(9, "algorithm is not supported")


def _jwk_uint(jwk: Mapping[str, Any], name: str, *, size: int | None = None) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise KeyRejected(9, f"JWK member {name} is missing")
    try:
        raw = b64url_decode(value, rule=9, what=f"JWK member {name}")
    except MalformedJws as exc:
        raise KeyRejected(9, exc.reason) from None
    if size is not None and len(raw) != size:
        raise KeyRejected(9, f"JWK member {name} has the wrong length")
    return int.from_bytes(raw, "big")


def key_from_jwk(jwk: object, *, require_kid: bool = True) -> VerificationKey:
    """Turn one JWK (a dict from a JWKS) into a :class:`VerificationKey`, or raise :class:`KeyRejected` (rule 9).

    ``kty`` RSA → RS256 (≥2048 bits), ``kty`` EC with ``crv`` P-256 → ES256. A JWK ``alg``, if present, must be the
    one implied by the key; ``use``, if present, must be ``sig``; ``key_ops``, if present, must include ``verify``.
    Private or symmetric members are refused outright. ``kid`` (≤128 chars) is required unless ``require_kid=False``.
    """
    if not isinstance(jwk, Mapping):
        raise KeyRejected(9, "JWK is not an object")
    if _PRIVATE_JWK_MEMBERS & jwk.keys():
        raise KeyRejected(9, "JWK carries private or symmetric key material")
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS):
        raise KeyRejected(10, "JWK kid is not a string of 1-128 characters")
    if kid is None and require_kid:
        raise KeyRejected(10, "JWK has no kid")
    if "use" in jwk and jwk["use"] != "sig":
        raise KeyRejected(9, "JWK use is not sig")
    if "key_ops" in jwk:
        ops = jwk["key_ops"]
        if not isinstance(ops, list) or "verify" not in ops:
            raise KeyRejected(9, "JWK key_ops does not allow verify")
    kty = jwk.get("kty")
    if kty == "RSA":
        alg = RS256
        n = _jwk_uint(jwk, "n")
        e = _jwk_uint(jwk, "e")
        if e < 3 or e % 2 == 0 or e.bit_length() > 32:
            raise KeyRejected(9, "RSA exponent is unacceptable")
        if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS:
            raise KeyRejected(9, "RSA key size is outside 2048-8192 bits")
        try:
            key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            raise KeyRejected(9, "RSA key is invalid") from None
    elif kty == "EC":
        alg = ES256
        if jwk.get("crv") != "P-256":
            raise KeyRejected(9, "EC key is not on P-256")
        x = _jwk_uint(jwk, "x", size=32)
        y = _jwk_uint(jwk, "y", size=32)
        try:
            key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except ValueError:
            raise KeyRejected(9, "EC point is not on the curve") from None
    else:
        raise KeyRejected(9, "JWK kty is not RSA or EC")
    if "alg" in jwk and jwk["alg"] != alg:
        raise KeyRejected(9, "JWK alg does not match the key type")
    check_key(key, alg)
    return VerificationKey(key=key, alg=alg, kid=kid)


# --- verification -------------------------------------------------------------------------------------------------


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
            rsa_key = cast(rsa.RSAPublicKey, public)
            if len(parsed.signature) != (rsa_key.key_size + 7) // 8:
                raise SignatureInvalid(9, "signature does not verify")
            rsa_key.verify(parsed.signature, parsed.signing_input, _PKCS1V15, _SHA256)
        else:
            ec_key = cast(ec.EllipticCurvePublicKey, public)
            if len(parsed.signature) != 64:  # JWS ES256 is raw r||s (RFC 7518 §3.4), never DER
                raise SignatureInvalid(9, "signature does not verify")
            r = int.from_bytes(parsed.signature[:32], "big")
            s = int.from_bytes(parsed.signature[32:], "big")
            ec_key.verify(encode_dss_signature(r, s), parsed.signing_input, _ECDSA_SHA256)
    except InvalidSignature:
        raise SignatureInvalid(9, "signature does not verify") from None


# stateless parameter objects: built once rather than per signature
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
