"""Many signed URLs from a member that has no bulk access call: one call per pair, a bounded number at
a time, each pair's failure kept as that pair's answer (one refused object never fails the others)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from adapters.base import AccessURL, UpstreamError

Pair = tuple[str, str]


async def access_each(
    access_url: Callable[[str, str], Awaitable[AccessURL]], pairs: Sequence[Pair], limit: int
) -> dict[Pair, AccessURL | UpstreamError]:
    """``access_url(object_id, access_id)`` for every distinct pair, at most ``limit`` at once."""
    gate = asyncio.Semaphore(limit)
    out: dict[Pair, AccessURL | UpstreamError] = {}

    async def one(pair: Pair) -> None:
        async with gate:
            try:
                out[pair] = await access_url(*pair)
            except UpstreamError as exc:
                out[pair] = exc

    await asyncio.gather(*(one(pair) for pair in dict.fromkeys(pairs)))
    return out
