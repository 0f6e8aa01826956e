"""Many signed URLs from a member that has no bulk access call: one call per pair, a bounded number at
a time, each pair's failure kept as that pair's answer (one refused object never fails the others)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from gateway.core.concurrency import gather_settled
from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.records import AccessURL

Pair = tuple[str, str]


async def access_each(
    access_url: Callable[..., Awaitable[AccessURL]], pairs: Sequence[Pair], limit: int, deadline: Deadline,
    **options: Any,
) -> dict[Pair, AccessURL | UpstreamError]:
    """``access_url(object_id, access_id, deadline, **options)`` (an adapter's own method) for every distinct
    pair, at most ``limit`` at once. Any failure other than an :class:`UpstreamError` cancels the other calls
    and is raised."""
    distinct = list(dict.fromkeys(pairs))
    answers = await gather_settled([partial(access_url, *pair, deadline, **options) for pair in distinct], limit,
                                   UpstreamError)
    return dict(zip(distinct, answers, strict=True))
