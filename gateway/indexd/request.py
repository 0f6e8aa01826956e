"""A federated ``GET /index/index`` request, checked (pure): indexd's parameters, their bounds, and what the
federation refuses rather than ignore.

Accepted, as indexd takes them: ``limit`` (0 to 1024, default 100), ``start``, ``page``, ``hash=<type>:<hex>``
(repeatable), ``url``/``urls`` (repeatable), ``file_name``, ``version``, ``size``, ``acl``, ``authz``. ``page`` pages
by offset in the merged order from ``start``, at most :data:`MAX_OFFSET` records deep. Refused with a 400 (never
silently ignored, which would answer records the client filtered out): ``ids`` (use ``POST /index/bulk/documents``),
``metadata``, ``urls_metadata``, ``uploader``, ``negate_params`` and ``form=bundle``. Every failure is a 400 with
indexd's wording where indexd has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.errors import bad_request
from gateway.wire.checksums import INDEXD_HASH_FORMATS
from gateway.wire.indexd_list import DEFAULT_LIMIT, MAX_LIMIT, ListFilters

INT64_MAX = 2**63 - 1
MAX_OFFSET = 10_000
"""The deepest ``page * limit`` served (deeper: page with ``start``, which costs the same at any depth)."""
MAX_VALUE = 2048
"""The longest value of any parameter."""
MAX_REPEATS = 32
"""Most ``hash`` or ``url`` parameters in one request."""
UNSUPPORTED = {
    "ids": "ids= is not supported by the federated listing; use POST /index/bulk/documents",
    "metadata": "metadata= queries are not supported by the federated listing",
    "urls_metadata": "urls_metadata= queries are not supported by the federated listing",
    "uploader": "uploader= queries are not supported by the federated listing",
    "negate_params": "negate_params= is not supported by the federated listing",
}


@dataclass(frozen=True, slots=True)
class ListRequest:
    filters: ListFilters
    limit: int
    start: str | None
    page: int | None


def _int(values: dict[str, list[str]], name: str, message: str) -> int | None:
    got = values.get(name)
    if not got:
        return None
    try:
        value = int(got[-1].strip())
    except ValueError:
        raise bad_request(message) from None
    if not -INT64_MAX <= value <= INT64_MAX:  # echoed in the answer: JSON numbers a client can read
        raise bad_request(f"{name} is out of range")
    return value


def _csv(values: dict[str, list[str]], name: str) -> tuple[str, ...] | None:
    got = values.get(name)
    if not got:
        return None
    raw = got[-1]
    return () if raw == "null" else tuple(v for v in raw.split(",") if v)


def parse_list_request(items: Sequence[tuple[str, str]]) -> ListRequest:
    """The request in a query string's ``(name, value)`` pairs; :class:`~gateway.core.errors.ApiError` 400 when a
    value is malformed, out of bounds, or asks for what the federation cannot answer."""
    values: dict[str, list[str]] = {}
    for name, value in items:
        if len(value) > MAX_VALUE:
            raise bad_request(f"{name} is longer than {MAX_VALUE} characters")
        values.setdefault(name, []).append(value)
    for name, message in UNSUPPORTED.items():
        if name in values:
            raise bad_request(message)
    form = values.get("form", [None])[-1]
    if form not in (None, "", "object", "all"):
        raise bad_request(f"form={form} is not supported by the federated listing (objects only)")
    limit = _int(values, "limit", "limit must be an integer")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 0 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be between 0 and {MAX_LIMIT}")
    page = _int(values, "page", "page must be an integer")
    if page is not None and page < 0:
        raise bad_request("page must be >= 0")
    if page is not None and page * limit > MAX_OFFSET:
        raise bad_request(f"page * limit must be at most {MAX_OFFSET}; page deeper with start=")
    size = _int(values, "size", "size must be an integer")
    if size is not None and size < 0:
        raise bad_request("size must be >= 0")
    raw_hashes = values.get("hash", [])
    urls = values.get("url", []) + values.get("urls", [])
    if len(raw_hashes) > MAX_REPEATS or len(urls) > MAX_REPEATS:
        raise bad_request(f"at most {MAX_REPEATS} hash and {MAX_REPEATS} url parameters")
    hashes: dict[str, str] = {}
    for raw in raw_hashes:
        kind, sep, value = raw.partition(":")
        if not sep:
            raise bad_request(f"hash must look like <type>:<value>, got {raw!r}")
        if kind not in INDEXD_HASH_FORMATS:
            raise bad_request("invalid hash types specified")
        if not INDEXD_HASH_FORMATS[kind].match(value):
            raise bad_request("invalid hash values specified")
        hashes[kind] = value
    start = values.get("start", [None])[-1]
    filters = ListFilters(
        hashes=tuple(hashes.items()), urls=tuple(dict.fromkeys(urls)),
        file_name=values.get("file_name", [None])[-1], version=values.get("version", [None])[-1], size=size,
        acl=_csv(values, "acl"), authz=_csv(values, "authz"),
    )
    return ListRequest(filters, limit, start or None, page)
