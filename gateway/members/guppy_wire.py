"""Guppy's GraphQL on the wire, for cohort search: the query texts the gateway sends and what it makes of the
answers. Pure: no I/O (:func:`cohort_counts` drives a ``send`` callable it is given).

* **Counts** (:func:`counts_request`): one request, the index's ``_aggregation`` twice under the aliases
  ``all`` and ``accessible`` (``accessibility: all`` / ``accessible``), each with ``_totalCount`` and, per
  facet, ``asTextHistogram { key count }`` (Guppy's text buckets for text *and* number fields; for a text
  field it is the same as ``histogram``). :func:`parse_counts` pairs the two into :class:`Count` s; a ``-1``
  (Guppy's hidden count) puts the cell in :attr:`MemberCounts.hidden` and leaves it out of the numbers. Guppy
  hides ``all`` counts in ``regular`` but never ``accessible`` ones, so a hidden cell's accessible count (a bucket
  missing from the accessible histogram has none: 0) goes into :attr:`MemberCounts.hidden_accessible`.
* **Rows** (:func:`rows_request`): ``accessibility: accessible`` raw rows (``first``/``offset``) and the
  accessible ``_totalCount`` of the same filter in one request; :func:`parse_rows` makes a :class:`RowsPage`.

Index and field names are checked against GraphQL's name syntax before they go into query text
(:class:`InvalidQuery` otherwise); the filter only ever travels as the ``$filter`` variable.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from gateway.core.errors import MemberUnavailable
from gateway.members.http import logged
from gateway.members.search import TOTAL, ZERO, CohortQuery, Count, HiddenCell, MemberCounts, RowsPage
from gateway.wire.guppy import NAME

HIDDEN = -1
"""Guppy's ``ENCRYPT_COUNT``: a count the member hid."""
MAX_WINDOW = 10_000
"""Guppy refuses raw rows past ``offset + first`` > this (Elasticsearch's window)."""
ALIASES = ("all", "accessible")
_UNKNOWN_FIELD = re.compile(r"""Cannot query field ["']([_A-Za-z][_0-9A-Za-z]*)["'] on type""")

Send = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Posts ``{"query", "variables"}`` to the member's Guppy and returns the decoded JSON answer."""


class InvalidQuery(ValueError):
    """The question cannot be put to Guppy (a name that is not a GraphQL name, an empty field list)."""


class GuppyQueryError(MemberUnavailable):
    """Guppy answered with GraphQL ``errors`` (and nothing usable); ``errors`` holds them as sent."""

    def __init__(self, member_id: str, errors: list[Any], *, upstream_status: int | None = 200) -> None:
        self.errors = errors
        super().__init__(member_id, "Guppy GraphQL: answered errors", upstream_status=upstream_status,
                         detail=f"Guppy GraphQL errors: {describe(errors)}")


def name(value: str, what: str = "field") -> str:
    """``value`` if it is a GraphQL name, else :class:`InvalidQuery`."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise InvalidQuery(f"not a valid Guppy {what} name: {value!r}"[:200])
    return value


def describe(errors: Any) -> str:
    """The GraphQL errors' messages (with their codes), shortened for an error message."""
    parts = []
    for error in errors if isinstance(errors, list) else [errors]:
        if isinstance(error, Mapping):
            code = (error.get("extensions") or {}).get("code") if isinstance(error.get("extensions"), Mapping) else None
            text = str(error.get("message") or "unknown error")
            parts.append(f"{text} ({code})" if code is not None else text)
        else:
            parts.append(str(error))
    return "; ".join(parts)[:500] or "unknown error"


# --- counts ---------------------------------------------------------------------------------------------


