"""What resolving an id answers: a :class:`Resolution` (the member that holds it, its record, how it was found and
whether that member is known to be its owner) or a :class:`ResolutionError` (the status to answer, and why; for an
id several members hold, the 409 listing each :class:`Candidate`)."""

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
    established: bool = False
    """For a fan-out: every member asked answered, and this one alone holds the id (see
    :mod:`gateway.resolver.holders`). Routed ids need not be: their route names the owner."""
    fetched_at: float | None = None
    """Wall-clock seconds at which the record was fetched from its member; ``None``: just now (not from a cache).
    Access decisions the gateway makes from the record's ``authz`` need it no older than ``drs.authz_max_age``."""

    def age(self, now: float) -> float:
        """Seconds since the record was fetched from its member (0 for a fresh one)."""
        return 0.0 if self.fetched_at is None else max(0.0, now - self.fetched_at)

    @property
    def owner_known(self) -> bool:
        """The member owns the id by its prefix or DRS hostname, or was established as its only holder: the only
        member a caller's credentials may be sent to for this id."""
        return self.route != "fanout" or self.established


@dataclass(frozen=True, slots=True)
class Candidate:
    """One member holding an id several members hold: the member, the full id it answered with, and a ``drs://``
    URI naming that member's copy (``None`` when the member's prefixes and hostnames give none)."""

    member_id: str
    id: str
    drs_uri: str | None

    def view(self) -> dict[str, str | None]:
        return {"member": self.member_id, "id": self.id, "drs_uri": self.drs_uri}


class ResolutionError(Exception):
    """Why an id could not be resolved; ``status`` is what to answer (400, 404, 409, 502, 503, 504; a member's
    202 with ``retry_after``, its 401/403). A 400 keeps the parse error behind it in ``invalid``; a 409 (several
    members hold the id) lists them in ``candidates``."""

    def __init__(
        self, status: int, message: str, *, retry_after: int | None = None, invalid: InvalidIdentifier | None = None,
        candidates: tuple[Candidate, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.invalid = invalid
        self.candidates = candidates

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
