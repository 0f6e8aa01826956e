"""GA4GH DRS 1.5 under ``/ga4gh/drs/v1``: service-info, objects (single and bulk), OPTIONS
authorizations, signed access URLs (single and bulk), and indexd's non-GA4GH object listing.

Object ids may arrive with a raw ``/``, as ``%2F``, as a bare uuid or in Gen3's compact
``dg.XXXX:uuid`` form; all resolve. ``expand`` is read case-insensitively; a JSON body on a GET is
ignored. Every document goes through the commons' DRS profile (``settings.drs_profile``). Object
metadata is public (as in Gen3); access URLs need ``read-storage`` on the record's authz, proved by
the ``Authorization`` header (a fence access token, or a trusted gateway's token) or, when the commons
has a ``passports`` configuration, by GA4GH Passports in the POST body (``{"passports": [...]}``; for
bulk access at the top level or per item). Every access decision is :meth:`Fence.authorize_download`,
and no URL outlives it. Passports and an ``Authorization`` header together are a 400 (rule 2).

As in Gen3, indexd serves the object routes (:data:`routes`) and fence the access routes (:data:`access_routes`);
the POST of one object with Passports (:data:`passport_routes`) is this commons' own, served in Gen3's layout
only (uc-cdis/indexd answers it 405). Where no fence serves them (indexd alone, :mod:`refcommons.layout`),
:data:`no_access_routes` answer what uc-cdis/indexd answers: it has no access route, so its object route takes
``<id>/access/<access_id>`` as an id (a GET is ``404 {"msg": "no record found", "status_code": 404}``) and any POST
on an object path is its ``405 {"msg": "Passport-authenticated DRS object retrieval is not yet supported."}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import Field

from gateway.core.errors import ApiError, bad_request, not_found
from gateway.web.body import parse_as, read_json
from gateway.web.openapi import Query, operation
from gateway.web.query import query_bool, query_int
from gateway.web.render import json_response
from gateway.wire.drs import (
    AccessRequest,
    AccessURL,
    Authorizations,
    AuthorizationType,
    BulkAccessIds,
    BulkAccessRequest,
    BulkAccessResponse,
    BulkAccessURL,
    BulkAuthorizationsResponse,
    BulkObjectsRequest,
    BulkObjectsResponse,
    DrsObject,
    DrsObjectList,
    ObjectRequest,
    ServiceInfo,
    Summary,
    dump,
    group_unresolved,
)
from gateway.wire.drs_profile import service_info_profile, to_profile
from refcommons.commons import ReferenceCommons
from refcommons.drs.render import access_ids, drs_object, service_info
from refcommons.fence.passports import PassportCheck
from refcommons.fence.service import DownloadGrant
from refcommons.indexd.records import IndexRecord
from refcommons.indexd.store import DEFAULT_LIMIT, ListQuery
from refcommons.routes.keys import COMMONS

OPERATION_ID_PREFIX = "refcommons.drs_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
access_routes = web.RouteTableDef()
passport_routes = web.RouteTableDef()
no_access_routes = web.RouteTableDef()

INDEXD_NO_RECORD = "no record found"
"""indexd's message for an id it does not hold (a path ``<id>/access/<access_id>`` is one)."""
INDEXD_NO_POST = "Passport-authenticated DRS object retrieval is not yet supported."
"""indexd's answer (405, no ``status_code``) to a POST on ``/ga4gh/drs/v1/objects/<path>``."""


class BulkAccessItem(BulkAccessIds):
    """One item of a bulk access request; it may carry its own ``passports`` (else the top-level ones apply)."""

    passports: list[str] | None = None


class BulkAccessBody(BulkAccessRequest):
    bulk_object_access_ids: list[BulkAccessItem] = Field(min_length=1)  # type: ignore[assignment]


BASE = "/ga4gh/drs/v1"
TAGS = ("drs",)


def _commons(request: web.Request) -> ReferenceCommons:
    return request.config_dict[COMMONS]


def _auth(request: web.Request) -> str | None:
    return request.headers.get("Authorization")


