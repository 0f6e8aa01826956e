"""Many signed URLs from a member that has no bulk access call: one call per pair, a bounded number at
a time, each pair's failure kept as that pair's answer (one refused object never fails the others)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.records import AccessURL

Pair = tuple[str, str]


async def access_each(
    access_url: Callable[..., Awaitable[AccessURL]], pairs: Sequence[Pair], limit: int, deadline: Deadline,
    **options: Any,
) -> dict[Pair, AccessURL | UpstreamError]:
    """``access_url(object_id, access_id, deadline, **options)`` (an adapter's own method) for every distinct
    pair, at most ``limit`` at once."""
    gate = asyncio.Semaphore(limit)
    out: dict[Pair, AccessURL | UpstreamError] = {}

    async def one(pair: Pair) -> None:
        async with gate:
            try:
                out[pair] = await access_url(*pair, deadline, **options)
            except UpstreamError as exc:
                out[pair] = exc

    await asyncio.gather(*(one(pair) for pair in dict.fromkeys(pairs)))
    return out
