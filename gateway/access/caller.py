"""Who is searching: what the gateway sends each member on the caller's behalf in a cohort search or export, and
what the caller may read there.

A :class:`SearchCaller` is built once per request (:func:`caller_from_request`, shared by the cohort, export and
aggregate-MDS handlers) and passed to every member call. It never holds anything that must outlive the request in a
shared store: callers are never persisted.

* An ordinary ``Authorization`` header goes to a member only under the DRS passthrough rules
  (:func:`gateway.members.passthrough.forwarded_authorization`); otherwise the member is asked anonymously.
* GA4GH Passports (body ``passports`` or ``Authorization: Bearer <passport>``, validated once per request by the
  Passport engine) shape the call by the member's auth mode: ``gateway_token`` → a short-lived search token the
  gateway signs for that member, naming the member's resource paths the Passports' grants reach
  (:func:`gateway.passports.tokens.gateway_token.search_claims`); ``passport`` → the (first) Passport as
  ``Authorization: Bearer``; any other mode → nothing (a Passport is never forwarded as an ordinary token).

:meth:`SearchCaller.readable_at` answers what the caller may read at a member (:mod:`gateway.access.readable`):
the Passports' granted paths at ``gateway_token``/``passport`` members, or the member's own ``/user/user`` authz for
a token that would be forwarded to it; and, for every caller (anonymous, token or Passport), what anyone may read
there, the member's open resources (:mod:`gateway.access.open_readable`: Arborist's anonymous auth mapping,
cached, so an anonymous caller normally costs no member call).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from gateway.access.open_readable import OpenAuthz
from gateway.access.readable import NOTHING, Readable, UserAuthz
from gateway.core.errors import ApiError
from gateway.core.member import Member
from gateway.members.passthrough import ISSUING_KINDS, forwarded_authorization
from gateway.passports.engine import PassportRejected
from gateway.passports.gate import Caller, PassportGate, bearer_passport
from gateway.passports.tokens import gateway_token

TOKEN_REUSE_MARGIN = 15
"""A search token is signed again once it has fewer seconds than this left (exports page for a long time)."""


@dataclass(frozen=True)
class PassportHolder:
    """A request's validated Passports and the gate that validated them (engine, resource maps, token keys)."""

    gate: PassportGate
    caller: Caller

    def granted(self, member: Member) -> dict[str, int]:
        """The member's resource paths the grants reach now, each with the end of the grant reaching it; nothing
        once the Passports have expired or for a member without a resource map."""
        now = self.gate.now()
        evaluation = self.caller.evaluation
        member_map = self.gate.maps.get(member.id)
        if member_map is None or evaluation.passports_expire <= now:
            return {}
        return member_map.granted(evaluation.grants, now)


@dataclass(frozen=True)
class SearchCaller:
    authorization: str | None = None
    """The request's ``Authorization`` header as sent (``None`` when it carried the Passport itself)."""
    passports: PassportHolder | None = None
    user_authz: UserAuthz | None = None
    """Looks up a forwarded token's readable resources at its member (``None``: nothing is readable)."""
    open_authz: OpenAuthz | None = None
    """Looks up what anyone may read at a member (``None``: nothing more)."""
    _tokens: dict[str, tuple[str, int]] = field(default_factory=dict, repr=False, compare=False)
    """This request's search tokens by member id, with their ``exp`` (per request, never shared)."""

    async def authorization_for(self, member: Member) -> str | None:
        """The ``Authorization`` to send ``member`` for this caller, or ``None``."""
        mode = member.auth.type
        if self.passports is not None and mode == "gateway_token":
            token = await self._search_token(member)
            return f"Bearer {token}" if token is not None else None
        if self.passports is not None and mode == "passport":
            return f"Bearer {self.passports.caller.tokens[0]}"
        return forwarded_authorization(member, self.authorization)

    async def readable_at(self, member: Member) -> Readable:
        """What the caller may read at ``member``: its own, and the member's open resources (see the module doc)."""
        own = await self._own_readable_at(member)
        if self.open_authz is None:
            return own
        return own | await self.open_authz.readable(member)

    async def _own_readable_at(self, member: Member) -> Readable:
        if self.passports is not None:
            if member.auth.type not in ("gateway_token", "passport"):
                return NOTHING
            return Readable(exact=frozenset(self.passports.granted(member)))
        forwarded = forwarded_authorization(member, self.authorization)
        if forwarded is None or member.kind not in ISSUING_KINDS or self.user_authz is None:
            return NOTHING
        return await self.user_authz.readable(member, forwarded)

    async def _search_token(self, member: Member) -> str | None:
        """A search token for ``member`` (reused within this request while it has time left); ``None`` when the
        Passports reach none of its resources (the member is then asked anonymously)."""
        assert self.passports is not None
        gate = self.passports.gate
        now = gate.now()
        cached = self._tokens.get(member.id)
        if cached is not None and cached[1] - now >= TOKEN_REUSE_MARGIN:
            return cached[0]
        granted = self.passports.granted(member)
        if not granted:
            return None
        paths = sorted(granted)[: gateway_token.SEARCH_MAX_RESOURCES]
        until = min([self.passports.caller.evaluation.passports_expire, *(granted[p] for p in paths)])
        claims = gateway_token.search_claims(
            issuer=gate.issuer, audience=member.token_audience, resources=paths,
            identity=self.passports.caller.identity, now=now, ttl=gate.token_settings.ttl, access_until=until,
        )
        token = gateway_token.mint(await gate.keys.signing_key(), claims)
        self._tokens[member.id] = (token, claims["exp"])
        return token


ANONYMOUS = SearchCaller()


async def caller_from_request(request: web.Request, body_passports: list[str] | None = None) -> SearchCaller:
    """The request's :class:`SearchCaller`: its ``Authorization`` header, or its Passports (``body_passports``,
    or a bearer Passport) validated once. 400 for Passports when they are not enabled or come both ways; the
    engine's status (400/401/413/503) when they are rejected."""
    from gateway.web.keys import GATE, OPEN_AUTHZ, USER_AUTHZ  # the web edge's keys (lazily: it imports this layer)

    authorization = request.headers.get("Authorization")
    gate = request.config_dict.get(GATE)
    user_authz = request.config_dict.get(USER_AUTHZ)
    open_authz = request.config_dict.get(OPEN_AUTHZ)
    bearer = bearer_passport(authorization) if authorization else None
    if body_passports is None and bearer is None:
        return SearchCaller(authorization, user_authz=user_authz, open_authz=open_authz)
    if gate is None:
        raise ApiError(400, "GA4GH Passports are not enabled at this gateway (passports.enabled is false); "
                            "send no passports")
    passports = body_passports
    if bearer is not None:
        if passports is not None:
            raise ApiError(400, "rule 2: passports were sent both in the body and as the Authorization header")
        passports, authorization = [bearer], None
    try:
        caller = await gate.admit(passports, has_authorization=authorization is not None)
    except PassportRejected as exc:
        headers = {"WWW-Authenticate": 'Bearer realm="GA4GH Passport"'} if exc.status == 401 else None
        raise ApiError(exc.status, f"passports rejected: {exc}", headers=headers) from None
    return SearchCaller(None, PassportHolder(gate, caller), user_authz, open_authz)
