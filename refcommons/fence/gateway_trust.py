"""Gateway tokens at the reference commons: which federation gateways it trusts, and checking their tokens.

A gateway in ``gateway_token`` member mode decides from a caller's Passports, then signs a short-lived RS256 token for
this commons and one object (wire format and claim rules: :mod:`gateway.passports.tokens.gateway_token`). The commons
trusts a gateway by exact ``iss`` with the URL of its JWKS (:class:`TrustedGateway`).

:func:`claimed_gateway` is the cheap, pure first step: a strict parse and the *claimed* issuer, looked up among the
configured gateways. Anything that is not a gateway token, or claims an issuer not configured, gives ``None`` before any
network I/O, so the caller falls through to its other credentials. :class:`GatewayTokens` is the edge: the gateways'
keys through one :class:`~gateway.passports.trust.keys.KeyStore` (single flight, TTL, cooldowns), the signature, then
the claims (object tokens for downloads, :meth:`GatewayTokens.verify_search` for search tokens). Errors are
:class:`~gateway.passports.tokens.gateway_token.GatewayTokenError` (401, 403, or 503 when a trusted gateway's keys are
unreachable); their messages never echo token contents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from gateway.passports.jose import jws
from gateway.passports.tokens import gateway_token
from gateway.passports.tokens.gateway_token import GatewayGrant, GatewayTokenError, SearchGrant
from gateway.passports.trust.issuers import KeySource, url_problem
from gateway.passports.trust.keys import KeyLookupError, KeyStore
from refcommons.settings import TrustedGateway

ALGORITHMS = frozenset({jws.RS256})


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
) -> tuple[jws.ParsedJws, TrustedGateway] | None:
    """The parsed token and the configured gateway it claims to come from; ``None`` (pure, no I/O) when ``token``
    is not a gateway token or names an issuer that is not configured. Nothing is verified yet."""
    if not gateways:
        return None
    try:
        parsed = gateway_token.parse(token)
    except GatewayTokenError:
        return None
    issuer = gateway_token.issuer_of(parsed)
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
        self.keys = keys or KeyStore(None, allow_insecure_loopback=allow_insecure_loopback)

    def claimed(self, token: str) -> tuple[jws.ParsedJws, TrustedGateway] | None:
        """See :func:`claimed_gateway`."""
        return claimed_gateway(token, self.gateways)

    async def verify(self, parsed: jws.ParsedJws, gateway: TrustedGateway) -> GatewayGrant:
        """The checked claims of an object token claimed by ``gateway``: key (fetched from the gateway's JWKS URL
        only), signature, then :func:`gateway.passports.tokens.gateway_token.check` against this commons' audience."""
        await self._signature(parsed, gateway)
        return gateway_token.check(parsed, int(self.clock()), issuer=gateway.issuer, audience=self.audience)

    async def verify_search(self, parsed: jws.ParsedJws, gateway: TrustedGateway) -> SearchGrant:
        """The checked claims of a search token claimed by ``gateway`` (as :meth:`verify`, then
        :func:`gateway.passports.tokens.gateway_token.check_search`: an object token is refused)."""
        await self._signature(parsed, gateway)
        return gateway_token.check_search(parsed, int(self.clock()), issuer=gateway.issuer, audience=self.audience)

    async def _signature(self, parsed: jws.ParsedJws, gateway: TrustedGateway) -> None:
        try:
            key = await self.keys.key(key_source(gateway), parsed.header.get("kid"), parsed.header.get("alg"))
            jws.verify(parsed, key)
        except KeyLookupError as exc:
            raise GatewayTokenError(exc.status, f"gateway token key: {exc.message}") from None
        except jws.JwsError as exc:
            raise GatewayTokenError(401, f"gateway token signature: {exc.reason}") from None

    async def aclose(self) -> None:
        if self._own_keys:
            await self.keys.aclose()
