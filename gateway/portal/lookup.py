"""GUID lookup (the home page and ``/guid/{id}``): for each id pasted, the member that holds it and the object.

:func:`look_up` is a thin client of the resolver's bulk path (``POST /resolver/v1/resolve`` calls the same
:meth:`~gateway.resolver.service.Resolver.resolve_many`: each member asked at most once per chunk of ids) and of
the DRS mapping the DRS API serves objects with (:func:`gateway.drs.federate.drs_object`): the name, size,
checksums and access methods shown are those of ``GET /ga4gh/drs/v1/objects/{id}``. Whether a file is open data
is what the member's anonymous auth mapping says of its ``authz`` (:class:`~gateway.access.open_readable.OpenAuthz`,
the rule cohort search uses). The signed URL itself is fetched only when the person clicks *Download*
(:func:`signed_url`, the DRS service's ``access``): no page embeds one.

The rest is pure: :func:`split_ids` reads the pasted text, :func:`row_of` turns one outcome into a row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.access.open_readable import OpenAuthz
from gateway.core.records import AccessURL
from gateway.drs.federate import InvalidRecord, drs_object
from gateway.drs.service import DrsService
from gateway.resolver.outcomes import Resolution, ResolutionError

_SEPARATORS = re.compile(r"[\s,;]+")
MAX_ID_LENGTH = 2048
"""Longer text is not an id anyone pasted on purpose: listed as not an identifier without being parsed."""

Availability = Literal["open", "controlled", "unknown"]
Problem = Literal["invalid", "unknown", "ambiguous", "refused", "unavailable"]


@dataclass(frozen=True)
class Found:
    asked: str
    member_id: str
    member_name: str
    normalized: str
    """The id as the holding member knows it."""
    drs_id: str
    """The id at the gateway's DRS endpoint."""
    drs_uri: str
    name: str | None
    size: int | None
    checksums: tuple[tuple[str, str], ...]
    access_ids: tuple[tuple[str, str], ...]
    """``(access_id, type)`` of each access method."""
    availability: Availability
    mime_type: str | None = None
    created: str | None = None

    @property
    def size_text(self) -> str:
        return human_size(self.size)


@dataclass(frozen=True)
class Missing:
    asked: str
    problem: Problem
    status: int
    message: str
    candidates: tuple[tuple[str, str, str | None], ...] = field(default=())
    """``(member, id, drs_uri)`` of each member holding an ambiguous id."""

    @property
    def headline(self) -> str:
        return HEADLINES[self.problem]


Row = Found | Missing

HEADLINES: dict[Problem, str] = {
    "invalid": "Not an identifier",
    "unknown": "Not found in any member commons",
    "ambiguous": "Held by several member commons",
    "refused": "The member commons refused to show it",
    "unavailable": "Unavailable right now",
}


def split_ids(text: str, limit: int) -> tuple[list[str], int]:
    """The distinct ids in pasted ``text`` (separated by white space, commas or semicolons), in order, at most
    ``limit`` of them; and how many more were left out."""
    ids = list(dict.fromkeys(t for t in _SEPARATORS.split(text) if t))
    return ids[:limit], max(0, len(ids) - limit)


def problem_of(status: int) -> Problem:
    """What a resolution's failure status means to a person."""
    if status == 400:
        return "invalid"
    if status == 404:
        return "unknown"
    if status == 409:
        return "ambiguous"
    if status in (401, 403):
        return "refused"
    return "unavailable"  # 202 not ready, 429, 502, 503, 504


def human_size(size: int | None) -> str:
    if size is None:
        return "unknown size"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({size:,} bytes)"
        value /= 1000
    return f"{size:,} bytes"  # pragma: no cover (the loop returns)


def _authz(resolution: Resolution) -> list[str]:
    authz = resolution.record.document.get("authz") if resolution.record.format == "indexd" else None
    return [a for a in authz if isinstance(a, str)] if isinstance(authz, list) else []


def row_of(asked: str, outcome: Resolution | ResolutionError, hostname: str, *, open_data: bool | None) -> Row:
    """One id's row. ``open_data``: whether anyone may read the record at its member (``None``: not known)."""
    if isinstance(outcome, ResolutionError):
        candidates = tuple((c.member_id, c.id, c.drs_uri) for c in outcome.candidates)
        return Missing(asked, problem_of(outcome.status), outcome.status, outcome.message, candidates)
    try:
        obj = drs_object(outcome.record, hostname, "1.5")
    except InvalidRecord as exc:
        return Missing(asked, "unavailable", 502, f"member commons {outcome.member.id} sent an unusable record: {exc}")
    checksums = tuple((str(c.get("type")), str(c.get("checksum"))) for c in obj.get("checksums") or [])
    methods = tuple((str(m["access_id"]), str(m.get("type", ""))) for m in obj.get("access_methods") or []
                    if "access_id" in m)
    availability: Availability = "unknown" if open_data is None else "open" if open_data else "controlled"
    return Found(
        asked=asked, member_id=outcome.member.id, member_name=outcome.member.name or outcome.member.id,
        normalized=outcome.identifier.object_id, drs_id=str(obj.get("id", "")), drs_uri=str(obj.get("self_uri", "")),
        name=obj.get("name"), size=obj.get("size"), checksums=checksums, access_ids=methods,
        availability=availability, mime_type=obj.get("mime_type"), created=obj.get("created_time"),
    )


async def open_data(open_authz: OpenAuthz | None, resolution: Resolution) -> bool | None:
    """Whether anyone may read the resolved record: its every ``authz`` resource is open at its member (``None``:
    the record names no ``authz``, or nothing tells)."""
    authz = _authz(resolution)
    if open_authz is None or not authz:
        return None
    return (await open_authz.readable(resolution.member)).covers_all(authz)


async def look_up(drs: DrsService, open_authz: OpenAuthz | None, ids: Sequence[str], *,
                  client: str | None) -> list[Row]:
    """A row per id of ``ids`` (distinct), through the resolver's bulk path (one deadline, ``resolver.deadline``).
    Raises :class:`~gateway.resolver.budget.FanoutRefused` as the API does when ``client`` is past its budget."""
    long = {raw for raw in ids if len(raw) > MAX_ID_LENGTH}
    asked = [raw for raw in ids if raw not in long]
    outcomes = await drs.resolver.resolve_many(asked, client=client) if asked else {}
    rows: list[Row] = []
    for raw in ids:
        if raw in long:
            rows.append(Missing(raw[:80] + "…", "invalid", 400, f"longer than {MAX_ID_LENGTH} characters"))
            continue
        outcome = outcomes[raw]
        known = await open_data(open_authz, outcome) if isinstance(outcome, Resolution) else None
        rows.append(row_of(raw, outcome, drs.hostname, open_data=known))
    return rows


async def signed_url(drs: DrsService, raw: str, access_id: str, *, client: str | None) -> AccessURL:
    """The signed URL of ``raw``'s access method ``access_id``, as ``GET /ga4gh/drs/v1/objects/{id}/access/{id}``
    answers it without caller credentials (open data). Raises what that route turns into its errors."""
    return await drs.access(raw, access_id, drs.deadline(), authorization=None, expires_in=None, client=client)
