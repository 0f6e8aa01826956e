"""A member's indexd read surface beyond single records: a page of its listing, its ``_stats``, its ``_version``
(I/O only; the federated merge is :mod:`gateway.indexd`).

Each function takes the member's :class:`MemberHttp` and its indexd endpoint (``<base>/index`` in Gen3's
reverse-proxy layout, the root of a bare indexd: ``<prefix>/index``, ``<prefix>/_stats``, ``<prefix>/_version``).

* :func:`list_page`: ``GET <prefix>/index?limit=&start=&<filters>`` → the records, checked: each a JSON object with
  a string ``did``, in strictly ascending ``did`` order, each after ``start``, at most ``limit`` of them (anything
  else is :class:`MemberUnavailable`: a merge across members relies on that order).
* :func:`stats`: ``GET <prefix>/_stats`` → ``(fileCount, totalFileSize)``.
* :func:`version`: ``GET <prefix>/_version`` → ``{"version", "commit"}`` (strings, as the member gave them).

Any status but 200 is :class:`MemberUnavailable` (502) naming the member: on these routes even the member's
404 or 401 means it cannot list, never that a record is missing or the caller is refused.
"""

from __future__ import annotations

from typing import Any

from gateway.core.deadline import Deadline
from gateway.core.errors import MemberUnavailable, UpstreamError
from gateway.members.http import MemberHttp, UpstreamResponse, error_for
from gateway.wire.indexd_list import ListFilters


def _failure(response: UpstreamResponse, what: str) -> UpstreamError:
    error = error_for(response, what)
    if error.status in (502, 503, 504):
        return error
    return MemberUnavailable(error.member_id, error.message, upstream_status=error.upstream_status,
                             detail=error.detail)


async def _read(
    http: MemberHttp, path: str, deadline: Deadline, what: str, *, params: list[tuple[str, str]] | None = None,
    max_body: int | None = None,
) -> tuple[UpstreamResponse, dict[str, Any]]:
    """``GET path``: the answer and its JSON object; :func:`_failure` for any status but 200."""
    response = await http.request("GET", path, deadline, idempotent=True, params=params, max_body=max_body)
    if response.status != 200:
        raise _failure(response, what)
    return response, response.json_object(what)


async def list_page(
    http: MemberHttp, prefix: str, filters: ListFilters, start: str | None, limit: int, deadline: Deadline
) -> list[dict[str, Any]]:
    """Up to ``limit`` records after ``start`` matching ``filters``, in the member's (ascending ``did``) order."""
    what = "indexd listing"
    pairs: list[tuple[str, str]] = [("limit", str(limit))]
    pairs += [("start", start)] if start is not None else []
    pairs += filters.params()
    response, doc = await _read(http, f"{prefix}/index", deadline, what,
                                params=pairs,  # pairs: hash/url may repeat
                                max_body=http.bulk_cap(max(limit, 1)))
    records = doc.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) and isinstance(r.get("did"), str)
                                                and r["did"] for r in records):
        raise response.malformed(what, "expected {\"records\": [...]} with a did in each")
    if len(records) > limit:
        raise response.malformed(what, f"{len(records)} records for limit {limit}")
    previous = start
    for record in records:
        if previous is not None and not record["did"] > previous:
            raise response.malformed(what, "records not in ascending did order after start")
        previous = record["did"]
    return records


async def stats(http: MemberHttp, prefix: str, deadline: Deadline) -> tuple[int, int]:
    """The member's ``(fileCount, totalFileSize)``."""
    what = "indexd stats"
    response, doc = await _read(http, f"{prefix}/_stats", deadline, what)
    count, size = doc.get("fileCount"), doc.get("totalFileSize")
    if type(count) is not int or type(size) is not int or count < 0 or size < 0:
        raise response.malformed(what, "expected integer fileCount and totalFileSize")
    return count, size


async def version(http: MemberHttp, prefix: str, deadline: Deadline) -> dict[str, str]:
    """The member's indexd ``{"version", "commit"}``."""
    _, doc = await _read(http, f"{prefix}/_version", deadline, "indexd version")
    return {key: str(doc.get(key) or "")[:200] for key in ("version", "commit")}
