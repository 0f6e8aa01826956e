"""What the gateway can ask a member commons, one capability protocol each; an adapter is what it implements.

Adapters do I/O and nothing else: they fetch, translate the member's wire format into plain types
(:mod:`gateway.core.records`, :mod:`gateway.members.search`), and raise :class:`UpstreamError` subclasses for
failures. Every call takes a :class:`Deadline` so that retries inside an adapter never run past the caller's
budget.

Capabilities:

* :class:`Records`: one object by id; :class:`BulkRecords`: many at once (the resolver and DRS);
* :class:`Access`: signed URLs, one or many (DRS access, exports);
* :class:`CohortSearch`: counts and rows of a cohort question (:mod:`gateway.search`);
* :class:`StudyDiscovery`: the member's study-level discovery records (:mod:`gateway.discovery`);
* :class:`Authz`: what a caller's own token, and what anyone, may read there (:mod:`gateway.access`);
* :class:`IndexListing`: the member's indexd listing, stats and version (:mod:`gateway.indexd`); a DRS server has
  none (DRS cannot list).

:class:`MemberAdapter` is what every member offers (records, bulk records, access, a health probe); the registry
builds one per member (:mod:`gateway.members.factory`). The other capabilities are optional: a feature asks whether
an adapter has one with ``isinstance`` (the protocols are runtime-checkable) and reports the member ``unsupported``
(or reads nothing there) when it has not. An adapter that implements a capability's methods but cannot answer for
a given member raises :class:`~gateway.members.search.SearchUnsupported` from them (a plain DRS server's search).

Implementations: :class:`gateway.members.gen3.Gen3Adapter` (all of them), :class:`gateway.members.drs.DrsAdapter`
(search and discovery answered ``unsupported``, no authz, no index listing), ``gateway.app.inprocess.ReferenceAdapter``
(all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.records import AccessURL, MemberRecord, Probe
from gateway.members.search import CohortQuery, MemberCounts, RowsPage
from gateway.wire.indexd_list import ListFilters


@runtime_checkable
class Records(Protocol):
    async def get_record(self, object_id: str, deadline: Deadline) -> MemberRecord | None:
        """The object, or ``None`` when the member does not have it (its 404)."""


@runtime_checkable
class BulkRecords(Protocol):
    async def get_records(self, object_ids: Sequence[str], deadline: Deadline) -> dict[str, MemberRecord]:
        """The objects the member has among ``object_ids``, keyed by the id as asked."""


@runtime_checkable
class Access(Protocol):
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


@runtime_checkable
class MemberAdapter(Records, BulkRecords, Access, Protocol):
    """What every member offers, whatever its kind."""

    member_id: str

    async def probe(self, timeout: float) -> Probe:
        """Is the member up? Never raises."""

    async def close(self) -> None:
        """Release pooled connections."""


@runtime_checkable
class CohortSearch(Protocol):
    async def cohort_counts(self, query: CohortQuery, deadline: Deadline, *,
                            authorization: str | None = None) -> MemberCounts:
        """Total and facet histograms of the query, split by the caller's access (``authorization`` is the
        caller's credential for this member, or ``None`` for anonymous)."""

    async def cohort_rows(self, query: CohortQuery, fields: Sequence[str], offset: int, limit: int,
                          deadline: Deadline, *, authorization: str | None = None) -> RowsPage:
        """A page of the caller's accessible rows matching the query."""


@runtime_checkable
class StudyDiscovery(Protocol):
    async def discovery_records(self, deadline: Deadline) -> list[tuple[str, dict[str, Any]]]:
        """Every study-level discovery record ``(guid, metadata)`` the member's MDS publishes (all pages)."""


@runtime_checkable
class Authz(Protocol):
    async def user_authz(self, authorization: str, deadline: Deadline) -> dict[str, Any]:
        """The caller's authz map at the member, ``{resource_path: [{"method", "service"}, ...]}``, for the
        ``Authorization`` given (the member's own 401/403 raise :class:`~gateway.core.errors.AccessDenied`)."""

    async def anonymous_authz(self, deadline: Deadline) -> dict[str, Any]:
        """What anyone may do at the member, in the same shape (Arborist's mapping for the anonymous user)."""


@runtime_checkable
class IndexListing(Protocol):
    async def list_records(
        self, filters: ListFilters, start: str | None, limit: int, deadline: Deadline
    ) -> list[MemberRecord]:
        """Up to ``limit`` indexd records matching ``filters`` whose ``did`` sorts after ``start`` (``None``: from
        the first), in strictly ascending ``did`` order (indexd's ``GET /index/index``)."""

    async def index_stats(self, deadline: Deadline) -> tuple[int, int]:
        """``(fileCount, totalFileSize)`` of the member's index (indexd's ``/_stats``)."""

    async def index_version(self, deadline: Deadline) -> dict[str, str]:
        """The member's indexd ``{"version", "commit"}``."""
