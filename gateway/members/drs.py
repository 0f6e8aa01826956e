"""Any GA4GH DRS server as a member, at ``<drs>/ga4gh/drs/v1`` (its ``drs`` endpoint: ``base_url`` by default).

A member found misconfigured (its DRS path does not answer like DRS: :meth:`Member.offers` ``records``) is not asked:
:class:`MemberMisconfigured` (502); one found to offer no access (``signed_urls``): :class:`ServiceNotOffered` (501).

* ``get_record``: ``GET /objects/{id}`` (id percent-encoded, ``/`` as ``%2F``) → a DRS object; 404 → ``None``.
* ``get_records``: bulk ``POST /objects`` ``{"bulk_object_ids": [...]}`` when the member's service-info
  advertises ``drs.maxBulkRequestLength`` (or the deprecated root ``maxBulkRequestLength``), in chunks of
  that length; the spec's ``resolved_drs_object`` is read (indexd's ``resolved_drs_objects`` too). Ids the
  answer neither resolves nor lists as 404 are fetched one by one. Without bulk: parallel GETs, at most
  ``UpstreamConfig.bulk_concurrency`` at once. Service-info is fetched once and kept (probes refresh it).
* ``access_url``: ``GET /objects/{id}/access/{access_id}`` → ``{"url", "headers"}``; a ``202`` is
  :class:`NotReady` with the member's ``Retry-After``.
* ``access_urls``: bulk ``POST /objects/access`` when the member has bulk, else one call per pair.
* ``probe``: ``GET /service-info``.
* search: none (DRS has no cohort or discovery API): the :class:`~gateway.members.protocols.CohortSearch` and
  :class:`~gateway.members.protocols.StudyDiscovery` methods raise :class:`SearchUnsupported`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from gateway.core.concurrency import gather_bounded, gather_chunked
from gateway.core.deadline import Deadline
from gateway.core.egress import EgressPolicy
from gateway.core.errors import (
    AccessDenied,
    MemberMisconfigured,
    MemberUnavailable,
    NotFoundUpstream,
    ServiceNotOffered,
    UpstreamError,
    answered,
)
from gateway.core.member import Member
from gateway.core.records import AccessURL, MemberRecord, Probe
from gateway.members.access_each import access_each
from gateway.members.gen3 import match_back
from gateway.members.http import error_for, quote_id
from gateway.members.protocols import CohortSearch, MemberAdapter, StudyDiscovery
from gateway.members.remote import RemoteMember
from gateway.members.search import CohortQuery, MemberCounts, RowsPage, SearchUnsupported
from gateway.settings.sections import UpstreamConfig

log = logging.getLogger("gateway.members.drs")

API = "/ga4gh/drs/v1"
MAX_BULK_CHUNK = 1000
"""Never send more ids in one bulk call than this, whatever a member advertises."""
BULK_UNSUPPORTED = frozenset({404, 405, 413, 501})
"""Answers to a bulk call that mean "ask one by one instead"."""


def bulk_length(info: dict[str, Any] | None) -> int:
    """The bulk request length a service-info advertises (``drs.maxBulkRequestLength`` first); 0: no bulk."""
    if not isinstance(info, dict):
        return 0
    drs = info.get("drs")
    for value in ((drs or {}).get("maxBulkRequestLength") if isinstance(drs, dict) else None,
                  info.get("maxBulkRequestLength")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return min(value, MAX_BULK_CHUNK)
    return 0


class DrsAdapter(RemoteMember, MemberAdapter, CohortSearch, StudyDiscovery):
    """A member speaking GA4GH DRS 1.x (no authz lookups: nothing is readable there for a search caller)."""

    def __init__(self, member: Member, config: UpstreamConfig, egress: EgressPolicy) -> None:
        super().__init__(member, config, egress)
        self.api = (self.endpoints.drs or member.base_url) + API
        """The member's DRS API root (its ``drs`` endpoint + ``/ga4gh/drs/v1``)."""
        self.service_info: dict[str, Any] | None = None
        """The member's service-info, once fetched (``None`` before, or when it has none)."""
        self._bulk: int | None = None
        """Advertised bulk length once known (0: no bulk)."""
        self._info_lock = asyncio.Lock()

    def _require(self, capability: str) -> None:
        if not self.member.offers(capability):
            raise MemberMisconfigured(self.member_id, f"member {self.member_id} is misconfigured: "
                                                      f"{self.member.why_not(capability)}")

    async def get_record(self, object_id: str, deadline: Deadline) -> MemberRecord | None:
        self._require("records")
        path_id = quote_id(object_id, keep_slash=False)
        if path_id is None:
            return None
        doc = await self.http.get_object(f"{self.api}/objects/{path_id}", deadline, "DRS object")
        return None if doc is None else self._record(doc)

    async def get_records(self, object_ids: Sequence[str], deadline: Deadline) -> dict[str, MemberRecord]:
        self._require("records")
        asked = list(dict.fromkeys(object_ids))
        if not asked:
            return {}
        limit = await self.bulk_limit(deadline)
        if limit <= 0:
            return await self._each(asked, deadline)
        return await gather_chunked(
            asked, limit, partial(self._bulk_chunk, deadline=deadline), self.config.bulk_concurrency
        )

    async def bulk_limit(self, deadline: Deadline) -> int:
        """The member's bulk length (0: none), from its service-info, fetched once. A failed fetch is not
        remembered: this call goes one by one and a later one asks again."""
        if self._bulk is None:
            async with self._info_lock:
                if self._bulk is None:
                    try:
                        response = await self.http.request("GET", f"{self.api}/service-info", deadline, idempotent=True)
                    except UpstreamError:
                        return 0
                    if response.status == 200:
                        try:
                            self._remember(response.json_object("DRS service-info"))
                        except UpstreamError:
                            self._remember(None)
                    elif response.status in (404, 405, 501):
                        self._remember(None)
                    else:
                        return 0
        return self._bulk or 0

    def _remember(self, info: dict[str, Any] | None) -> None:
        self.service_info, self._bulk = info, bulk_length(info)

    async def _each(self, object_ids: Sequence[str], deadline: Deadline) -> dict[str, MemberRecord]:
        records = await gather_bounded([partial(self.get_record, i, deadline) for i in object_ids],
                                       self.config.bulk_concurrency)
        return {i: r for i, r in zip(object_ids, records) if r is not None}

    async def _bulk_chunk(self, asked: list[str], deadline: Deadline) -> dict[str, MemberRecord]:
        response = await self.http.request(
            "POST", f"{self.api}/objects", deadline, idempotent=True, json={"bulk_object_ids": asked},
            max_body=self.http.bulk_cap(len(asked)),
        )
        if response.status in BULK_UNSUPPORTED:
            return await self._each(asked, deadline)
        if response.status != 200:
            raise error_for(response, "DRS bulk objects")
        doc = response.json_object("DRS bulk objects")
        objects = doc.get("resolved_drs_object", doc.get("resolved_drs_objects")) or []
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise response.malformed("DRS bulk objects", "resolved_drs_object is not a list of objects")
        found = match_back(asked, [self._record(o) for o in objects], _aliases)
        missing = _unresolved_404(doc.get("unresolved_drs_objects"))
        rest = [i for i in asked if i not in found and i not in missing]
        if rest:
            found.update(await self._each(rest, deadline))
        return found

    async def access_url(
        self, object_id: str, access_id: str, deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> AccessURL:
        """``expires_in`` is not sent: DRS has no way to ask for a lifetime. With ``passports``: a ``POST``
        with them in the body and no other credential."""
        if not self.member.offers("signed_urls"):
            raise ServiceNotOffered(self.member_id, f"member {self.member_id} offers no signed URLs "
                                                    f"({self.member.why_not('signed_urls')})")
        path_id, path_access = quote_id(object_id, keep_slash=False), quote_id(access_id, keep_slash=False)
        if path_id is None or path_access is None:
            raise NotFoundUpstream(self.member_id, f"no access method {access_id!r} for {object_id!r}",
                                   upstream_status=404)
        if passports is not None:
            response = await self.http.request(
                "POST", f"{self.api}/objects/{path_id}/access/{path_access}", deadline, idempotent=True,
                json={"passports": list(passports)},
            )
            if response.status == 200:
                return _access_url(self.member_id, response.json_object("DRS access URL"))
            raise error_for(response, "DRS access URL (passports)")
        own = authorization is None
        auth = authorization if not own else await self.credentials.authorization(deadline)
        response = await self.http.request(
            "GET", f"{self.api}/objects/{path_id}/access/{path_access}", deadline, idempotent=True,
            headers={"Authorization": auth} if auth else None,
        )
        if response.status == 200:
            return _access_url(self.member_id, response.json_object("DRS access URL"))
        if own and response.status == 401:
            self.credentials.invalidate()
        raise error_for(response, "DRS access URL")

    async def access_urls(
        self, pairs: Sequence[tuple[str, str]], deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> dict[tuple[str, str], AccessURL | UpstreamError]:
        """Bulk ``POST /objects/access`` in chunks of the advertised length when the member has bulk;
        pairs a bulk answer leaves out (or a member without bulk) are asked one by one. ``passports`` go in
        the bulk body (DRS 1.5) instead of any credential."""
        asked = list(dict.fromkeys(pairs))
        limit = await self.bulk_limit(deadline) if asked else 0
        if limit <= 0:
            return await access_each(self.access_url, asked, self.config.bulk_concurrency, deadline,
                                     authorization=authorization, passports=passports)
        if passports is not None:
            auth = None
        else:
            auth = authorization if authorization is not None else await self.credentials.authorization(deadline)
        chunks = [asked[i:i + limit] for i in range(0, len(asked), limit)]
        parts = await gather_bounded(
            [partial(self._bulk_access, chunk, deadline, auth, passports) for chunk in chunks],
            self.config.bulk_concurrency,
        )
        out = {pair: answer for part in parts for pair, answer in part.items()}
        rest = [pair for pair in asked if pair not in out]
        if rest:
            out.update(await access_each(self.access_url, rest, self.config.bulk_concurrency, deadline,
                                         authorization=authorization, passports=passports))
        return out

    async def _bulk_access(
        self, pairs: list[tuple[str, str]], deadline: Deadline, auth: str | None, passports: Sequence[str] | None
    ) -> dict[tuple[str, str], AccessURL | UpstreamError]:
        by_object: dict[str, list[str]] = {}
        for object_id, access_id in pairs:
            by_object.setdefault(object_id, []).append(access_id)
        body: dict[str, Any] = {
            "bulk_object_access_ids": [{"bulk_object_id": o, "bulk_access_ids": a} for o, a in by_object.items()]
        }
        if passports is not None:
            body["passports"] = list(passports)
        response = await self.http.request(
            "POST", f"{self.api}/objects/access", deadline, idempotent=True, json=body,
            headers={"Authorization": auth} if auth else None, max_body=self.http.bulk_cap(len(pairs)),
        )
        if response.status in BULK_UNSUPPORTED:
            return {}
        if response.status != 200:
            raise error_for(response, "DRS bulk access")
        doc = response.json_object("DRS bulk access")
        out: dict[tuple[str, str], AccessURL | UpstreamError] = {}
        wanted = set(pairs)
        for item in doc.get("resolved_drs_object_access_urls") or []:
            if isinstance(item, dict) and (item.get("drs_object_id"), item.get("drs_access_id")) in wanted:
                pair = (item["drs_object_id"], item["drs_access_id"])
                try:
                    out[pair] = _access_url(self.member_id, item)
                except UpstreamError as exc:
                    out[pair] = exc
        for group in doc.get("unresolved_drs_objects") or []:
            if not isinstance(group, dict) or not isinstance(group.get("object_ids"), list):
                continue
            given = group.get("error_code")
            code = given if isinstance(given, int) else 502
            for object_id in group["object_ids"]:
                for access_id in by_object.get(object_id, []) if isinstance(object_id, str) else []:
                    out.setdefault((object_id, access_id), _pair_error(self.member_id, code, object_id))
        return out

    async def probe(self, timeout: float) -> Probe:
        start = time.perf_counter()
        try:  # one attempt: a probe measures the member as it is
            response = await self.http.request("GET", f"{self.api}/service-info", Deadline.after(timeout),
                                               idempotent=False)
            if response.status != 200:
                return Probe(False, _ms(start), f"service-info: {answered(response.status)}", response.status)
            info = response.json_object("DRS service-info")
        except UpstreamError as exc:
            return Probe(False, _ms(start), exc.message, exc.upstream_status)
        except Exception:
            log.warning("probe failed", extra={"member": self.member_id}, exc_info=True)
            return Probe(False, _ms(start), "probe failed")
        self._remember(info)
        return Probe(True, _ms(start), str(info.get("name") or "ok"), 200, info)

    async def cohort_counts(self, query: CohortQuery, deadline: Deadline, *,
                            authorization: str | None = None) -> MemberCounts:
        raise SearchUnsupported(self.member_id, "a DRS server offers no cohort search")

    async def cohort_rows(self, query: CohortQuery, fields: Sequence[str], offset: int, limit: int,
                          deadline: Deadline, *, authorization: str | None = None) -> RowsPage:
        raise SearchUnsupported(self.member_id, "a DRS server offers no cohort search")

    async def discovery_records(self, deadline: Deadline) -> list[tuple[str, dict[str, Any]]]:
        raise SearchUnsupported(self.member_id, "a DRS server offers no discovery metadata")

    def _record(self, doc: dict[str, Any]) -> MemberRecord:
        object_id = doc.get("id")
        if not isinstance(object_id, str) or not object_id:
            raise MemberUnavailable(self.member_id, "DRS object without an id")
        return MemberRecord(member_id=self.member_id, id=object_id, format="drs", document=doc)


def _access_url(member_id: str, doc: dict[str, Any]) -> AccessURL:
    url, headers = doc.get("url"), doc.get("headers") or []
    if not isinstance(url, str) or not url or not isinstance(headers, list):
        raise MemberUnavailable(member_id, "DRS access URL: no url (or malformed headers) in the answer")
    return AccessURL(url=url, headers=tuple(h for h in headers if isinstance(h, str)))


def _pair_error(member_id: str, code: int, object_id: str) -> UpstreamError:
    """What a bulk answer's ``unresolved_drs_objects`` group means for one object."""
    message, detail = f"DRS bulk access: {answered(code)}", f"DRS bulk access: error_code {code} for {object_id}"
    if code in (401, 403):
        return AccessDenied(member_id, message, upstream_status=code, detail=detail)
    if code == 404:
        return NotFoundUpstream(member_id, message, upstream_status=404, detail=detail)
    return MemberUnavailable(member_id, message, upstream_status=code, detail=detail)


def _aliases(record: MemberRecord) -> list[str]:
    aliases = record.document.get("aliases")
    return [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []


def _unresolved_404(groups: Any) -> set[str]:
    """Ids a bulk answer says are not there (``error_code`` 404)."""
    out: set[str] = set()
    for group in groups if isinstance(groups, list) else []:
        if isinstance(group, dict) and group.get("error_code") == 404 and isinstance(group.get("object_ids"), list):
            out.update(i for i in group["object_ids"] if isinstance(i, str))
    return out


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
