"""Minting GA4GH test tokens: keys, JWKs, well-formed and deliberately broken Passports and Visas.

Importable as ``tokens_kit`` from test modules in this directory (pytest puts a test module's directory on
``sys.path``); from elsewhere, insert this directory first. Signing goes through pyjwt's algorithm objects so that the
verifier under test (``gateway.passports.jose.jws``, which uses ``cryptography`` directly) is checked against an
independent implementation. Nothing here validates anything: it will happily sign nonsense, which is the point.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import inspect
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

NOW = 1_800_000_000
BROKER = "https://broker.example.org"
VISA_ISSUER = "https://visas.example.org"
JKU = "https://visas.example.org/jwks.json"
SUB = "researcher-1"
AUD = "https://gateway.example.org"
TYP_PASSPORT = "vnd.ga4gh.passport+jwt"
TYP_VISA = "vnd.ga4gh.visa+jwt"
CAG = "ControlledAccessGrants"
DATASET = "https://dac.example.org/datasets/phs000001.c1"
DAC = "https://dac.example.org"


# --- keys --------------------------------------------------------------------------------------------------------


@functools.cache
def rsa_key(bits: int = 2048, n: int = 0) -> rsa.RSAPrivateKey:
    """An RSA private key, cached per ``(bits, n)``: pass ``n`` to get distinct keys of one size."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(curve: str = "P-256", n: int = 0) -> ec.EllipticCurvePrivateKey:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1(), "secp256k1": ec.SECP256K1()}
    return ec.generate_private_key(curves[curve])


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def jwk(key: Any, kid: str = "k1", *, alg: str | None = "auto", use: str | None = "sig", **extra: Any) -> dict:
    """The public JWK of ``key`` (private or public). ``alg="auto"`` picks RS256/ES256; ``None`` omits it; any
    other string is written as given (for mismatch tests). ``use=None`` omits ``use``. ``extra`` overrides members."""
    public = key.public_key() if hasattr(key, "public_key") else key
    out: dict[str, Any] = {"kid": kid}
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        out.update(kty="RSA", n=_uint(numbers.n), e=_uint(numbers.e))
        auto = "RS256"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        crv = names.get(public.curve.name, public.curve.name)
        out.update(kty="EC", crv=crv, x=_uint(numbers.x, size), y=_uint(numbers.y, size))
        auto = "ES256"
    else:
        raise TypeError("unsupported key type")
    if alg == "auto":
        out["alg"] = auto
    elif alg is not None:
        out["alg"] = alg
    if use is not None:
        out["use"] = use
    out.update(extra)
    return out


def jwks(*keys: tuple[Any, str]) -> dict:
    """``{"keys": [...]}`` from ``(key, kid)`` pairs."""
    return {"keys": [jwk(key, kid) for key, kid in keys]}


def public_pem(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# --- signing -----------------------------------------------------------------------------------------------------


def segment(part: dict | str | bytes) -> str:
    """A dict is JSON-encoded; a str is taken as literal JSON text (so duplicate keys can be written); bytes raw."""
    if isinstance(part, dict):
        raw = json.dumps(part, separators=(",", ":")).encode()
    elif isinstance(part, str):
        raw = part.encode()
    else:
        raw = part
    return b64url(raw)


def signature(alg: str, signing_input: bytes, key: Any) -> bytes:
    """Sign with pyjwt's algorithm objects (RS256, ES256), HMAC (HS256, ``key`` is the secret bytes) or ``none``."""
    if alg == "RS256":
        return RSAAlgorithm(RSAAlgorithm.SHA256).sign(signing_input, key)
    if alg == "ES256":
        return ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input, key)
    if alg == "ES384":
        return ECAlgorithm(ECAlgorithm.SHA384).sign(signing_input, key)
    if alg == "HS256":
        return hmac.new(key, signing_input, hashlib.sha256).digest()
    if alg == "none":
        return b""
    raise ValueError(alg)


