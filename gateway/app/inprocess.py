"""The in-process reference commons as a member: the same protocol as :class:`~gateway.members.gen3.Gen3Adapter`,
answered by calling :class:`~refcommons.commons.ReferenceCommons` directly (no HTTP).

Records are indexd records; access is checked by the commons' fence (``read-storage`` on the record's
authz) exactly as its ``/user/data/download`` route does, and its 401/403/404 become
:class:`AccessDenied`/:class:`NotFoundUpstream`.

Search runs the commons' own Guppy schema (:func:`refcommons.guppy.service.run`, the code behind its
``/guppy/graphql``) on the same GraphQL text the Gen3 adapter sends, for the caller the ``Authorization`` header
names (fence, as the route does), but with nothing hidden: the gateway's tiering decides what to show, so
``hidden`` (and so ``hidden_accessible``) is always empty. Discovery records come from the commons' MDS catalogue,
its data dictionary from its package data (what its ``/api/v0/submission/_dictionary/_all`` serves).

Its index listing, stats and version are what its ``GET /index/index``, ``/index/_stats`` and ``/index/_version``
answer: the commons' own :class:`~refcommons.indexd.store.IndexStore` list and stats, its route's version document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.core.deadline import Deadline
from gateway.core.errors import (
    AccessDenied,
    ApiError,
    MemberTimeout,
    MemberUnavailable,
    NotFoundUpstream,
    UpstreamError,
)
from gateway.core.member import Member
from gateway.core.records import AccessURL, MemberRecord, Probe
from gateway.members import guppy_wire
from gateway.members.access_each import access_each
from gateway.members.gen3 import gen3_id
from gateway.members.search import CohortQuery, MemberCounts, RowsPage
from gateway.wire.drs import dump
from gateway.wire.indexd_list import ListFilters
from refcommons.commons import ReferenceCommons
from refcommons.drs.render import service_info
from refcommons.guppy import access as search_access
from refcommons.guppy.index import Access
from refcommons.guppy.schema import GuppyContext
from refcommons.guppy.service import GuppyService, run
from refcommons.indexd.records import IndexRecord
from refcommons.indexd.store import ListQuery
from refcommons.routes.indexd import INDEXD_VERSION
from refcommons.submission import dictionary as submission_dictionary

ACCESS_CONCURRENCY = 8
"""In-process signing is CPU only; a few at once just interleaves them with other requests."""
EXACT_LIMIT = 0
"""The tier limit the in-process Guppy runs with: under ``regular`` a count is hidden when its inaccessible part
is in ``(0, limit)``, so with 0 nothing is hidden while ``accessible`` still narrows to the caller's rows."""


