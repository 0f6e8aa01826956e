"""Which caller credentials may travel to which member (pure).

A ``passthrough`` member receives the caller's ``Authorization``, and no other member ever does. For
members that issue their own tokens (Gen3 and reference commons: fence at its endpoint, ``<base_url>/user`` by
default) the bearer token goes only to the member whose fence issued it (its ``iss``, read without verifying: the member
verifies). So a token from commons A is never shown to commons B, where it would be refused anyway and
could be replayed against A; B's open data stays reachable with A's token in hand. Other members (plain
DRS servers) get the header as sent: the operator chose to trust them with it.

For one object, these rules apply only to the member that owns the object's id: by its prefix or DRS hostname, or
established as its only holder when every member was asked for a bare id. A member that merely answered for an id
no route decides is asked without the caller's credentials (:mod:`gateway.drs.service`, on
:attr:`gateway.resolver.outcomes.Resolution.owner_known`): otherwise any member could claim every id and collect the
tokens meant for the others.
"""

from __future__ import annotations

from gateway.core.jwt_peek import peek_bearer
from gateway.core.member import Member

ISSUING_KINDS = ("gen3", "reference")
"""Member kinds whose bearer tokens come from their own fence (its ``fence`` endpoint: ``<base_url>/user`` in Gen3's
layout)."""


def issuer_of(member: Member) -> str:
    """The ``iss`` of the member's own tokens: its fence endpoint (where fence is when it has none of its own)."""
    return member.endpoints.fence or f"{member.base_url.rstrip('/')}/user"


def token_issuer(authorization: str) -> str | None:
    """The unverified ``iss`` of a ``Bearer <JWT>`` header; ``None`` for anything else."""
    peeked = peek_bearer(authorization)
    if peeked is None:
        return None
    iss = peeked.payload.get("iss")
    return iss.rstrip("/") if isinstance(iss, str) else None


def forwarded_authorization(member: Member, authorization: str | None) -> str | None:
    """The ``Authorization`` to send ``member`` on the caller's behalf, or ``None`` (the adapter then uses
    the gateway's own credentials for the member, if it has any)."""
    if authorization is None or member.auth.type != "passthrough":
        return None
    if member.kind in ISSUING_KINDS and token_issuer(authorization) != issuer_of(member):
        return None
    return authorization
