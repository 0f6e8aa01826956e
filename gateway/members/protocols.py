"""The member-adapter protocol: the small set of things the gateway asks of any member commons.

Adapters do I/O and nothing else: they fetch, translate the member's wire format into these plain
types, and raise :class:`UpstreamError` subclasses for failures. Every call takes a :class:`Deadline`
so that retries inside an adapter never run past the caller's budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.records import AccessURL, MemberRecord, Probe


@runtime_checkable
class MemberAdapter(Protocol):
    """What the gateway can ask a member commons. Implementations: ``gateway.members.gen3``, ``gateway.members.drs``,
    ``gateway.app.inprocess``."""

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
