"""The member-adapter protocol: the small set of things the gateway asks of any member commons.

Adapters do I/O and nothing else: they fetch, translate the member's wire format into these plain
types, and raise :class:`UpstreamError` subclasses for failures. Every call takes a :class:`Deadline`
so that retries inside an adapter never run past the caller's budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

RecordFormat = Literal["indexd", "drs"]


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute point in ``time.monotonic()`` time by which a whole operation must finish."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (0 when passed)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def cap(self, seconds: float) -> float:
        """``seconds``, but never beyond the deadline."""
        return min(seconds, self.remaining())


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


class UpstreamError(Exception):
    """A member could not give an answer. ``status`` is what the gateway should answer with."""

    status = 502
    retry_after: int | None = None
    """Seconds after which asking again may succeed, when the member said so."""

    def __init__(self, member_id: str, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(f"{member_id}: {message}")
        self.member_id = member_id
        self.message = message
        self.upstream_status = upstream_status


class MemberUnavailable(UpstreamError):
    """Connection refused or reset, a 5xx after retries, or a malformed answer."""

    status = 502


class MemberBusy(UpstreamError):
    """The member kept answering 429 and its ``Retry-After`` did not fit in the deadline: the gateway answers
    503 with that ``Retry-After`` (the client did nothing wrong, so not 429)."""

    status = 503

    def __init__(self, member_id: str, message: str, *, retry_after: int) -> None:
        super().__init__(member_id, message, upstream_status=429)
        self.retry_after = retry_after


class MemberTimeout(UpstreamError):
    """The member did not answer before the deadline."""

    status = 504


class NotFoundUpstream(UpstreamError):
    """The member has no such object or access method (its 404) where an answer was required."""

    status = 404


class NotReady(UpstreamError):
    """The member accepted the request but has no answer yet (its ``202``); ask again after ``retry_after``."""

    status = 202

    def __init__(self, member_id: str, message: str, *, retry_after: int) -> None:
        super().__init__(member_id, message, upstream_status=202)
        self.retry_after = retry_after


class AccessDenied(UpstreamError):
    """The member refused access (its 401 or 403 is passed on)."""

    def __init__(self, member_id: str, message: str, *, upstream_status: int) -> None:
        super().__init__(member_id, message, upstream_status=upstream_status)
        self.status = upstream_status


@runtime_checkable
class MemberAdapter(Protocol):
    """What the gateway can ask a member commons. Implementations: ``adapters.gen3``, ``adapters.drs``,
    ``adapters.reference``."""

    member_id: str

    async def get_record(self, object_id: str, deadline: Deadline) -> MemberRecord | None:
        """The object, or ``None`` when the member does not have it (its 404)."""

    async def get_records(self, object_ids: Sequence[str], deadline: Deadline) -> dict[str, MemberRecord]:
        """The objects the member has among ``object_ids``, keyed by the id as asked."""

    async def access_url(
        self, object_id: str, access_id: str, deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> AccessURL:
        """A URL to fetch the bytes (signed by the member). ``authorization``: the header to send, or
        ``None`` for the gateway's own credentials for the member (if it has any). ``expires_in``: the
        lifetime to ask for, where the member's API takes one. ``passports``: GA4GH Passports to present in
        a DRS ``POST`` body instead of any credential (members in ``passport`` mode only)."""

    async def access_urls(
        self, pairs: Sequence[tuple[str, str]], deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> dict[tuple[str, str], AccessURL | UpstreamError]:
        """Many ``(object_id, access_id)`` at once (the member's bulk call where it has one); each pair's
        URL or the error for that pair. Raises only when the member failed as a whole."""

    async def probe(self, timeout: float) -> Probe:
        """Is the member up? Never raises."""

    async def close(self) -> None:
        """Release pooled connections."""