def counts_request(query: CohortQuery) -> tuple[str, dict[str, Any]]:
    """The GraphQL text and variables for ``query``'s total and facet histograms, split by access."""
    index = name(query.index, "index")
    facets = [name(f, "facet") for f in dict.fromkeys(query.facets)]
    body = " ".join(["_totalCount", *(f"{f} {{ asTextHistogram {{ key count }} }}" for f in facets)])
    parts = [f"{alias}: _aggregation {{ {index}(filter: $filter, accessibility: {alias}) {{ {body} }} }}"
             for alias in ALIASES]
    return "query ($filter: JSON) { " + " ".join(parts) + " }", {"filter": _filter(query)}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_counts(member_id: str, query: CohortQuery, answer: Any) -> MemberCounts:
    """:func:`counts_request`'s answer as :class:`MemberCounts`. GraphQL ``errors`` with no usable total are a
    :class:`GuppyQueryError`; errors next to a usable total make the answer ``partial`` (facets without a
    histogram in both parts are left out). Anything else unreadable is :class:`MemberUnavailable`."""
    if not isinstance(answer, Mapping):
        raise MemberUnavailable(member_id, "Guppy answer: expected a JSON object")
    errors = answer.get("errors")
    data = answer.get("data")
    scopes = []
    for alias in ALIASES:
        agg = data.get(alias) if isinstance(data, Mapping) else None
        scope = agg.get(query.index) if isinstance(agg, Mapping) else None
        scopes.append(scope if isinstance(scope, Mapping) else None)
    everything, accessible = scopes
    if everything is None or accessible is None or _count(everything.get("_totalCount")) is None \
            or _count(accessible.get("_totalCount")) is None:
        if errors:
            raise logged(GuppyQueryError(member_id, errors))
        raise MemberUnavailable(member_id, f"Guppy answer: no {query.index} aggregation with a _totalCount")
    partial = bool(errors)
    hidden: set[HiddenCell] = set()
    told: dict[HiddenCell, int] = {}

    def hide(cell: HiddenCell, accessible_count: int) -> None:
        hidden.add(cell)
        if accessible_count != HIDDEN:
            told[cell] = accessible_count

    total = _pair(member_id, everything["_totalCount"], accessible["_totalCount"])
    if total is None:
        hide(TOTAL, accessible["_totalCount"])
        total = ZERO
    histograms: dict[str, dict[str | None, Count]] = {}
    for facet in dict.fromkeys(query.facets):
        all_buckets = _buckets(member_id, everything.get(facet))
        accessible_buckets = _buckets(member_id, accessible.get(facet))
        if all_buckets is None or accessible_buckets is None:
            partial = True
            continue
        cells: dict[str | None, Count] = {}
        for key in dict.fromkeys([*all_buckets, *accessible_buckets]):
            acc = accessible_buckets.get(key, 0)
            count = _pair(member_id, all_buckets.get(key, acc), acc)
            if count is None:
                hide((facet, key), acc)
            else:
                cells[key] = count
        histograms[facet] = cells
    return MemberCounts(total=total, histograms=histograms, hidden=frozenset(hidden), hidden_accessible=told,
                        partial=partial)


def _pair(member_id: str, everything: int, accessible: int) -> Count | None:
    """The cell's :class:`Count`, or ``None`` when the member hid it (the accessible part may still be known)."""
    if accessible < 0 and accessible != HIDDEN:
        raise MemberUnavailable(member_id, f"Guppy answer: a negative accessible count ({accessible})")
    if everything == HIDDEN or accessible == HIDDEN:
        return None
    if everything < 0 or accessible < 0 or accessible > everything:
        raise MemberUnavailable(member_id, f"Guppy answer: inconsistent counts (all {everything}, "
                                           f"accessible {accessible})")
    return Count(everything, accessible)