def normalize_id(object_id: str) -> str:
    """Gen3's compact ``dg.XXXX:uuid`` → ``dg.XXXX/uuid``; anything else unchanged."""
    head, sep, tail = object_id.partition(":")
    if sep and "/" not in object_id and head and tail:
        return f"{head}/{tail}"
    return object_id


async def _find(commons: ReferenceCommons, object_id: str) -> IndexRecord | None:
    return await commons.index.get(normalize_id(object_id))


async def _find_each(
    commons: ReferenceCommons, object_ids: list[str]
) -> tuple[list[IndexRecord], list[tuple[int, str]]]:
    """The records found among ``object_ids`` (in order) and ``(404, id)`` for each one missing."""
    found: list[IndexRecord] = []
    missing: list[tuple[int, str]] = []
    for object_id in object_ids:
        record = await _find(commons, object_id)
        if record is None:
            missing.append((404, object_id))
        else:
            found.append(record)
    return found, missing


async def _record(commons: ReferenceCommons, object_id: str) -> IndexRecord:
    record = await _find(commons, object_id)
    if record is None:
        raise not_found(f"no DRS object with id {object_id}")
    return record


def _render(commons: ReferenceCommons, record: IndexRecord) -> dict[str, Any]:
    return to_profile(dump(drs_object(record, commons.settings)), commons.settings.drs_profile)


async def _render_bytes(commons: ReferenceCommons, record: IndexRecord) -> bytes:
    """The object's JSON bytes, memoised per (did, rev): a write changes ``rev``, so no stale entry is served."""
    key = f"{record.did}\x00{record.rev}"
    body = await commons.rendered.get(key)
    if body is None:
        body = orjson.dumps(_render(commons, record))
        await commons.rendered.set(key, body)
    return body


def _check_bulk(commons: ReferenceCommons, count: int) -> None:
    limit = commons.settings.max_bulk_request_length
    if count > limit:
        raise ApiError(413, f"at most {limit} ids per bulk request (maxBulkRequestLength), got {count}")


async def _authorizations(commons: ReferenceCommons, record: IndexRecord) -> Authorizations:
    fence = commons.fence
    anonymous = await fence.principal(None)
    if anonymous.allows("read-storage", record.authz, "fence"):
        return Authorizations(drs_object_id=record.did, supported_types=[AuthorizationType.none])
    types = [AuthorizationType.bearer]
    fence_issuer = [commons.settings.fence_url] if commons.settings.serves_fence else []
    issuers = fence.passport_issuers(record.authz)
    if issuers:
        types.append(AuthorizationType.passport)
    return Authorizations(
        drs_object_id=record.did, supported_types=types, passport_auth_issuers=issuers or None,
        bearer_auth_issuers=[*fence_issuer, *fence.gateway_issuers] or None,
    )


@routes.get(f"{BASE}/service-info")
@operation("DRS service-info (GA4GH service-info + maxBulkRequestLength + drs stats)", tags=TAGS,
           response=ServiceInfo)
async def get_service_info(request: web.Request) -> web.Response:
    commons = _commons(request)
    info = dump(service_info(commons.settings, commons.index.stats()))
    return json_response(service_info_profile(info, commons.settings.drs_profile))


@routes.get(f"{BASE}/objects")
@operation("List DRS objects, indexd-style (drsclient get_all; not GA4GH)", tags=TAGS, response=DrsObjectList,
           query=(Query("limit", {"type": "integer", "minimum": 0, "maximum": 1024}), "start", "page",
                  Query("form", {"type": "string", "enum": ["object", "bundle", "all"]})))
async def list_objects(request: web.Request) -> web.Response:
    commons = _commons(request)
    q = request.query
    form = q.get("form") or "object"
    if form not in ("object", "bundle", "all"):
        raise bad_request(f"form must be object, bundle or all, got {form!r}")
    limit = query_int(q, "limit", DEFAULT_LIMIT)
    page = query_int(q, "page", minimum=0)  # a 64-bit integer, as the document says (a huge one was accepted)
    query = ListQuery(limit=limit, start=q.get("start") or None, page=page)
    records = [] if form == "bundle" else await commons.index.list(query)
    return json_response({"drs_objects": [_render(commons, r) for r in records]})


