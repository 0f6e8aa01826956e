"""Reading query parameters: booleans and integers with a 400 naming the parameter when malformed.

An empty value (``?limit=``, ``?rev=``) is the parameter absent: :func:`empty_query_middleware` drops it before
any handler reads the query, so every route (the in-process reference commons' included) treats ``?x=`` as it
treats no ``x`` (the OpenAPI document marks optional parameters ``allowEmptyValue``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import overload

from aiohttp import web

from gateway.core.errors import bad_request


def without_empty_values(query: Mapping[str, str]) -> list[tuple[str, str]] | None:
    """The query pairs without the empty values, or ``None`` when there is none to drop."""
    pairs = list(query.items())
    kept = [(name, value) for name, value in pairs if value != ""]
    return None if len(kept) == len(pairs) else kept


@web.middleware
async def empty_query_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Hand the handler a request whose query has no empty values (``?a=&b=1`` → ``?b=1``)."""
    if not request.query_string:  # most requests carry no query: nothing to parse
        return await handler(request)
    kept = without_empty_values(request.query)
    if kept is not None:
        request = request.clone(rel_url=request.rel_url.with_query(kept))
    return await handler(request)

TRUE = frozenset({"true", "1", "yes"})
FALSE = frozenset({"false", "0", "no", ""})


def query_bool(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    """``true``/``True``/``1``/``yes`` or ``false``/``False``/``0``/``no`` in any case; absent → ``default``."""
    raw = query.get(name)
    if raw is None:
        return default
    text = raw.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise bad_request(f"{name} must be true or false, not {raw!r}")


INT64_MAX = 2**63 - 1


@overload
def query_int(
    query: Mapping[str, str], name: str, default: int, *, minimum: int | None = None, maximum: int = INT64_MAX
) -> int: ...


@overload
def query_int(
    query: Mapping[str, str], name: str, default: None = None, *, minimum: int | None = None,
    maximum: int = INT64_MAX,
) -> int | None: ...


def query_int(
    query: Mapping[str, str],
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int = INT64_MAX,
) -> int | None:
    """An integer parameter (absent → ``default``); 400 when not an integer or outside
    [``minimum``, ``maximum``] (by default a 64-bit range, so every value can be echoed as JSON)."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or (minimum is not None and value < minimum) or value > maximum:
        low = "" if minimum is None else f" ≥ {minimum}"
        high = "" if maximum == INT64_MAX else f" ≤ {maximum}"
        raise bad_request(f"{name} must be an integer{low}{high}, not {raw!r}")
    return value
