"""How many wrong admin tokens a client may present: the one rule of the API's admin routes and the portal's
sign-in.

Each wrong admin token (a bearer token on an admin route, or the token posted to the portal's sign-in form) counts
against the client's address in a clock-hour window (:func:`gateway.cache.window.count_in_window`, so replicas
sharing Redis share the count). Once ``registry.admin_token_failures`` are counted, every admin attempt from that
address is refused until the window ends, the right token included: refusing only wrong guesses would still tell a
right one apart. Admin tokens are long random strings, so this bounds what a guesser can try rather than guarding
a weak secret; its cost is that an admin behind the same address as a guesser waits for the window to end.

Like the join limit, the count fails open while the cache is unavailable (:mod:`gateway.cache.window`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.cache.base import Cache
from gateway.cache.window import count_in_window

T = TypeVar("T")

WINDOW = 3600
"""Seconds of the window wrong tokens are counted in."""


def _name(client: str) -> str:
    return f"registry:admin_failures:{client}"


class LockedOut(Exception):
    """The client presented too many wrong admin tokens: it may try again in ``wait`` seconds."""

    def __init__(self, wait: int) -> None:
        super().__init__(refusal(wait))
        self.wait = wait


async def guarded(cache: Cache, client: str, limit: int, attempt: Callable[[], Awaitable[T | None]], *,
                  counts: bool = True) -> T | None:
    """``attempt()`` (checking an admin token: ``None`` when it is wrong), unless ``client`` is locked out
    (:class:`LockedOut`, before anything is checked); a wrong token is counted, unless ``counts`` is false (nothing
    was presented)."""
    counted = await count_in_window(cache, _name(client), WINDOW, amount=0)
    if counted.count >= limit:
        raise LockedOut(counted.retry_after)
    found = await attempt()
    if found is None and counts:
        await count_in_window(cache, _name(client), WINDOW)
    return found


def refusal(seconds: int) -> str:
    """What a locked-out client is told (no count, no limit: nothing a guesser can plan by)."""
    return f"too many wrong admin tokens from this address; retry in {seconds}s"


__all__ = ["WINDOW", "LockedOut", "guarded", "refusal"]