class ReferenceAdapter:
    """A member that is a :class:`ReferenceCommons` running in this process."""

    def __init__(self, member: Member, commons: ReferenceCommons) -> None:
        self.member = member
        self.member_id = member.id
        self.commons = commons
        self._guppy: GuppyService | None = None

    async def get_record(self, object_id: str, deadline: Deadline) -> MemberRecord | None:
        self._check(deadline)
        record = await self.commons.index.get(gen3_id(object_id))
        return self._record(record) if record is not None else None

    async def get_records(self, object_ids: Sequence[str], deadline: Deadline) -> dict[str, MemberRecord]:
        self._check(deadline)
        out: dict[str, MemberRecord] = {}
        for object_id in dict.fromkeys(object_ids):
            record = await self.commons.index.get(gen3_id(object_id))
            if record is not None:
                out[object_id] = self._record(record)
        return out

    async def access_url(
        self, object_id: str, access_id: str, deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> AccessURL:
        self._check(deadline)
        record = await self.commons.index.get(gen3_id(object_id))
        if record is None:
            raise NotFoundUpstream(self.member_id, f"no object {object_id!r}", upstream_status=404)
        fence = self.commons.fence
        if authorization is None and passports is None:
            authorization = await self._own_authorization()
        try:
            grant = await fence.authorize_download(
                authorization, record, passports=list(passports) if passports is not None else None
            )
        except ApiError as exc:
            if exc.status in (401, 403):
                raise AccessDenied(self.member_id, exc.message, upstream_status=exc.status) from None
            raise MemberUnavailable(self.member_id, exc.message, upstream_status=exc.status) from None
        if access_id not in protocols(record):
            raise NotFoundUpstream(self.member_id, f"no access method {access_id!r} for {record.did}",
                                   upstream_status=404)
        return AccessURL(url=fence.signed_url(record.did, access_id, expires_in, user=grant.user,
                                              not_after=grant.not_after))

    async def access_urls(
        self, pairs: Sequence[tuple[str, str]], deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> dict[tuple[str, str], AccessURL | UpstreamError]:
        return await access_each(self.access_url, pairs, ACCESS_CONCURRENCY, deadline,
                                 authorization=authorization, expires_in=expires_in, passports=passports)

    async def probe(self, timeout: float) -> Probe:
        info = dump(service_info(self.commons.settings, self.commons.index.stats()))
        return Probe(True, 0.0, "in process", 200, info)

    async def close(self) -> None:
        """Nothing pooled; the commons belongs to whoever opened it."""

    # --- index listing ---------------------------------------------------------------------------------

    async def list_records(
        self, filters: ListFilters, start: str | None, limit: int, deadline: Deadline
    ) -> list[MemberRecord]:
        self._check(deadline)
        query = ListQuery(
            limit=limit, start=start, hashes=dict(filters.hashes) or None, urls=list(filters.urls) or None,
            file_name=filters.file_name, version=filters.version, size=filters.size,
            acl=None if filters.acl is None else list(filters.acl),
            authz=None if filters.authz is None else list(filters.authz),
        )
        return [self._record(record) for record in await self.commons.index.list(query)]

    async def index_stats(self, deadline: Deadline) -> tuple[int, int]:
        self._check(deadline)
        return self.commons.index.stats()

    async def index_version(self, deadline: Deadline) -> dict[str, str]:
        return dict(INDEXD_VERSION)

    # --- search ---------------------------------------------------------------------------------------

    async def cohort_counts(self, query: CohortQuery, deadline: Deadline, *,
                            authorization: str | None = None) -> MemberCounts:
        self._check(deadline)
        ctx = await self._guppy_context(authorization)

        async def send(text: str, variables: dict[str, Any]) -> Any:
            return await self._run(ctx, text, variables, deadline)

        return await guppy_wire.cohort_counts(self.member_id, query, send)

    async def cohort_rows(self, query: CohortQuery, fields: Sequence[str], offset: int, limit: int,
                          deadline: Deadline, *, authorization: str | None = None) -> RowsPage:
        self._check(deadline)
        text, variables = guppy_wire.rows_request(query, fields, offset, limit)
        ctx = await self._guppy_context(authorization)
        answer = await self._run(ctx, text, variables, deadline)
        return guppy_wire.parse_rows(self.member_id, query, offset, limit, answer)

    async def discovery_records(self, deadline: Deadline) -> list[tuple[str, dict[str, Any]]]:
        self._check(deadline)
        catalog = self.commons.metadata
        hits = catalog.query({"_guid_type": ["discovery_metadata"]}, limit=len(catalog.records))
        # copies: the catalogue's records are shared and callers may change what they get
        return [(guid, orjson.loads(orjson.dumps(record))) for guid, record in hits]

    async def data_dictionary(self, deadline: Deadline) -> dict[str, Any] | None:
        """The commons' data dictionary, as its ``GET /api/v0/submission/_dictionary/_all`` answers (a copy)."""
        self._check(deadline)
        return submission_dictionary.document()

    async def user_authz(self, authorization: str, deadline: Deadline) -> dict[str, Any]:
        """The caller's authz map, as the commons' ``GET /user/user`` answers it (its fence, in process)."""
        self._check(deadline)
        try:
            principal = await self.commons.fence.principal(authorization)
        except ApiError as exc:
            raise AccessDenied(self.member_id, exc.message, upstream_status=exc.status) from None
        return dict(self.commons.fence.user_info(principal)["authz"])

    async def anonymous_authz(self, deadline: Deadline) -> dict[str, Any]:
        """What anyone may do at the commons, as its ``GET /authz/mapping`` answers without a token."""
        self._check(deadline)
        fence = self.commons.fence
        return fence.auth_mapping(fence.principal_for(None))

    async def _guppy_context(self, authorization: str | None) -> GuppyContext:
        """The caller's view of the commons' Guppy, decided as its route decides it
        (:func:`refcommons.guppy.access.readable`: a gateway search token, a bearer Passport, or fence; a bad
        credential is the route's 401)."""
        if self._guppy is None:
            self._guppy = GuppyService.build_from(self.commons.dataset)
        resources = self._guppy.resources
        try:
            readable = await search_access.readable(self.commons.fence, authorization, resources)
        except ApiError as exc:
            if exc.status in (401, 403):
                raise AccessDenied(self.member_id, exc.message, upstream_status=exc.status) from None
            raise MemberUnavailable(self.member_id, exc.message, upstream_status=exc.status) from None
        return GuppyContext(Access(readable, resources - readable), "regular", EXACT_LIMIT)

    async def _run(self, ctx: GuppyContext, text: str, variables: dict[str, Any], deadline: Deadline) -> Any:
        """The commons' GraphQL execution, off the event loop (as its route runs it), within the deadline."""
        assert self._guppy is not None
        try:
            async with asyncio.timeout(deadline.remaining()):
                return await asyncio.to_thread(run, self._guppy.schema, ctx, text, variables, None)
        except TimeoutError:
            raise MemberTimeout(self.member_id, "Guppy query: no answer within the deadline") from None

    async def _own_authorization(self) -> str | None:
        """The member's configured credentials: a static bearer token, or an API key exchanged in-process."""
        auth = self.member.auth
        if auth.type == "bearer" and auth.token:
            return f"Bearer {auth.token}"
        if auth.type == "api_key" and auth.credentials_file:
            unusable = MemberUnavailable(self.member_id, "the gateway's credentials for this member are unusable")
            try:
                doc = orjson.loads(await asyncio.to_thread(Path(auth.credentials_file).read_bytes))
                return f"Bearer {await self.commons.fence.exchange(doc['api_key'])}"
            except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ApiError):
                raise unusable from None
        return None

    def _check(self, deadline: Deadline) -> None:
        if deadline.expired:
            raise MemberTimeout(self.member_id, "no time left before the deadline")

    def _record(self, record: IndexRecord) -> MemberRecord:
        return MemberRecord(member_id=self.member_id, id=record.did, format="indexd", document=record.to_json())


def protocols(record: IndexRecord) -> list[str]:
    """The storage protocols a record's URLs offer (what fence accepts as ``protocol``)."""
    return list(dict.fromkeys(s for s in (urlsplit(u).scheme for u in record.urls) if s))
