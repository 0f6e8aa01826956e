"""Signing keys and compact-JWS signing (RS256, ES256): what the gateway signs its own tokens with, what the
reference commons signs its fence tokens with, and what the development broker
(:mod:`gateway.passports.tools.devbroker`) signs Passports and Visas with.

Pure, no I/O: keys are generated or loaded from PEM bytes by the caller. A key's ``kid`` is its RFC 7638 JWK
thumbprint, so it is stable for as long as the key exists and identical wherever the key is loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.passports.jose.encoding import b64url_encode
from gateway.passports.jose.jwk import ES256, RS256

RSA_BITS = 2048
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def public_jwk_members(public: PublicKey) -> dict[str, str]:
    """The required public members of a key's JWK (RFC 7517/7518), the ones RFC 7638 hashes."""
    if isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        return {"e": _uint(rsa_numbers.e), "kty": "RSA", "n": _uint(rsa_numbers.n)}
    ec_numbers = public.public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": _uint(ec_numbers.x, 32), "y": _uint(ec_numbers.y, 32)}


def thumbprint(public: PublicKey) -> str:
    """RFC 7638 JWK SHA-256 thumbprint: required members only, lexicographic order, no whitespace, base64url."""
    canonical = json.dumps(public_jwk_members(public), sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def generate(alg: str = RS256) -> PrivateKey:
    """A new private key for ``alg``: RSA 2048 for RS256, EC P-256 for ES256."""
    if alg == RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if alg == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported algorithm {alg!r} (use RS256 or ES256)")


def private_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of ``key``: keep it where only the service can read it."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_pem(pem: bytes, alg: str) -> PrivateKey:
    """The private key in ``pem``, checked against ``alg``; :class:`ValueError` otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key: {exc}") from None
    if alg == RS256 and not (isinstance(key, rsa.RSAPrivateKey) and key.key_size >= RSA_BITS):
        raise ValueError(f"not an RSA key of at least {RSA_BITS} bits")
    if alg == ES256 and not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise ValueError("not an EC P-256 key")
    if alg not in (RS256, ES256):
        raise ValueError(f"unsupported algorithm {alg!r}")
    return key  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class SigningKey:
    alg: str
    kid: str
    private: PrivateKey

    @classmethod
    def of(cls, private: PrivateKey, alg: str = RS256) -> SigningKey:
        """``private`` for ``alg``, with its thumbprint as ``kid``."""
        return cls(alg=alg, kid=thumbprint(private.public_key()), private=private)

    @classmethod
    def from_pem(cls, pem: bytes, alg: str = RS256) -> SigningKey:
        """The key in ``pem`` (:func:`load_private_pem`: :class:`ValueError` when it is not one for ``alg``)."""
        return cls.of(load_private_pem(pem, alg), alg)

    def public_pem(self) -> str:
        """The public key as SubjectPublicKeyInfo PEM (for consumers that want PEM rather than a JWK)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public JWK only: never ``d``, ``p``, ``q`` or any other private member."""
        return {**public_jwk_members(self.private.public_key()), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == RS256:
            assert isinstance(self.private, rsa.RSAPrivateKey)
            return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        assert isinstance(self.private, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS ES256 is raw r||s (RFC 7518 §3.4)


def _json_segment(value: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())


def sign_compact(key: SigningKey, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """A compact JWS of ``payload`` under ``key``; ``alg`` and ``kid`` are set from the key."""
    signing_input = f"{_json_segment({'alg': key.alg, 'kid': key.kid, **header})}.{_json_segment(payload)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"
