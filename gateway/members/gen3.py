"""A Gen3 data commons as a member: indexd for records, fence for signed URLs.

Every call goes to the endpoint of its service (``member.endpoints``: by default Gen3's reverse-proxy layout under
``base_url``, ``<base>/index``, ``<base>/user``…; a bare indexd at its root, services on other hosts and absent
services (``None``) are declared by the member: docs/members.md). Below, ``<indexd>`` etc. name those endpoints.
A call for a capability the member does not offer (:meth:`Member.offers`, found at the join and by the prober) is not
sent: records → :class:`MemberMisconfigured` (502, never "not found"), signed URLs → :class:`ServiceNotOffered`
(501), search and discovery → :class:`SearchUnsupported`, bulk → one ``GET`` per id, authz → nothing, the dictionary →
``None``.

* ``get_record``: ``GET <indexd>/index/{id}`` (raw ``/`` in the id) → an indexd record; 404 → ``None``.
* ``get_records``: ``POST <indexd>/bulk/documents`` with a JSON list of ids, :data:`BULK_CHUNK` at a time
  (a read: retried like a GET), answers mapped back to the ids as asked.
* ``access_url``: ``GET <fence>/data/download/{id}?protocol={access_id}`` → ``{"url"}``, with the caller's
  ``Authorization`` or else the gateway's own credentials for the member (:class:`MemberCredentials`).
* ``probe``: ``GET <indexd>/_status``.
* index listing (:class:`~gateway.members.protocols.IndexListing`): ``list_records``, ``index_stats``,
  ``index_version`` over ``<indexd>/index``, ``<indexd>/_stats``, ``<indexd>/_version``
  (:mod:`gateway.members.indexd_reads`).
* search (:class:`~gateway.members.protocols.CohortSearch`): ``cohort_counts`` and ``cohort_rows`` ``POST
  /guppy/graphql`` (:mod:`gateway.members.guppy_wire`) with the *caller's* ``Authorization`` only (anonymous without
  one: counts are the caller's, never the gateway's); discovery (:class:`~gateway.members.protocols.StudyDiscovery`):
  ``discovery_records`` pages ``GET <mds>/metadata?data=true&_guid_type=discovery_metadata`` until a short page. A
  404 (or 405/501) on either route is :class:`SearchUnsupported`.
* authz (:class:`~gateway.members.protocols.Authz`): ``user_authz``, the caller's authz map from ``GET <fence>/user``
  (what the search's readable resources come from); ``anonymous_authz``, what anyone may do there, Arborist's
  ``GET <authz>/mapping`` asked with no ``Authorization`` (the commons' open resources).
* ``data_dictionary``: the commons' whole data dictionary, sheepdog's
  ``GET <dictionary>/v0/submission/_dictionary/_all`` asked with no ``Authorization`` (sheepdog serves it to
  anyone); 404 (or 405/501): ``None``, it has none.

Gen3 accepts ``dg.XXXX/uuid`` or a bare uuid but not the compact ``dg.XXXX:uuid`` (drs-resolver.md §2.7.8),
so compact ids are translated before any call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from gateway.core.concurrency import gather_bounded, gather_chunked
from gateway.core.deadline import Deadline
from gateway.core.errors import (
    MemberMisconfigured,
    MemberUnavailable,
    NotFoundUpstream,
    ServiceNotOffered,
    UpstreamError,
    answered,
    asked,
)
from gateway.core.records import AccessURL, MemberRecord, Probe
from gateway.members import guppy_wire, indexd_reads
from gateway.members.access_each import access_each
from gateway.members.http import UpstreamResponse, error_for, logged, quote_id
from gateway.members.protocols import Authz, CohortSearch, IndexListing, MemberAdapter, StudyDiscovery
from gateway.members.remote import RemoteMember
from gateway.members.search import CohortQuery, MemberCounts, RowsPage, SearchUnsupported
from gateway.wire.indexd_list import ListFilters

log = logging.getLogger("gateway.members.gen3")

BULK_CHUNK = 100
"""Most ids per ``<indexd>/bulk/documents`` call (indexd's advertised limit)."""
GRAPHQL = "/graphql"
"""Under the ``guppy`` endpoint; the ones below likewise under ``mds``, ``fence``, ``authz``, ``dictionary``."""
METADATA = "/metadata"
USER_INFO = "/user"
MAPPING = "/mapping"
DICTIONARY_ALL = "/v0/submission/_dictionary/_all"
GUPPY, MDS, USER, AUTHZ_MAPPING, DICTIONARY = (
    f"/guppy{GRAPHQL}", f"/mds{METADATA}", f"/user{USER_INFO}", f"/authz{MAPPING}", f"/api{DICTIONARY_ALL}")
"""The same under one host in Gen3's reverse-proxy layout (the default endpoints)."""
DISCOVERY_PAGE = 500
"""Records per MDS page asked for (MDS allows up to 2000)."""
DISCOVERY_MAX_PAGES = 200
"""Most MDS pages read for one ``discovery_records`` (more: :class:`MemberUnavailable`, never a silent cut)."""
NO_SEARCH = frozenset({404, 405, 501})
"""Answers on a search route that mean the member has no such service."""


def gen3_id(object_id: str) -> str:
    """Compact ``dg.XXXX:acc`` → ``dg.XXXX/acc``; anything else unchanged."""
    head, sep, tail = object_id.partition(":")
    if sep and head and tail and "/" not in head:
        return f"{head}/{tail}"
    return object_id


def _no_aliases(record: MemberRecord) -> Iterable[str]:
    return ()


def match_back(
    asked: Sequence[str], records: list[MemberRecord], aliases: Callable[[MemberRecord], Iterable[str]] = _no_aliases
) -> dict[str, MemberRecord]:
    """``records`` keyed by the ids as ``asked``, compared case-insensitively: an id matches its record's id
    or one of its ``aliases``, a compact ``prefix:acc`` matches ``prefix/acc``, and a bare id also matches
    the part after the prefix (a bare uuid may come back as ``dg.XXXX/uuid``)."""
    by_id: dict[str, MemberRecord] = {}
    by_tail: dict[str, MemberRecord] = {}
    for record in records:
        own = record.id.lower()
        by_id.setdefault(own, record)
        for key in aliases(record):
            by_id.setdefault(key.lower(), record)
        by_tail.setdefault(own.partition("/")[2] or own, record)
    out: dict[str, MemberRecord] = {}
    for original in asked:
        hit = by_id.get(original.lower())  # the usual answer: the id as asked (gen3_id changes only a compact one)
        if hit is None:
            key = gen3_id(original).lower()
            hit = by_id.get(key) or (by_tail.get(key) if "/" not in key else None)
        if hit is not None:
            out[original] = hit
    return out


class Gen3Adapter(RemoteMember, MemberAdapter, CohortSearch, StudyDiscovery, Authz, IndexListing):
    """A member speaking Gen3's indexd and fence APIs at its endpoints: every capability it offers."""

    # --- where each call goes, and what the member offers --------------------------------------------

    def at(self, service: str, path: str) -> str:
        """The absolute URL of ``path`` under the member's ``service`` endpoint (callers check it has one)."""
        root: str | None = getattr(self.endpoints, service)
        assert root is not None, f"{self.member_id} has no {service} endpoint"
        return root + path

    def _require(self, capability: str) -> None:
        """:class:`MemberMisconfigured` when the member's records path was found not to answer like indexd."""
        if not self.member.offers(capability):
            raise MemberMisconfigured(self.member_id, f"member {self.member_id} is misconfigured: "
                                                      f"{self.member.why_not(capability)}")

    def _unsupported(self, capability: str, what: str) -> SearchUnsupported | None:
        if self.member.offers(capability):
            return None
        return SearchUnsupported(self.member_id, f"{what}: not offered ({self.member.why_not(capability)})")

    # --- records -----------------------------------------------------------------------------------

    async def get_record(self, object_id: str, deadline: Deadline) -> MemberRecord | None:
        self._require("records")
        path_id = quote_id(gen3_id(object_id), keep_slash=True)
        if path_id is None:
            return None
        doc = await self.http.get_object(self.at("indexd", f"/index/{path_id}"), deadline, "indexd record")
        return None if doc is None else self._record(doc)

    async def get_records(self, object_ids: Sequence[str], deadline: Deadline) -> dict[str, MemberRecord]:
        self._require("records")
        asked = list(dict.fromkeys(object_ids))
        if not asked:
            return {}
        if not self.member.offers("bulk"):  # one GET per id, a few at a time
            found = await gather_bounded([partial(self.get_record, i, deadline) for i in asked],
                                         self.config.bulk_concurrency)
            return {i: r for i, r in zip(asked, found) if r is not None}
        return await gather_chunked(
            asked, BULK_CHUNK, partial(self._bulk, deadline=deadline), self.config.bulk_concurrency
        )

    async def _bulk(self, asked: list[str], deadline: Deadline) -> dict[str, MemberRecord]:
        wire = [gen3_id(i) for i in asked]
        response = await self.http.request("POST", self.at("indexd", "/bulk/documents"), deadline, idempotent=True,
                                           json=wire,
                                           max_body=self.http.bulk_cap(len(wire)))
        if response.status != 200:
            raise error_for(response, "indexd bulk lookup")
        docs = response.json()
        if not isinstance(docs, list) or not all(isinstance(d, dict) and isinstance(d.get("did"), str) for d in docs):
            raise response.malformed("indexd bulk lookup", "expected a JSON list of records")
        return match_back(asked, [self._record(doc) for doc in docs])

    async def access_url(
        self, object_id: str, access_id: str, deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> AccessURL:
        if not self.member.offers("signed_urls"):
            raise ServiceNotOffered(self.member_id, f"member {self.member_id} offers no signed URLs "
                                                    f"({self.member.why_not('signed_urls')})")
        path_id = quote_id(gen3_id(object_id), keep_slash=True)
        if path_id is None:
            raise NotFoundUpstream(self.member_id, f"no object {object_id!r}", upstream_status=404)
        if passports is not None:
            return await self._passport_access(path_id, access_id, deadline, passports, expires_in)
        own = authorization is None
        auth = authorization if not own else await self.credentials.authorization(deadline)
        params = {"protocol": access_id}
        if expires_in is not None:
            params["expires_in"] = str(expires_in)
        response = await self.http.request(
            "GET", self.at("fence", f"/data/download/{path_id}"), deadline, idempotent=True,
            params=params, headers={"Authorization": auth} if auth else None,
        )
        if response.status == 200:
            url = response.json_object("signed URL").get("url")
            if not isinstance(url, str) or not url:
                raise response.malformed("signed URL", "no url in the answer")
            return AccessURL(url=url)
        if own and response.status == 401:
            self.credentials.invalidate()
        if response.status == 400:  # fence: the protocol is not one of the object's; DRS calls that a 404
            raise logged(NotFoundUpstream(
                self.member_id, "signed URL: unknown access method", upstream_status=400,
                detail=f"signed URL from {response.url}: HTTP 400: {response.message() or response.snippet()!r}"))
        raise error_for(response, "signed URL")

    async def _passport_access(
        self, path_id: str, access_id: str, deadline: Deadline, passports: Sequence[str], expires_in: int | None
    ) -> AccessURL:
        """fence's DRS access route with the Passports in the body (no other credential: rule 2)."""
        path_access = quote_id(access_id, keep_slash=False)
        if path_access is None:
            raise NotFoundUpstream(self.member_id, f"no access method {access_id!r}", upstream_status=404)
        if self.endpoints.drs is None:
            raise ServiceNotOffered(self.member_id, f"member {self.member_id} has no DRS service to present "
                                                    "Passports to")
        response = await self.http.request(
            "POST", self.at("drs", f"/ga4gh/drs/v1/objects/{path_id}/access/{path_access}"), deadline,
            idempotent=True,
            params={"expires_in": str(expires_in)} if expires_in is not None else None,
            json={"passports": list(passports)},
        )
        if response.status == 200:
            url = response.json_object("DRS access URL").get("url")
            if not isinstance(url, str) or not url:
                raise response.malformed("DRS access URL", "no url in the answer")
            return AccessURL(url=url)
        raise error_for(response, "DRS access URL (passports)")

    async def access_urls(
        self, pairs: Sequence[tuple[str, str]], deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> dict[tuple[str, str], AccessURL | UpstreamError]:
        """fence signs one URL per call: the pairs go out :attr:`UpstreamConfig.bulk_concurrency` at a time."""
        return await access_each(self.access_url, pairs, self.config.bulk_concurrency, deadline,
                                 authorization=authorization, expires_in=expires_in, passports=passports)

    async def probe(self, timeout: float) -> Probe:
        start = time.perf_counter()
        try:  # one attempt: a probe measures the member as it is
            response = await self.http.request("GET", self.at("indexd", "/_status"), Deadline.after(timeout),
                                               idempotent=False)
        except UpstreamError as exc:
            return Probe(False, _ms(start), exc.message, exc.upstream_status)
        except Exception:
            log.warning("probe failed", extra={"member": self.member_id}, exc_info=True)
            return Probe(False, _ms(start), "probe failed", None)
        body = response.text.strip()[:200]
        info: dict[str, Any] = {"status": body}
        if response.status != 200:  # the detail is public (the health route): the member's words are not
            return Probe(False, _ms(start), asked("indexd status", answered(response.status)), response.status, info)
        return Probe(True, _ms(start), body or "answered", response.status, info)

    # --- index listing ---------------------------------------------------------------------------------

    async def list_records(
        self, filters: ListFilters, start: str | None, limit: int, deadline: Deadline
    ) -> list[MemberRecord]:
        self._require("records")
        docs = await indexd_reads.list_page(self.http, self.at("indexd", ""), filters, start, limit, deadline)
        return [self._record(doc) for doc in docs]

    async def index_stats(self, deadline: Deadline) -> tuple[int, int]:
        self._require("records")
        return await indexd_reads.stats(self.http, self.at("indexd", ""), deadline)

    async def index_version(self, deadline: Deadline) -> dict[str, str]:
        self._require("records")
        return await indexd_reads.version(self.http, self.at("indexd", ""), deadline)

    # --- search ---------------------------------------------------------------------------------------

    discovery_page = DISCOVERY_PAGE
    discovery_max_pages = DISCOVERY_MAX_PAGES

    async def cohort_counts(self, query: CohortQuery, deadline: Deadline, *,
                            authorization: str | None = None) -> MemberCounts:
        if (unsupported := self._unsupported("cohort_search", "Guppy GraphQL")) is not None:
            raise unsupported
        return await guppy_wire.cohort_counts(
            self.member_id, query, partial(self._graphql, deadline=deadline, authorization=authorization))

    async def cohort_rows(self, query: CohortQuery, fields: Sequence[str], offset: int, limit: int,
                          deadline: Deadline, *, authorization: str | None = None) -> RowsPage:
        text, variables = guppy_wire.rows_request(query, fields, offset, limit)
        answer = await self._graphql(text, variables, deadline=deadline, authorization=authorization)
        return guppy_wire.parse_rows(self.member_id, query, offset, limit, answer)

    async def _graphql(self, text: str, variables: dict[str, Any], *, deadline: Deadline,
                       authorization: str | None) -> Any:
        """One Guppy GraphQL call as the caller (anonymous without ``authorization``); the decoded answer.
        A 400 carrying GraphQL ``errors`` (Apollo's validation answer) is returned for the parser to report."""
        response = await self.http.request(
            "POST", self.at("guppy", GRAPHQL), deadline, idempotent=True, json={"query": text, "variables": variables},
            headers={"Authorization": authorization} if authorization else None, max_body=self.config.max_body_bytes,
        )
        if response.status == 200:
            return response.json("Guppy GraphQL")
        if response.status == 400:
            doc = _json_or_none(response)
            if isinstance(doc, dict) and doc.get("errors"):
                raise logged(guppy_wire.GuppyQueryError(self.member_id, doc["errors"], upstream_status=400))
        raise self._search_error(response, "Guppy GraphQL")

    async def user_authz(self, authorization: str, deadline: Deadline) -> dict[str, Any]:
        """The caller's Arborist authz map, ``{resource_path: [{"method", "service"}, ...]}``, from fence's
        ``GET <fence>/user`` with the caller's ``Authorization`` (its 401/403 as :func:`error_for` raises them); no
        fence: ``{}`` (nothing is readable there on a token's strength)."""
        if self.endpoints.fence is None:
            return {}
        response = await self.http.request("GET", self.at("fence", USER_INFO), deadline, idempotent=True,
                                           headers={"Authorization": authorization})
        if response.status != 200:
            raise error_for(response, "fence user info")
        authz = response.json_object("fence user info").get("authz")
        if not isinstance(authz, dict):
            raise response.malformed("fence user info", "no authz map")
        return authz

    async def anonymous_authz(self, deadline: Deadline) -> dict[str, Any]:
        """Arborist's mapping for the anonymous user, ``{resource_path: [{"service", "method"}, ...]}``, from
        ``GET <authz>/mapping`` sent without any ``Authorization``; ``{}`` (nothing known open) when the member offers
        no such mapping."""
        if not self.member.offers("authz_mapping"):
            return {}
        response = await self.http.request("GET", self.at("authz", MAPPING), deadline, idempotent=True)
        if response.status != 200:
            raise error_for(response, "arborist auth mapping")
        return response.json_object("arborist auth mapping")

    async def data_dictionary(self, deadline: Deadline) -> dict[str, Any] | None:
        """The commons' data dictionary as sheepdog serves it whole (node schemas keyed by node id, ``$ref`` s
        resolved, beside ``_definitions``, ``_terms``, ``_settings``), asked anonymously; ``None`` when the commons
        has no submission service (404, 405, 501, or none offered). Not read here: the export vets it."""
        if not self.member.offers("dictionary"):
            return None
        response = await self.http.request("GET", self.at("dictionary", DICTIONARY_ALL), deadline, idempotent=True,
                                           max_body=self.config.max_body_bytes)
        if response.status in NO_SEARCH:
            return None
        if response.status != 200:
            raise error_for(response, "data dictionary")
        return response.json_object("data dictionary")

    async def discovery_records(self, deadline: Deadline) -> list[tuple[str, dict[str, Any]]]:
        """Every ``discovery_metadata`` record, :attr:`discovery_page` at a time until a short page."""
        if (unsupported := self._unsupported("study_discovery", "MDS discovery metadata")) is not None:
            raise unsupported
        size = self.discovery_page
        out: dict[str, dict[str, Any]] = {}
        for number in range(self.discovery_max_pages):
            params = {"data": "true", "_guid_type": "discovery_metadata", "limit": str(size),
                      "offset": str(number * size)}
            response = await self.http.request("GET", self.at("mds", METADATA), deadline, idempotent=True,
                                               params=params, max_body=self.config.max_body_bytes)
            if response.status != 200:
                raise self._search_error(response, "MDS discovery metadata")
            page = response.json("MDS discovery metadata")
            if not isinstance(page, dict) or not all(isinstance(v, dict) for v in page.values()):
                raise response.malformed("MDS discovery metadata", "expected a JSON object of {guid: record}")
            for guid, record in page.items():
                out.setdefault(guid, record)
            if len(page) < size:
                return list(out.items())
        raise MemberUnavailable(self.member_id, f"MDS discovery metadata: more than {self.discovery_max_pages} "
                                                f"pages of {size} records; not read")

    def _search_error(self, response: UpstreamResponse, what: str) -> UpstreamError:
        if response.status in NO_SEARCH:
            return SearchUnsupported(self.member_id, f"{what}: HTTP {response.status} (no such service)",
                                     upstream_status=response.status)
        return error_for(response, what)

    def _record(self, doc: dict[str, Any]) -> MemberRecord:
        did = doc.get("did")
        if not isinstance(did, str) or not did:
            raise MemberUnavailable(self.member_id, "indexd record without a did")
        return MemberRecord(self.member_id, did, "indexd", doc)  # positional: one per record of a bulk


def _json_or_none(response: UpstreamResponse) -> Any:
    try:
        return response.json()
    except MemberUnavailable:
        return None


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
