"""Who is searching: what the gateway sends each member on the caller's behalf in a cohort search or export.

A :class:`SearchCaller` is built once per request by the handler and passed through
:class:`~gateway.aggregate.cohort.CohortService` (and export jobs) to every member call. The plain caller carries
the request's ``Authorization`` header, which goes to a member only under the DRS passthrough rules
(:func:`gateway.drs.passthrough.forwarded_authorization`); otherwise the member is asked anonymously (or with the
gateway's own credentials for that member, if it has any). It never holds anything that must outlive the request
in a shared store: callers are never persisted.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.drs.passthrough import forwarded_authorization
from registry.model import Member


@dataclass(frozen=True)
class SearchCaller:
    authorization: str | None = None
    """The request's ``Authorization`` header, as sent."""

    async def authorization_for(self, member: Member) -> str | None:
        """The ``Authorization`` to send ``member`` for this caller, or ``None``."""
        return forwarded_authorization(member, self.authorization)


ANONYMOUS = SearchCaller()
