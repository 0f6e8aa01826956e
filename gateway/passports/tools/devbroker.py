"""A development Passport broker and Visa issuer. NOT FOR PRODUCTION.

It exists so that the gateway's Passport support can be demonstrated and tested end to end without a real broker
(NIH RAS, ELIXIR LS-AAI, ...): it signs whatever it is asked to sign, with keys kept as plain files in a directory.
It performs no authentication of the person a Passport is about, keeps no record of what it issued, and offers no
revocation. Never trust its keys in a deployment that guards real data.

* :class:`KeyRing` — the signing keys in a directory: RSA 2048 (RS256) by default, optionally EC P-256 (ES256).
  Created on first use; private key files are mode 0600 (and refused if group- or world-accessible); each key's
  ``kid`` is its RFC 7638 JWK thumbprint, so it is stable for as long as the key file exists.
* :class:`DevBroker` — mints Visas (Visa Document Tokens with ``jku``, or Visa Access Tokens with ``scope: openid``),
  standard ``ControlledAccessGrants``, NIH RAS v1.1 Visas (grants in ``ras_dbgap_permissions``, as RAS emits them),
  ``LinkedIdentities`` and Passports (``typ: vnd.ga4gh.passport+jwt``).
* :func:`jwks_app` — an aiohttp application serving the public JWKS at ``/.well-known/jwks.json`` and OIDC discovery
  at ``/.well-known/openid-configuration``.

Everything it produces passes the gateway's own strict parsing (:mod:`gateway.passports.jose.jws`,
:mod:`gateway.passports.rules.passport`, :mod:`gateway.passports.rules.visa`); the command line is
``gateway passport …`` (:mod:`gateway.passports.tools.cli`).
"""

from __future__ import annotations

import calendar
import os
import re
import stat
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.passports.jose.jwk import ES256, RS256
from gateway.passports.jose.jws import TYP_JWT, TYP_PASSPORT, TYP_VISA
from gateway.passports.jose.signing import RSA_BITS, SigningKey, generate, sign_compact, thumbprint
from gateway.passports.rules.linked import LINKED_IDENTITIES

WARNING = "NOT FOR PRODUCTION: development broker; its keys and tokens must never guard real data"
JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"

KEY_FILES = {RS256: "rs256.key.pem", ES256: "es256.key.pem"}

CONTROLLED_ACCESS_GRANTS = "ControlledAccessGrants"
RAS_TYPE = "https://ras.nih.gov/visas/v1.1"
RAS_VALUE = "https://sts.nih.gov/passport/dbgap/v1.1"
RAS_SOURCE = "https://ncbi.nlm.nih.gov/gap"
RAS_SCOPE = "openid ga4gh_passport_v1 email profile"
VISA_FORMATS = ("document", "access")
DEFAULT_TTL = 3600

_RAS_SPEC = re.compile(r"(phs\d{6})(?:\.(v\d+))?(?:\.(p\d+))?(?:\.(c\d{1,4}))?")


class DevBrokerError(ValueError):
    """A bad key directory, option or argument."""


# --- keys ---------------------------------------------------------------------------------------------------------


_generate = generate


