"""What resolving an id answers: a :class:`Resolution` (the member that holds it, its record, and how it was
found) or a :class:`ResolutionError` (the status to answer, and why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.core.errors import UpstreamError
from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.resolver.identifiers import Identifier, InvalidIdentifier

Route = Literal["prefix", "hostname", "fanout", "upstream"]
"""How the member was found: by the id's prefix, its DRS hostname, asking every member, or an upstream dist list."""


@dataclass(frozen=True, slots=True)
class Resolution:
    identifier: Identifier
    member: Member
    record: MemberRecord
    route: Route
    cached: bool = False


class ResolutionError(Exception):
    """Why an id could not be resolved; ``status`` is what to answer (400, 404, 502, 503, 504; a member's
    202 with ``retry_after``, its 401/403). A 400 keeps the parse error behind it in ``invalid``."""

    def __init__(
        self, status: int, message: str, *, retry_after: int | None = None, invalid: InvalidIdentifier | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.invalid = invalid

    @classmethod
    def not_an_id(cls, exc: InvalidIdentifier) -> ResolutionError:
        """The 400 for text that is not an identifier (or, behind the gateway's own DRS hostname, holds none)."""
        return cls(400, str(exc), invalid=exc)

    @classmethod
    def upstream(cls, member_id: str, exc: UpstreamError) -> ResolutionError:
        return cls(exc.status, f"member commons {member_id}: {exc.message}",
                   retry_after=exc.retry_after)


Outcome = Resolution | ResolutionError
"""One id's answer in a batch."""