def _buckets(member_id: str, facet: Any) -> dict[str | None, int] | None:
    """A facet's ``{key: count}``; ``None`` when the member gave no histogram for it (an error in its place)."""
    if not isinstance(facet, Mapping) or not isinstance(facet.get("asTextHistogram"), list):
        return None
    out: dict[str | None, int] = {}
    for bucket in facet["asTextHistogram"]:
        count = _count(bucket.get("count")) if isinstance(bucket, Mapping) else None
        key = bucket.get("key") if isinstance(bucket, Mapping) else None
        if count is None or not (key is None or isinstance(key, str | int | float)) or isinstance(key, bool):
            raise MemberUnavailable(member_id, "Guppy answer: a histogram bucket is not {key, count}")
        text = None if key is None else str(key)
        out[text] = HIDDEN if HIDDEN in (count, out.get(text)) else out.get(text, 0) + count
    return out


def unknown_fields(errors: Any) -> set[str]:
    """Fields a GraphQL validation error says the schema does not have."""
    found: set[str] = set()
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, Mapping):
            match = _UNKNOWN_FIELD.search(str(error.get("message") or ""))
            if match:
                found.add(match.group(1))
    return found


async def cohort_counts(member_id: str, query: CohortQuery, send: Send) -> MemberCounts:
    """Ask for ``query``'s counts through ``send`` and parse them. Facets the member's schema does not have
    (a validation error naming them) are dropped and the question asked once more: the answer is ``partial``."""
    text, variables = counts_request(query)
    answer = await send(text, variables)
    try:
        return parse_counts(member_id, query, answer)
    except GuppyQueryError as exc:
        unknown = unknown_fields(exc.errors)
        if not unknown or not unknown <= set(query.facets):
            raise
    fewer = CohortQuery(query.index, query.filter, tuple(f for f in query.facets if f not in unknown))
    text, variables = counts_request(fewer)
    counts = parse_counts(member_id, fewer, await send(text, variables))
    return replace(counts, partial=True)


# --- rows -----------------------------------------------------------------------------------------------


def rows_request(query: CohortQuery, fields: Sequence[str], offset: int, limit: int) -> tuple[str, dict[str, Any]]:
    """The GraphQL text and variables for a page of accessible rows (and their accessible total)."""
    index = name(query.index, "index")
    wanted = [name(f) for f in dict.fromkeys(fields)]
    if not wanted:
        raise InvalidQuery("a rows query needs at least one field")
    if offset < 0 or limit < 0:
        raise InvalidQuery("offset and limit must not be negative")
    text = ("query ($filter: JSON, $first: Int, $offset: Int) { "
            f"rows: {index}(filter: $filter, first: $first, offset: $offset, accessibility: accessible) "
            f"{{ {' '.join(wanted)} }} "
            f"total: _aggregation {{ {index}(filter: $filter, accessibility: accessible) {{ _totalCount }} }} }}")
    return text, {"filter": _filter(query), "first": limit, "offset": offset}


def parse_rows(member_id: str, query: CohortQuery, offset: int, limit: int, answer: Any) -> RowsPage:
    """:func:`rows_request`'s answer as a :class:`RowsPage`; GraphQL errors are a :class:`GuppyQueryError`."""
    if not isinstance(answer, Mapping):
        raise MemberUnavailable(member_id, "Guppy answer: expected a JSON object")
    if answer.get("errors"):
        raise logged(GuppyQueryError(member_id, answer["errors"]))
    data = answer.get("data")
    rows = data.get("rows") if isinstance(data, Mapping) else None
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise MemberUnavailable(member_id, f"Guppy answer: no list of {query.index} rows")
    agg = data.get("total") if isinstance(data, Mapping) else None
    scope = agg.get(query.index) if isinstance(agg, Mapping) else None
    total = _count(scope.get("_totalCount")) if isinstance(scope, Mapping) else None
    if total is not None and total < 0:
        total = None
    end = offset + len(rows)
    more = len(rows) >= limit > 0 and (total is None or end < total) and end < MAX_WINDOW
    return RowsPage(rows=tuple(dict(r) for r in rows), next_offset=end if more else None, total=total)


def _filter(query: CohortQuery) -> Any:
    return dict(query.filter) if query.filter is not None else None
