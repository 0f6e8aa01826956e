"""Gateway tokens at the reference commons: which federation gateways it trusts, and checking their tokens.

A gateway in ``gateway_token`` member mode decides from a caller's Passports, then signs a short-lived RS256 token for
this commons and one object (wire format and claim rules: ``gateway.passports.tokens.gateway_token``). The commons
trusts a gateway by exact ``iss`` with the URL of its JWKS (:class:`TrustedGateway`).

:func:`claimed_gateway` is the cheap, pure first step: a strict parse and the *claimed* issuer, looked up among the
configured gateways. Anything that is not a gateway token, or claims an issuer not configured, gives ``None`` before any
network I/O, so the caller falls through to its other credentials. :class:`GatewayTokens` is the edge: the gateways'
keys through one :class:`~gateway.passports.KeyStore` (single flight, TTL, cooldowns), the signature, then
the claims (object tokens for downloads, :meth:`GatewayTokens.verify_search` for search tokens). Errors are
:class:`~gateway.passports.GatewayTokenError` (401, 403, or 503 when a trusted gateway's keys are
unreachable); their messages never echo token contents.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from gateway.core.egress import OPEN
from gateway.core.errors import ApiError, forbidden
from gateway.passports import (
    RS256,
    GatewayGrant,
    GatewayTokenError,
    JwsError,
    KeyLookupError,
    KeySource,
    KeyStore,
    ParsedJws,
    SearchGrant,
    check_gateway_token,
    check_search_token,
    gateway_token_covers,
    gateway_token_issuer,
    parse_gateway_token,
    url_problem,
    verify_signature,
)
from refcommons.settings import TrustedGateway

log = logging.getLogger("refcommons.fence")

ALGORITHMS = frozenset({RS256})


def key_source(gateway: TrustedGateway) -> KeySource:
    """Where ``gateway``'s keys come from: its JWKS URL, RS256 only."""
    return KeySource(gateway.issuer, "jku", ALGORITHMS, url=gateway.jwks_uri)


def gateway_map(gateways: Iterable[TrustedGateway], *, allow_insecure_loopback: bool) -> Mapping[str, TrustedGateway]:
    """``{issuer: gateway}``; :class:`ValueError` for a duplicate issuer or a JWKS URL that may not be fetched
    (https only; http only to a loopback host with ``allow_insecure_loopback``)."""
    out: dict[str, TrustedGateway] = {}
    for gateway in gateways:
        if not isinstance(gateway, TrustedGateway):
            raise ValueError(f"a trusted gateway must be a TrustedGateway, not {type(gateway).__name__}")
        if not gateway.issuer:
            raise ValueError("a trusted gateway needs an issuer")
        if gateway.issuer in out:
            raise ValueError(f"trusted gateway {gateway.issuer} is listed twice")
        problem = url_problem(gateway.jwks_uri, allow_insecure_loopback=allow_insecure_loopback)
        if problem:
            raise ValueError(f"trusted gateway {gateway.issuer}: JWKS URL {gateway.jwks_uri!r} {problem}")
        out[gateway.issuer] = gateway
    return MappingProxyType(out)


def claimed_gateway(
    token: str, gateways: Mapping[str, TrustedGateway]
) -> tuple[ParsedJws, TrustedGateway] | None:
    """The parsed token and the configured gateway it claims to come from; ``None`` (pure, no I/O) when ``token``
    is not a gateway token or names an issuer that is not configured. Nothing is verified yet."""
    if not gateways:
        return None
    try:
        parsed = parse_gateway_token(token)
    except GatewayTokenError:
        return None
    issuer = gateway_token_issuer(parsed)
    gateway = gateways.get(issuer) if issuer is not None else None
    return (parsed, gateway) if gateway is not None else None


class GatewayTokens:
    """Verifies tokens of the trusted gateways for one commons (``audience``: its base URL)."""

    def __init__(
        self,
        gateways: Iterable[TrustedGateway],
        *,
        audience: str,
        allow_insecure_loopback: bool = False,
        keys: KeyStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateways = gateway_map(gateways, allow_insecure_loopback=allow_insecure_loopback)
        self.audience = audience
        self.clock = clock
        self._own_keys = keys is None
        # a member's own fetches (of its trusted gateways' JWKS): not under the gateway's egress policy
        self.keys = keys or KeyStore(None, allow_insecure_loopback=allow_insecure_loopback, egress=OPEN)

    def claimed(self, token: str) -> tuple[ParsedJws, TrustedGateway] | None:
        """See :func:`claimed_gateway`."""
        return claimed_gateway(token, self.gateways)

    async def verify(self, parsed: ParsedJws, gateway: TrustedGateway) -> GatewayGrant:
        """The checked claims of an object token claimed by ``gateway``: key (fetched from the gateway's JWKS URL
        only), signature, then :func:`gateway.passports.check_gateway_token` against this commons' audience."""
        await self._signature(parsed, gateway)
        return check_gateway_token(parsed, int(self.clock()), issuer=gateway.issuer, audience=self.audience)

    async def download_grant(self, parsed: ParsedJws, gateway: TrustedGateway, guid: str,
                             object_authz: list[str]) -> GatewayGrant:
        """The checked object token claimed by ``gateway``, when it is for the object ``guid`` and covers every one of
        its resources (``object_authz``); :class:`~gateway.core.errors.ApiError` otherwise (401, 403, or 503 when
        the gateway's keys are unreachable). Logged by ``jti``, ``iss`` and ``sub``, never the token."""
        try:
            grant = await self.verify(parsed, gateway)
        except GatewayTokenError as exc:
            log.info("gateway token rejected", extra={"iss": gateway.issuer, "guid": guid,
                                                      "status": exc.status, "reason": exc.reason})
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            raise ApiError(exc.status, exc.reason, headers=headers) from None
        fields = {"jti": grant.jti, "iss": grant.issuer, "sub": grant.subject, "passport_iss": grant.passport_issuer,
                  "guid": guid}
        if not gateway_token_covers(grant, guid, object_authz):
            log.info("gateway token refused: not for this object or its resources", extra=fields)
            raise forbidden("the gateway token is not for this object or does not cover all of its resources")
        log.info("gateway token accepted", extra={**fields, "access_until": grant.access_until})
        return grant

    async def verify_search(self, parsed: ParsedJws, gateway: TrustedGateway) -> SearchGrant:
        """The checked claims of a search token claimed by ``gateway`` (as :meth:`verify`, then
        :func:`gateway.passports.check_search_token`: an object token is refused)."""
        await self._signature(parsed, gateway)
        return check_search_token(parsed, int(self.clock()), issuer=gateway.issuer, audience=self.audience)

    async def _signature(self, parsed: ParsedJws, gateway: TrustedGateway) -> None:
        try:
            key = await self.keys.key(key_source(gateway), parsed.header.get("kid"), parsed.header.get("alg"))
            verify_signature(parsed, key)
        except KeyLookupError as exc:
            raise GatewayTokenError(exc.status, f"gateway token key: {exc.message}") from None
        except JwsError as exc:
            raise GatewayTokenError(401, f"gateway token signature: {exc.reason}") from None

    async def aclose(self) -> None:
        if self._own_keys:
            await self.keys.aclose()
