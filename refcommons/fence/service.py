"""The reference commons' fence: who a request is (:class:`Principal`), what it may do, and download URLs.

:class:`Fence` ties together the policy (:mod:`refcommons.authz.policy`, :mod:`refcommons.authz.default_policy`),
JWTs (:mod:`refcommons.fence.tokens`), API keys (:mod:`refcommons.fence.apikeys`) and signed URLs
(:mod:`refcommons.fence.signing`). It raises :class:`~gateway.core.errors.ApiError` (401/403/400/404) so the
HTTP layer and the in-process adapter report failures alike. Every download URL it issues is logged
(logger ``refcommons.fence``: guid, user, protocol, expires; never the URL or its signature) and
appended to the store log :data:`DOWNLOADS_LOG`.

:meth:`Fence.authorize_download` is the one decision for a download, whatever the credential: a fence access
token (or none, for open data) through :meth:`Fence.require`; a trusted federation gateway's token
(:mod:`refcommons.fence.gateway_trust`); or GA4GH Passports from a DRS request body (:mod:`refcommons.fence.passports`).
Its :class:`DownloadGrant` says how long a URL may live (``not_after``), and :meth:`Fence.signed_url` never signs
past it. Gateway tokens are logged by ``jti``, ``iss`` and ``sub``; no token is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.core.errors import ApiError, bad_request, forbidden, unauthorized
from gateway.passports import ParsedJws
from gateway.store import Store
from refcommons.authz import policy as authz
from refcommons.authz.default_policy import load_policy
from refcommons.authz.policy import AuthzMap, PolicyDocument
from refcommons.fence.apikeys import ApiKeys, NoSuchKey
from refcommons.fence.gateway_trust import GatewayTokens
from refcommons.fence.passports import PassportAccess, PassportCheck, user_label
from refcommons.fence.signing import SignatureError, UrlSigner, expiry_for, load_signer
from refcommons.fence.tokens import ACCESS, CredentialError, TokenService
from refcommons.indexd.records import IndexRecord
from refcommons.model import Dataset
from refcommons.settings import CommonsSettings, TrustedGateway

log = logging.getLogger("refcommons.fence")

DOWNLOADS_LOG = "downloads"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a user (``None``: anonymous) and the authz map in force for them."""

    user: str | None
    authz: AuthzMap = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    is_admin: bool = False

    @property
    def anonymous(self) -> bool:
        return self.user is None

    def allows(self, method: str, resources: Iterable[str], service: str = "*") -> bool:
        """Whether ``method`` on ``service`` is granted for every one of ``resources`` (none: never)."""
        return authz.allows(self.authz, method, resources, service)


