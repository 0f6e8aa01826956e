"""Keys and the algorithms they are bound to (rulebook rule 9): RS256 needs an RSA public key of 2048–8192 bits,
ES256 an EC P-256 public key, and nothing else exists. :func:`key_from_jwk` turns a JWK (from a JWKS) into a
:class:`VerificationKey` bound to exactly one algorithm; private or symmetric members are refused outright. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.passports.jose.encoding import b64url_decode
from gateway.passports.jose.errors import KeyRejected, MalformedJws

RS256 = "RS256"
ES256 = "ES256"
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset({RS256, ES256})

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192  # bigger keys are a CPU-exhaustion lever, not security
MAX_KID_CHARS = 128

# JWK members that only a private (or symmetric) key has: a JWKS carrying them is a leak or a confusion attempt
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True, eq=False)
class VerificationKey:
    """A public key usable for exactly one algorithm, e.g. from a JWK (see :func:`key_from_jwk`)."""

    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    alg: str
    kid: str | None = None


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