@routes.post(f"{BASE}/objects")
@operation("Bulk DRS objects: resolved_drs_object plus unresolved ids grouped by error", tags=TAGS,
           request=BulkObjectsRequest, response=BulkObjectsResponse, query=("expand",))
async def bulk_objects(request: web.Request) -> web.Response:
    commons = _commons(request)
    body = parse_as(BulkObjectsRequest, await read_json(request))
    _check_bulk(commons, len(body.bulk_object_ids))
    query_bool(request.query, "expand")
    records, failures = await _find_each(commons, body.bulk_object_ids)
    resolved = [drs_object(record, commons.settings) for record in records]
    out = dump(BulkObjectsResponse(
        summary=Summary(requested=len(body.bulk_object_ids), resolved=len(resolved), unresolved=len(failures)),
        unresolved_drs_objects=group_unresolved(failures), resolved_drs_object=resolved,
    ))
    out["resolved_drs_object"] = [to_profile(o, commons.settings.drs_profile) for o in out["resolved_drs_object"]]
    return json_response(out)


@routes.route("OPTIONS", f"{BASE}/objects")
@operation("Bulk authorizations: how to authorize /access for each object", tags=TAGS,
           request=BulkObjectsRequest, response=BulkAuthorizationsResponse)
async def bulk_options(request: web.Request) -> web.Response:
    commons = _commons(request)
    body = parse_as(BulkObjectsRequest, await read_json(request))
    _check_bulk(commons, len(body.bulk_object_ids))
    records, failures = await _find_each(commons, body.bulk_object_ids)
    resolved = [await _authorizations(commons, record) for record in records]
    return json_response(dump(BulkAuthorizationsResponse(
        summary=Summary(requested=len(body.bulk_object_ids), resolved=len(resolved), unresolved=len(failures)),
        unresolved_drs_objects=group_unresolved(failures), resolved_drs_object=resolved,
    )))


@access_routes.post(f"{BASE}/objects/access")
@operation("Bulk signed URLs; per-item 401/403/404 go to unresolved_drs_objects", tags=TAGS,
           request=BulkAccessBody, response=BulkAccessResponse)
async def bulk_access(request: web.Request) -> web.Response:
    """Passports (top level, or an item's own, which replace the top-level ones for that item) are checked at
    most once per request, and only if a controlled object needs them; a rejection fails the items that needed
    them. Passports together with an ``Authorization`` header are a 400 for the whole request (rule 2)."""
    commons = _commons(request)
    fence = commons.fence
    body = parse_as(BulkAccessBody, await read_json(request))
    _check_bulk(commons, len(body.bulk_object_access_ids))
    authorization = _auth(request)
    if body.passports is not None or any(i.passports is not None for i in body.bulk_object_access_ids):
        fence.refuse_passports_with(authorization)
    checks = _PassportChecks(commons, authorization)
    resolved: list[BulkAccessURL] = []
    failures: list[tuple[int, str]] = []
    requested = 0
    for item in body.bulk_object_access_ids:
        requested += len(item.bulk_access_ids)
        record = await _find(commons, item.bulk_object_id)
        if record is None:
            failures.extend((404, item.bulk_object_id) for _ in item.bulk_access_ids)
            continue
        try:
            passports = item.passports if item.passports is not None else body.passports
            if passports is None:
                grant = await fence.authorize_download(authorization, record)
            else:
                grant = await checks.grant(record, passports)
        except ApiError as exc:
            failures.extend((exc.status, item.bulk_object_id) for _ in item.bulk_access_ids)
            continue
        known = access_ids(record)
        for access_id in item.bulk_access_ids:
            if access_id not in known:
                failures.append((404, item.bulk_object_id))
                continue
            try:
                url = fence.signed_url(record.did, access_id, user=grant.user, not_after=grant.not_after)
            except ApiError as exc:
                failures.append((exc.status, item.bulk_object_id))
                continue
            resolved.append(BulkAccessURL(drs_object_id=item.bulk_object_id, drs_access_id=access_id, url=url))
    return json_response(dump(BulkAccessResponse(
        summary=Summary(requested=requested, resolved=len(resolved), unresolved=len(failures)),
        unresolved_drs_objects=group_unresolved(failures), resolved_drs_object_access_urls=resolved,
    )))