@dataclass(frozen=True)
class DownloadGrant:
    """A download :meth:`Fence.authorize_download` allowed: who for (``None``: anonymous), and the epoch second
    no URL issued on its strength may outlive (``None``: only the usual cap applies)."""

    user: str | None
    not_after: int | None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (any case); ``None`` when absent or blank.

    Any other scheme, or ``Bearer`` without a token, is a 401.
    """
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected an Authorization: Bearer <access token> header")
    return token.strip()


class Fence:
    """Authentication, authorization and download-URL signing for one commons."""

    def __init__(
        self,
        store: Store,
        settings: CommonsSettings,
        dataset: Dataset,
        *,
        policy: PolicyDocument,
        tokens: TokenService,
        signer: UrlSigner,
        passports: PassportAccess | None = None,
        gateway_tokens: GatewayTokens | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.dataset = dataset
        self.policy = policy
        self.tokens = tokens
        self.signer = signer
        self.api_keys = ApiKeys(store, tokens, settings.api_key_ttl_seconds)
        self.passports = passports
        """The commons' Passport engine (``None``: Passports are not accepted)."""
        self.gateway_tokens = gateway_tokens
        """Trusted gateways' token checker (``None``: no gateway is trusted)."""
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, store: Store, settings: CommonsSettings, dataset: Dataset) -> Fence:
        """Load the policy (``settings.user_yaml`` or the default) and the persisted keys; build the Passport
        engine and the gateway-token checker when configured (:class:`ValueError` for an unusable configuration)."""
        policy = load_policy(settings.user_yaml, dataset)
        tokens = await TokenService.open(store, settings.fence_url, settings.access_token_ttl_seconds)
        signer = await load_signer(store)
        config = settings.passports
        passports = PassportAccess.build(config) if config is not None and config.enabled else None
        try:
            gateways = _gateway_tokens(settings)
        except BaseException:
            if passports is not None:
                await passports.aclose()
            raise
        return cls(store, settings, dataset, policy=policy, tokens=tokens, signer=signer, passports=passports,
                   gateway_tokens=gateways)

    # --- who and what -------------------------------------------------------------------------------

    def principal_for(self, user: str | None) -> Principal:
        """The principal of ``user`` (``None``: anonymous) under the policy, with no credential check."""
        return Principal(
            user=user,
            authz=self.policy.authz_map(user),
            groups=tuple(self.policy.groups_of(user)),
            is_admin=self.policy.is_admin(user),
        )

    async def principal(self, authorization: str | None) -> Principal:
        """The principal an ``Authorization`` header proves: anonymous without one; 401 for a bad token."""
        token = bearer_token(authorization)
        if token is None:
            return self.principal_for(None)
        try:
            claims = self.tokens.verify(token, ACCESS)
        except CredentialError as exc:
            raise unauthorized(f"invalid access token: {exc}") from None
        return self.principal_for(claims["sub"])

    async def require(
        self, authorization: str | None, resources: Iterable[str], method: str = "read-storage", service: str = "fence"
    ) -> Principal:
        """The caller's principal if it may ``method`` every resource; else 401 (no/bad token) or 403."""
        wanted = list(resources)
        principal = await self.principal(authorization)
        if principal.allows(method, wanted, service):
            return principal
        if principal.anonymous:
            raise unauthorized(f"{method} on {', '.join(wanted) or 'this object'} requires a credential")
        raise forbidden(f"user {principal.user} may not {method} {', '.join(wanted) or 'this object'}")

    # --- downloads: one decision for every kind of credential ---------------------------------------------------

    async def authorize_download(
        self, authorization: str | None, record: IndexRecord, *, passports: list[str] | None = None
    ) -> DownloadGrant:
        """May this request download ``record``'s bytes, and until when? :class:`ApiError` 400/401/403/413/503
        when it may not.

        * ``passports`` (a DRS body's ``passports``; ``None`` when absent): with an ``Authorization`` header too,
          400 (rule 2). Open data needs no credential, so they are not examined for it. Otherwise they are checked
          by the commons' Passport engine (400 when this commons has no ``passports`` configuration) and must
          grant every resource of the record; the URL may not outlive the decision.
        * a bearer token claiming a trusted gateway's issuer is checked as a gateway token (its keys are fetched
          only for a configured gateway); the URL may not outlive its ``access_until``.
        * anything else goes through :meth:`require`: fence access tokens, anonymous access to open data.
        """
        if passports is not None:
            self.refuse_passports_with(authorization)
            if self.open_to_anyone(record):
                return DownloadGrant(None, None)
            return self.passport_grant(await self.check_passports(authorization, passports), record)
        token = bearer_token(authorization)
        if token is not None and self.gateway_tokens is not None:
            claimed = self.gateway_tokens.claimed(token)  # pure: an untrusted issuer costs no request at all
            if claimed is not None:
                return await self._gateway_grant(*claimed, record)
        principal = await self.require(authorization, record.authz, "read-storage")
        return DownloadGrant(principal.user, None)

    @staticmethod
    def refuse_passports_with(authorization: str | None) -> None:
        """Rule 2: a request carrying Passports may not carry an ``Authorization`` header too (400)."""
        if authorization is not None and authorization.strip():
            raise bad_request("passports and an Authorization header cannot both be supplied (rule 2)")

    def open_to_anyone(self, record: IndexRecord) -> bool:
        """May anyone, without a credential, download ``record``?"""
        return self.principal_for(None).allows("read-storage", record.authz, "fence")

    async def check_passports(self, authorization: str | None, passports: object) -> PassportCheck:
        """Validate a request's Passports (bulk requests decide many objects with one check): 400 with an
        ``Authorization`` header (rule 2) or when this commons has no ``passports`` configuration; otherwise
        the engine's status (400, 401, 413, 503) when they are rejected."""
        self.refuse_passports_with(authorization)
        if self.passports is None:
            raise bad_request("this commons does not accept GA4GH Passports (no passports configuration); "
                              "send an Authorization: Bearer token instead")
        return await self.passports.check(passports, int(time.time()), has_authorization=False)

    def passport_grant(self, check: PassportCheck, record: IndexRecord) -> DownloadGrant:
        """The download ``check``'s Passports allow for ``record``: every resource granted (all-of), and no URL
        past the decision's ``valid_until``. 403 otherwise (401 once the Passports have expired)."""
        assert self.passports is not None
        until = self.passports.download_until(check, record.did, record.authz, int(time.time()))
        return DownloadGrant(check.user, until)

    async def _gateway_grant(self, parsed: ParsedJws, gateway: TrustedGateway, record: IndexRecord) -> DownloadGrant:
        assert self.gateway_tokens is not None
        grant = await self.gateway_tokens.download_grant(parsed, gateway, record.did, record.authz)
        return DownloadGrant(user_label(grant.subject), grant.access_until)

    def passport_issuers(self, object_authz: list[str]) -> list[str]:
        """The trusted Visa issuers able to grant an object (``[]`` without Passports or when none can)."""
        return self.passports.issuers_for(object_authz) if self.passports is not None else []

    @property
    def gateway_issuers(self) -> list[str]:
        """The trusted gateways' issuers."""
        return list(self.gateway_tokens.gateways) if self.gateway_tokens is not None else []

    def user_info(self, principal: Principal) -> dict[str, Any]:
        """Gen3 ``/user/user`` for ``principal``."""
        return {
            "username": principal.user,
            "name": principal.user,
            "sub": principal.user,
            "user_id": principal.user,
            "is_admin": principal.is_admin,
            "groups": list(principal.groups),
            "authz": principal.authz,
            "resources": sorted(principal.authz),
        }

    @staticmethod
    def auth_mapping(principal: Principal) -> dict[str, list[dict[str, str]]]:
        """Arborist's ``GET /auth/mapping`` for ``principal``: ``{path: [{"service", "method"}]}`` (a copy)."""
        return {path: [{"service": g["service"], "method": g["method"]} for g in grants]
                for path, grants in principal.authz.items()}

    # --- keys and tokens ------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        """The public signing keys as a JWK set (``/user/.well-known/jwks``)."""
        return self.tokens.jwks()

    def public_keys(self) -> dict[str, Any]:
        """Fence's legacy ``/user/jwt/keys`` shape: ``{"keys": [[kid, public PEM]]}``."""
        return {"keys": [[self.tokens.key.kid, self.tokens.key.public_pem()]]}

    async def create_api_key(self, user: str, ttl_seconds: int | None = None) -> dict[str, str]:
        """Mint an API key for ``user``: Gen3 credentials ``{"api_key", "key_id"}`` (a ``credentials.json``)."""
        try:
            credentials, record = await self.api_keys.create(user, ttl_seconds)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        log.info("api key created", extra={"key_id": record.key_id, "user": user, "expires": record.expires})
        return credentials

    async def list_api_keys(self, user: str | None) -> list[dict[str, Any]]:
        """``user``'s keys (every user's when ``None``), revoked and expired ones included, as
        ``{key_id, user, created, expires, revoked}`` dicts (unix seconds)."""
        return [asdict(r) for r in await self.api_keys.list_keys(user)]

    async def revoke_api_key(self, key_id: str, user: str | None = None) -> bool:
        """Revoke ``key_id`` (with ``user``: only if it is one of theirs); ``False`` if there is no such key."""
        try:
            record = await self.api_keys.revoke(key_id, user)
        except NoSuchKey:
            return False
        log.info("api key revoked", extra={"key_id": key_id, "user": record.user})
        return True

    async def exchange(self, api_key: str) -> str:
        """An access token for a valid API key; 401 for a malformed, unknown, revoked or expired one."""
        try:
            record = await self.api_keys.check(api_key)
        except CredentialError as exc:
            raise unauthorized(f"invalid API key: {exc}") from None
        return self.tokens.issue_access_token(record.user)

    # --- download URLs --------------------------------------------------------------------------------

    def _expiry(self, expires_in: int | None, not_after: int | None = None) -> int:
        now = int(time.time())
        try:
            expires = expiry_for(
                now,
                expires_in,
                default_ttl=self.settings.signed_url_default_ttl_seconds,
                max_ttl=self.settings.signed_url_max_ttl_seconds,
            )
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        if not_after is None:
            return expires
        if not_after <= now:
            raise unauthorized("the access granted has already ended")
        return min(expires, not_after)

    def _issue(
        self, guid: str, protocol: str, expires_in: int | None, user: str | None, not_after: int | None = None
    ) -> tuple[str, dict[str, Any]]:
        expires = self._expiry(expires_in, not_after)
        url = self.signer.sign(self.settings.storage_url, guid, protocol, expires, user)
        fields = {"guid": guid, "user": user, "protocol": protocol, "expires": expires}
        log.info("download url issued", extra=fields)
        return url, {"ts": int(time.time()), **fields}

    def signed_url(
        self, guid: str, protocol: str, expires_in: int | None = None, user: str | None = None, *,
        not_after: int | None = None,
    ) -> str:
        """A signed URL serving ``guid``'s bytes; ``expires_in`` seconds (default and cap from settings), and
        never past ``not_after`` (epoch seconds, e.g. :attr:`DownloadGrant.not_after`; 401 if already past).

        The ``downloads`` log entry is appended in the background (await :meth:`flush` to be sure it
        landed); :meth:`download_url` does the same but waits for it. Callers check authorization first.
        """
        url, entry = self._issue(guid, protocol, expires_in, user, not_after)
        try:
            task = asyncio.get_running_loop().create_task(self._append(entry))
        except RuntimeError:  # no event loop (a synchronous caller): the log line is the record
            log.warning("downloads log not written: no running event loop", extra={"guid": guid})
            return url
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return url

    async def download_url(
        self, guid: str, protocol: str, expires_in: int | None = None, user: str | None = None, *,
        not_after: int | None = None,
    ) -> str:
        """:meth:`signed_url`, returning once the ``downloads`` log entry is stored."""
        url, entry = self._issue(guid, protocol, expires_in, user, not_after)
        await self._append(entry)
        return url

    async def _append(self, entry: dict[str, Any]) -> None:
        try:
            await self.store.append(DOWNLOADS_LOG, entry)
        except Exception:
            log.exception("could not append to the downloads log", extra={"guid": entry["guid"]})

    async def flush(self) -> None:
        """Wait until every background ``downloads`` log append has finished."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        """Finish background work (pending ``downloads`` log appends) and release the Passport engine and the
        gateways' key store; call before closing the store."""
        await self.flush()
        if self.passports is not None:
            await self.passports.aclose()
        if self.gateway_tokens is not None:
            await self.gateway_tokens.aclose()

    def verify_download(self, guid: str, query: Mapping[str, str]) -> int:
        """The expiry of a valid signed URL for ``guid`` with ``query``; 403 when tampered or expired."""
        try:
            return self.signer.verify(
                guid, query.get("protocol"), query.get("expires"), query.get("user"), query.get("sig")
            )
        except SignatureError as exc:
            raise ApiError(403, f"invalid download URL: {exc}") from None


def _gateway_tokens(settings: CommonsSettings) -> GatewayTokens | None:
    if not settings.trusted_gateways:
        return None
    return GatewayTokens(settings.trusted_gateways, audience=settings.base_url,
                         allow_insecure_loopback=settings.allow_insecure_loopback)