def sign(header: dict | str | bytes, payload: dict | str | bytes, key: Any = None, *, alg: str | None = None) -> str:
    """Compact JWS over arbitrary header/payload. ``alg`` defaults to the header's ``alg`` when this kit can sign
    with it, else RS256 (so a header may name any ``alg`` at all)."""
    if alg is None:
        named = header.get("alg") if isinstance(header, dict) else None
        alg = named if named in ("RS256", "ES256", "ES384", "HS256", "none") else "RS256"
    if key is None:
        key = rsa_key() if alg == "RS256" else ec_key() if alg == "ES256" else b""
    signing_input = f"{segment(header)}.{segment(payload)}"
    return f"{signing_input}.{b64url(signature(alg, signing_input.encode('ascii'), key))}"


def header(alg: str = "RS256", kid: str = "k1", typ: str | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"alg": alg, "kid": kid}
    if typ is not None:
        out["typ"] = typ
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def _merge(base: dict, extra: dict | None) -> dict:
    """``extra`` overrides ``base``; a ``None`` value removes the member."""
    out = dict(base)
    for name, value in (extra or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


# --- visas and passports -----------------------------------------------------------------------------------------


def visa_object(type: str = CAG, value: str = DATASET, source: str = DAC, *, by: str | None = "dac",
                asserted: Any = NOW - 3600, conditions: Any = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"type": type, "asserted": asserted, "value": value, "source": source}
    if by is not None:
        out["by"] = by
    if conditions is not None:
        out["conditions"] = conditions
    out.update(extra)
    return out


def visa_claims(*, iss: str = VISA_ISSUER, sub: str = SUB, iat: Any = NOW - 60, exp: Any = NOW + 3600,
                jti: str | None = "visa-jti", scope: str | None = None, obj: dict | None = None,
                **extra: Any) -> dict:
    out: dict[str, Any] = {"iss": iss, "sub": sub, "iat": iat, "exp": exp}
    if jti is not None:
        out["jti"] = jti
    if scope is not None:
        out["scope"] = scope
    out["ga4gh_visa_v1"] = obj if obj is not None else visa_object()
    out.update(extra)
    return out


def make_visa(*, key: Any = None, alg: str = "RS256", kid: str = "visa-k1", jku: str | None = JKU,
              typ: str | None = "JWT", access_token: bool = False, header_extra: dict | None = None,
              **claims: Any) -> str:
    """A Visa. Document Token by default (``jku`` set, ``typ: JWT``); ``access_token=True`` makes a RAS-style Visa
    Access Token (no ``jku``, ``scope`` with openid). ``claims`` go to :func:`visa_claims`."""
    if access_token:
        jku = None
        claims.setdefault("scope", "openid ga4gh_passport_v1")
    h = _merge(header(alg, kid, typ, jku=jku), header_extra)
    return sign(h, visa_claims(**claims), key, alg=alg)


def passport_claims(visas: list | None = None, *, iss: str = BROKER, sub: str = SUB, iat: Any = NOW - 10,
                    exp: Any = NOW + 3600, jti: str | None = "passport-jti", aud: Any = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"iss": iss, "sub": sub, "iat": iat, "exp": exp}
    if jti is not None:
        out["jti"] = jti
    if aud is not None:
        out["aud"] = aud
    out["ga4gh_passport_v1"] = list(visas) if visas is not None else []
    out.update(extra)
    return out


def make_passport(visas: list | None = None, *, key: Any = None, alg: str = "RS256", kid: str = "broker-k1",
                  typ: str | None = TYP_PASSPORT, header_extra: dict | None = None, **claims: Any) -> str:
    """A Passport holding ``visas`` (strings, or anything else for malformed-element tests). ``header_extra``
    overrides header members (``None`` removes one); ``claims`` go to :func:`passport_claims`."""
    h = _merge(header(alg, kid, typ), header_extra)
    return sign(h, passport_claims(visas, **claims), key, alg=alg)


# --- dataclasses with hand-written __init__ ----------------------------------------------------------------------


def assert_init_matches_fields(cls: type) -> None:
    """A hand-written ``__init__`` of a dataclass takes its fields, in order, with their defaults."""
    params = list(inspect.signature(cls).parameters.values())
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default for f in fields]