class _PassportChecks:
    """The Passport sets of one bulk request, each checked at most once (what :meth:`Fence.authorize_download`
    does for one object, with the check shared)."""

    def __init__(self, commons: ReferenceCommons, authorization: str | None) -> None:
        self.fence = commons.fence
        self.authorization = authorization
        self._done: dict[tuple[str, ...], PassportCheck | ApiError] = {}

    async def grant(self, record: IndexRecord, passports: list[str]) -> DownloadGrant:
        if self.fence.open_to_anyone(record):
            return DownloadGrant(None, None)
        key = tuple(passports)
        done = self._done.get(key)
        if done is None:
            try:
                done = await self.fence.check_passports(self.authorization, passports)
            except ApiError as exc:
                done = exc
            self._done[key] = done
        if isinstance(done, ApiError):
            raise ApiError(done.status, done.message, headers=done.headers)
        return self.fence.passport_grant(done, record)


@access_routes.get(BASE + "/objects/{object_id:.+}/access/{access_id:[^/]+}")
@access_routes.post(BASE + "/objects/{object_id:.+}/access/{access_id:[^/]+}")
@operation("A signed URL for one access method (needs read-storage on the object's authz)", tags=TAGS,
           request=AccessRequest, response=AccessURL)
async def get_access(request: web.Request) -> web.Response:
    commons = _commons(request)
    passports = None
    if request.method == "POST":
        passports = parse_as(AccessRequest, await read_json(request, allow_empty=True) or {}).passports
    record = await _record(commons, request.match_info["object_id"])
    access_id = request.match_info["access_id"]
    if access_id not in access_ids(record):
        raise not_found(f"no access method {access_id!r} for DRS object {record.did}")
    grant = await commons.fence.authorize_download(_auth(request), record, passports=passports)
    url = commons.fence.signed_url(record.did, access_id, user=grant.user, not_after=grant.not_after)
    return json_response(dump(AccessURL(url=url)))


@routes.get(BASE + "/objects/{object_id:.+}")
@passport_routes.post(BASE + "/objects/{object_id:.+}")  # DRS 1.2 Passports in the body (indexd's answer: 405)
@operation("One DRS object (public metadata)", tags=TAGS, request=ObjectRequest, response=DrsObject,
           query=("expand",))
async def get_object(request: web.Request) -> web.Response:
    commons = _commons(request)
    query_bool(request.query, "expand")
    if request.method == "POST":
        parse_as(ObjectRequest, await read_json(request, allow_empty=True) or {})
    record = await _record(commons, request.match_info["object_id"])
    return web.Response(body=await _render_bytes(commons, record), content_type="application/json")


@routes.route("OPTIONS", BASE + "/objects/{object_id:.+}")
@operation("How to authorize /access for this object (DRS 1.3 Authorizations)", tags=TAGS,
           response=Authorizations)
async def object_options(request: web.Request) -> web.Response:
    commons = _commons(request)
    record = await _record(commons, request.match_info["object_id"])
    return json_response(dump(await _authorizations(commons, record)))


@no_access_routes.get(BASE + "/objects/{object_id:.+}/access/{access_id:[^/]+}")
@operation("indexd without fence: no access route (the path is looked up as an object id)", tags=TAGS,
           responses={404: "no record found"})
async def access_unserved(request: web.Request) -> web.Response:
    raise not_found(INDEXD_NO_RECORD)


@no_access_routes.post(f"{BASE}/objects/access")
@no_access_routes.post(BASE + "/objects/{object_id:.+}")
@operation("indexd without fence: no POST on an object path (Passports, single or bulk access)", tags=TAGS,
           responses={405: "not supported"})
async def post_unserved(request: web.Request) -> web.Response:
    return json_response({"msg": INDEXD_NO_POST}, status=405)
