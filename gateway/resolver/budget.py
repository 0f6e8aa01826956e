"""The fan-out budget: how many requests that must ask every member (ids no route decides: bare UUIDs, opaque
ids) one client may make a minute, so that one client cannot turn its requests into N upstream calls each without
bound.

A request is counted once however many unrouted ids it carries (a batch asks each member at most once per chunk),
and only when it really fans out: ids whose answer is cached, or that a prefix or DRS hostname routes, cost nothing.
Past ``resolver.fanout_budget`` in the current minute the whole request is refused with 429 and ``Retry-After``
(the seconds left in the minute) before any member is asked. The count lives in the gateway's cache
(:func:`gateway.cache.window.count_in_window`), so replicas sharing Redis share it. The client is its address as
the web edge reads it (:func:`gateway.web.caller.client_address`); calls without one (internal) are not counted.
"""

from __future__ import annotations

from gateway.cache import Cache
from gateway.cache.window import count_in_window
from gateway.core.errors import ApiError

WINDOW = 60


class FanoutRefused(ApiError):
    """429: the client spent its fan-out budget for this minute. An :class:`ApiError` rather than one id's outcome:
    it is the whole request's answer, on every surface alike (the web edge renders it in the surface's shape)."""

    def __init__(self, budget: int, retry_after: int) -> None:
        super().__init__(
            429, f"too many requests that fan out to every member commons (ids without a prefix or DRS hostname): "
                 f"at most {budget} a minute per client; retry in {retry_after}s, or name the member by the id's "
                 "prefix or a drs://<host>/<id> URI", headers={"Retry-After": str(retry_after)})


async def spend(cache: Cache, client: str | None, budget: int) -> None:
    """Count one fan-out for ``client``; :class:`FanoutRefused` past ``budget`` this minute (0: no budget)."""
    if client is None or budget <= 0:
        return
    counted = await count_in_window(cache, f"resolver:fanout:{client}", WINDOW)
    if counted.count > budget:
        raise FanoutRefused(budget, counted.retry_after)
