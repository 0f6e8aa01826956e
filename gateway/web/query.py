"""Reading query parameters: booleans and integers with a 400 naming the parameter when malformed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

from gateway.core.errors import bad_request

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
