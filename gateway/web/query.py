"""Reading query parameters: booleans and integers with a 400 naming the parameter when malformed."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.web.errors import bad_request

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


def query_int(
    query: Mapping[str, str], name: str, default: int | None = None, *, minimum: int | None = None
) -> int | None:
    """An integer parameter (absent → ``default``); 400 when not an integer or below ``minimum``."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" ≥ {minimum}"
        raise bad_request(f"{name} must be an integer{bound}, not {raw!r}")
    return value
