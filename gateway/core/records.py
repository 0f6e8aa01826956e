"""What a member answers, in the gateway's own terms: an object's record as the member wrote it
(:class:`MemberRecord`), a signed URL (:class:`AccessURL`), a health probe's outcome (:class:`Probe`).
Plain frozen values; every layer above may use them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RecordFormat = Literal["indexd", "drs"]


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """One object as a member describes it."""

    member_id: str
    id: str
    """The id as the member knows it (e.g. ``dg.4503/<uuid>`` for a Gen3 commons)."""
    format: RecordFormat
    """``indexd`` for Gen3/reference members (an indexd record), ``drs`` for DRS members (a DRS object)."""
    document: dict[str, Any]
    """The member's own JSON for the object, untouched."""


@dataclass(frozen=True, slots=True)
class AccessURL:
    url: str
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Probe:
    """Outcome of one health probe."""

    ok: bool
    latency_ms: float
    detail: str = ""
    status: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """What the member said about itself (e.g. its service-info), when it answered."""
