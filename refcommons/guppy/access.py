"""Who may read what in the reference commons' search (Guppy): the resources one request's credential reaches.

One decision for Guppy's HTTP route and the in-process adapter, by the ``Authorization`` header:

* a **search token** from a trusted federation gateway (``--trust-gateway``; claimed issuer first, pure, then key,
  signature and :func:`gateway.passports.check_search_token`): the commons' resources covered by the
  token's ``authz`` (segment-wise, as the commons' own policy covers paths). An object (DRS) token is refused;
* a **GA4GH Passport** as the bearer token (header ``typ`` names a Passport) when the commons has a ``passports``
  configuration: the resources its own engine grants, each decided all-of as a one-resource object;
* anything else: fence, as for every other route (anonymous without a header; ``read`` on service ``guppy``).

A gateway token or Passport never reads less than no credential at all: the open resources (the anonymous
policies) are readable with them too, as they are with any fence token.

A credential that does not check out is an :class:`~gateway.core.errors.ApiError` (401, or the engine's or key
store's 400/413/503); messages never echo token contents.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from gateway.core.errors import ApiError
from gateway.passports import GatewayTokenError, bearer_passport
from refcommons.authz import policy as authz
from refcommons.fence.service import Fence, Principal, bearer_token

GUPPY_SERVICE = "guppy"


async def readable(fence: Fence, authorization: str | None, resources: Iterable[str]) -> frozenset[str]:
    """The subset of ``resources`` the request's credential may read in search (see the module doc)."""
    wanted = frozenset(resources)
    token = bearer_token(authorization)  # a scheme other than Bearer is fence's 401
    if token is not None and fence.gateway_tokens is not None:
        claimed = fence.gateway_tokens.claimed(token)  # pure: an issuer not configured costs no request
        if claimed is not None:
            try:
                grant = await fence.gateway_tokens.verify_search(*claimed)
            except GatewayTokenError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
                raise ApiError(exc.status, f"invalid gateway search token: {exc.reason}", headers=headers) from None
            vouched = frozenset(r for r in wanted if any(authz.covers(g, r) for g in grant.resources))
            return vouched | _principal_reads(fence.principal_for(None), wanted)
    if token is not None and fence.passports is not None and bearer_passport(authorization) is not None:
        check = await fence.passports.check([token], int(time.time()), has_authorization=False)
        now = int(time.time())
        granted = frozenset(r for r in wanted if fence.passports.decide(check, [r], now).allowed)
        return granted | _principal_reads(fence.principal_for(None), wanted)
    return _principal_reads(await fence.principal(authorization), wanted)


def _principal_reads(principal: Principal, resources: frozenset[str]) -> frozenset[str]:
    return frozenset(r for r in resources if principal.allows("read", [r], GUPPY_SERVICE))