def _write_private(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # EXCL: never overwrite an existing key
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(path, 0o600)  # whatever the umask


def _read_private(path: Path, alg: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise DevBrokerError(f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); "
                             f"run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise DevBrokerError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if alg == RS256 and not (isinstance(key, rsa.RSAPrivateKey) and key.key_size >= RSA_BITS):
        raise DevBrokerError(f"{path} is not an RSA key of at least {RSA_BITS} bits")
    if alg == ES256 and not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise DevBrokerError(f"{path} is not an EC P-256 key")
    return key  # type: ignore[return-value]


class KeyRing:
    """The development broker's signing keys, one file per algorithm in ``directory`` (mode 0700 when created).

    ``KeyRing.open(dir)`` loads the keys present and creates the RS256 key if there is none; pass
    ``algorithms=("ES256",)`` (or both) to make sure those exist. Keys are never rotated or overwritten here: delete
    a file to get a new key (and a new ``kid``).
    """

    def __init__(self, directory: Path, keys: Mapping[str, SigningKey]) -> None:
        self.directory = directory
        self._keys = dict(keys)

    @classmethod
    def open(cls, directory: Path | str, algorithms: Iterable[str] = (RS256,), *, create: bool = True) -> KeyRing:
        directory = Path(directory)
        wanted = list(algorithms)
        unknown = [a for a in wanted if a not in KEY_FILES]
        if unknown:
            raise DevBrokerError(f"unsupported algorithm {unknown[0]!r} (use RS256 or ES256)")
        if not directory.exists():
            if not create:
                raise DevBrokerError(f"key directory {directory} does not exist")
            directory.mkdir(parents=True, mode=0o700)
        elif not directory.is_dir():
            raise DevBrokerError(f"{directory} is not a directory")
        keys: dict[str, SigningKey] = {}
        for alg, name in KEY_FILES.items():
            path = directory / name
            if not path.exists():
                if alg not in wanted or not create:
                    continue
                _write_private(path, _generate(alg))
            private = _read_private(path, alg)
            keys[alg] = SigningKey(alg=alg, kid=thumbprint(private.public_key()), private=private)
        missing = [a for a in wanted if a not in keys]
        if missing:
            raise DevBrokerError(f"no {missing[0]} key in {directory}")
        return cls(directory, keys)

    def key(self, alg: str = RS256) -> SigningKey:
        try:
            return self._keys[alg]
        except KeyError:
            raise DevBrokerError(f"no {alg} key in {self.directory}") from None

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return tuple(self._keys[a] for a in KEY_FILES if a in self._keys)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS (``{"keys": [...]}``): what to serve, or pin in the gateway's trust configuration."""
        return {"keys": [k.public_jwk for k in self.keys]}


# --- tokens -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RasPermission:
    """One ``ras_dbgap_permissions`` entry. ``expiration`` ``None`` means "when the Visa expires"."""

    phs_id: str
    consent_group: str | None = "c1"
    version: str = "v1"
    participant_set: str = "p1"
    consent_name: str | None = None
    role: str = "designated user"
    expiration: int | None = None

    @classmethod
    def parse(cls, spec: str) -> RasPermission:
        """``phs000123[.v1][.p1][.c1][:EXPIRES]``; ``EXPIRES`` is a NumericDate (seconds since the epoch) or a
        ``YYYY-MM-DD`` date (UTC midnight)."""
        text, _, expires = spec.partition(":")
        match = _RAS_SPEC.fullmatch(text)
        if match is None:
            raise DevBrokerError(f"RAS permission {spec!r} is not phs000123[.v1][.p1][.c1][:EXPIRES]")
        phs, version, pset, consent = match.groups()
        return cls(phs_id=phs, consent_group=consent, version=version or "v1", participant_set=pset or "p1",
                   expiration=_expires(expires, spec) if expires else None)

    def claim(self, default_expiration: int) -> dict[str, Any]:
        out: dict[str, Any] = {"phs_id": self.phs_id, "version": self.version,
                               "participant_set": self.participant_set}
        if self.consent_group is not None:
            out["consent_group"] = self.consent_group
            out["consent_name"] = self.consent_name or f"Consent group {self.consent_group}"
        out["role"] = self.role
        out["expiration"] = self.expiration if self.expiration is not None else default_expiration
        return out


def _expires(text: str, spec: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise DevBrokerError(f"expiry in {spec!r} is neither seconds since the epoch nor YYYY-MM-DD") from None


def _new_jti() -> str:
    return uuid.uuid4().hex


class DevBroker:
    """Mints development Passports and Visas. NOT FOR PRODUCTION: it signs whatever it is asked to.

    ``issuer`` is the Passport issuer (``iss``) and, unless ``visa_issuer`` is given, the Visa issuer too. A Visa
    Document Token names ``<visa issuer>/.well-known/jwks.json`` as its ``jku``; the same keys sign everything, so
    :func:`jwks_app` serving the key ring for either URL serves both. ``alg`` picks the signing key. ``clock`` is
    injectable for tests.
    """

    def __init__(self, keys: KeyRing, issuer: str, *, visa_issuer: str | None = None, alg: str = RS256,
                 visa_format: str = "document", clock: Any = time.time) -> None:
        if visa_format not in VISA_FORMATS:
            raise DevBrokerError(f"visa format must be one of {', '.join(VISA_FORMATS)}")
        if not issuer:
            raise DevBrokerError("issuer must not be empty")
        self.keys = keys
        self.issuer = issuer
        self.visa_issuer = visa_issuer or issuer
        self.key = keys.key(alg)
        self.visa_format = visa_format
        self.clock = clock

    def jku(self, visa_issuer: str | None = None) -> str:
        return (visa_issuer or self.visa_issuer).rstrip("/") + JWKS_PATH

    def _now(self) -> int:
        return int(self.clock())

    # --- visas ---

    def visa(self, *, sub: str, type: str, value: str, source: str, by: str | None = None,
             asserted: int | None = None, exp: int | None = None, ttl: int = DEFAULT_TTL,
             conditions: Sequence[Any] | None = None, visa_format: str | None = None, iss: str | None = None,
             scope: str = "openid", extra_claims: Mapping[str, Any] | None = None, jti: str | None = None) -> str:
        """One Visa. ``visa_format`` ``document``: header ``typ: vnd.ga4gh.visa+jwt`` and ``jku``, no ``scope``;
        ``access``: ``scope`` (containing ``openid``), no ``jku``, header ``typ: JWT``. ``asserted`` defaults to now,
        ``exp`` to now + ``ttl``. ``extra_claims`` are top-level claims (e.g. RAS ``ras_dbgap_permissions``)."""
        fmt = visa_format or self.visa_format
        if fmt not in VISA_FORMATS:
            raise DevBrokerError(f"visa format must be one of {', '.join(VISA_FORMATS)}")
        now = self._now()
        obj: dict[str, Any] = {"type": type, "asserted": now if asserted is None else int(asserted),
                               "value": value, "source": source}
        if by is not None:
            obj["by"] = by
        if conditions:
            obj["conditions"] = [list(clause) for clause in conditions]
        issuer = iss or self.visa_issuer
        claims: dict[str, Any] = {"iss": issuer, "sub": sub, "iat": now, "exp": now + ttl if exp is None else exp,
                                  "jti": jti or _new_jti()}
        if fmt == "access":
            if "openid" not in scope.split():
                raise DevBrokerError("a Visa Access Token's scope must contain openid")
            claims["scope"] = scope
            header: dict[str, Any] = {"typ": TYP_JWT.upper()}
        else:
            header = {"typ": TYP_VISA, "jku": self.jku(issuer)}
        claims.update(extra_claims or {})
        claims["ga4gh_visa_v1"] = obj
        return sign_compact(self.key, header, claims)

    def controlled_access_grant(self, *, sub: str, value: str, source: str | None = None, by: str = "dac",
                                **kw: Any) -> str:
        """A standard ``ControlledAccessGrants`` Visa; ``source`` defaults to the Visa issuer."""
        return self.visa(sub=sub, type=CONTROLLED_ACCESS_GRANTS, value=value, source=source or self.visa_issuer,
                         by=by, **kw)

    def ras_visa(self, *, sub: str, permissions: Sequence[RasPermission], visa_format: str = "access",
                 txn: str | None = None, **kw: Any) -> str:
        """An NIH RAS v1.1 Visa as RAS emits it: by default a Visa Access Token (``scope`` ``openid
        ga4gh_passport_v1 email profile``, ``txn``) whose grants sit in the top-level ``ras_dbgap_permissions``
        (``phs_id``, ``version``, ``participant_set``, ``consent_group``, ``consent_name``, ``role``,
        ``expiration``). A permission without an expiration expires with the Visa."""
        now = self._now()
        exp = kw.pop("exp", None)
        exp = now + kw.pop("ttl", DEFAULT_TTL) if exp is None else exp
        extra = dict(kw.pop("extra_claims", None) or {})
        extra["txn"] = txn or f"{_new_jti()}.{now}"
        extra["ras_dbgap_permissions"] = [p.claim(exp) for p in permissions]
        kw.setdefault("scope", RAS_SCOPE)
        return self.visa(sub=sub, type=RAS_TYPE, value=RAS_VALUE, source=RAS_SOURCE, by="dac", exp=exp,
                         visa_format=visa_format, extra_claims=extra, **kw)

    def linked_identities(self, *, sub: str, identities: Iterable[tuple[str, str]], by: str = "system",
                          source: str | None = None, **kw: Any) -> str:
        """A ``LinkedIdentities`` Visa joining ``(visa issuer, sub)`` to each ``(iss, sub)`` of ``identities``
        (value: ``;``-separated ``uri(sub),uri(iss)``)."""
        entries = [f"{quote(s, safe='')},{quote(i, safe='')}" for i, s in identities]
        if not entries:
            raise DevBrokerError("LinkedIdentities needs at least one identity")
        return self.visa(sub=sub, type=LINKED_IDENTITIES, value=";".join(entries),
                         source=source or self.visa_issuer, by=by, **kw)

    # --- passports ---

    def passport(self, *, sub: str, visas: Sequence[str] = (), aud: str | Sequence[str] | None = None,
                 ttl: int = DEFAULT_TTL, jti: str | None = None) -> str:
        """A Passport (header ``typ: vnd.ga4gh.passport+jwt``) with ``iss``, ``sub``, ``iat``, ``exp``, ``jti``,
        optional ``aud`` and ``ga4gh_passport_v1`` holding ``visas``."""
        now = self._now()
        claims: dict[str, Any] = {"iss": self.issuer, "sub": sub, "iat": now, "exp": now + ttl,
                                  "jti": jti or _new_jti()}
        if aud:
            claims["aud"] = aud if isinstance(aud, str) else list(aud)
        claims["ga4gh_passport_v1"] = list(visas)
        return sign_compact(self.key, {"typ": TYP_PASSPORT}, claims)


# --- JWKS and discovery server ------------------------------------------------------------------------------------

@dataclass
class _IssuerHolder:
    url: str | None = None


ISSUER_KEY = web.AppKey("devbroker_issuer", _IssuerHolder)
KEYRING_KEY = web.AppKey("devbroker_keyring", KeyRing)


def set_issuer(app: web.Application, issuer: str) -> None:
    """Name the issuer once it is known (e.g. after binding port 0); allowed while the app is running."""
    app[ISSUER_KEY].url = issuer


def discovery_document(issuer: str) -> dict[str, Any]:
    """The OIDC discovery document: ``issuer`` exactly as configured and its ``jwks_uri``."""
    return {
        "issuer": issuer,
        "jwks_uri": issuer.rstrip("/") + JWKS_PATH,
        "id_token_signing_alg_values_supported": [RS256, ES256],
        "subject_types_supported": ["public"],
        "response_types_supported": ["code"],
    }


def jwks_app(keys: KeyRing, issuer: str | None = None) -> web.Application:
    """Serve ``keys``' public JWKS and OIDC discovery for ``issuer`` (may be named later with :func:`set_issuer`,
    e.g. once the port is known). Every response carries ``X-Dev-Broker: NOT FOR PRODUCTION``."""
    app = web.Application()
    app[KEYRING_KEY] = keys
    app[ISSUER_KEY] = _IssuerHolder(issuer)
    headers = {"X-Dev-Broker": "NOT FOR PRODUCTION", "Cache-Control": "max-age=60"}

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(request.app[KEYRING_KEY].jwks(), headers=headers)

    async def discovery(request: web.Request) -> web.Response:
        issuer = request.app[ISSUER_KEY].url
        if issuer is None:
            raise web.HTTPServiceUnavailable(text="issuer not yet known")
        return web.json_response(discovery_document(issuer), headers=headers)

    prefixes = {""}
    if issuer is not None:  # an issuer with a path has its discovery document under that path
        prefixes.add(urlsplit(issuer).path.rstrip("/"))
    for prefix in sorted(prefixes):
        app.router.add_get(prefix + JWKS_PATH, jwks)
        app.router.add_get(prefix + DISCOVERY_PATH, discovery)
    return app
