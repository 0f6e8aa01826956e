"""Gen3 indexd's HTTP API, relative to indexd's own root (``/_status``, ``/index/{guid}``, ``/bulk/documents``;
Gen3's proxy serves it under ``/index``, :mod:`refcommons.layout`): health, stats, list/get/bulk reads (public)
and token-guarded writes, over the commons' :class:`~refcommons.indexd.store.IndexStore`.

Record ids may carry a raw ``/`` or ``%2F`` (``{guid:.+}`` routes). ``/{guid}`` is indexd's
"global" lookup (``no_dist`` is ignored: this commons has no distributed resolvers). Routes are
registered most specific first so ``/_status`` and ``/index/…`` never reach it.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiMapping

from gateway.core.errors import ApiError, bad_request, not_found
from gateway.web.body import parse_as, read_json, read_model
from gateway.web.methods import only
from gateway.web.openapi import Query, operation
from gateway.web.query import query_int
from gateway.web.render import json_response
from gateway.wire.checksums import INDEXD_HASH_FORMATS
from refcommons.commons import ReferenceCommons
from refcommons.indexd.records import IndexCreate, IndexRecord, IndexStats, IndexUpdate, WriteResult
from refcommons.indexd.store import DEFAULT_LIMIT, ListQuery
from refcommons.routes.keys import COMMONS

OPERATION_ID_PREFIX = "refcommons.indexd_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()

INDEXD_VERSION = {"version": "2024.11-refcommons", "commit": "refcommons-synthetic"}
ADMIN_RESOURCE = "/services/indexd/admin"
"""What a write must be allowed on when the record has no ``authz`` (indexd's rule)."""
TAGS = ("indexd",)
LIST_PARAMS = (Query("limit", {"type": "integer", "minimum": 0, "maximum": 1024}), "start", "page", "ids",
               Query("hash", {"type": "string", "pattern": "^md5:[0-9a-f]{32}$"}),
               "authz", "acl", "size", "file_name", "version", "uploader", "url",
               Query("metadata", {"type": "string", "pattern": "^[A-Za-z0-9_]+:[A-Za-z0-9_]*$"}),
               Query("form", {"type": "string", "enum": ["object", "bundle", "all"]}))
REV = Query("rev", {"type": "string", "minLength": 1}, required=True, description="the record's current rev")


def _commons(request: web.Request) -> ReferenceCommons:
    return request.config_dict[COMMONS]


def _pairs(values: list[str], name: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition(":")
        if not sep:
            raise bad_request(f"{name} must look like <key>:<value>, got {value!r}")
        out[key] = rest
    return out


def _csv(query: MultiMapping[str], name: str) -> list[str] | None:
    raw = query.get(name)
    if raw is None:
        return None
    return [] if raw == "null" else raw.split(",")


def list_query(query: MultiMapping[str]) -> ListQuery:
    """indexd's list parameters, validated (400 on bad values)."""
    ids = query.get("ids")
    id_list = ids.split(",") if ids else None
    if id_list and any(query.get(k) is not None for k in ("start", "limit", "page")):
        raise bad_request("pagination is not supported when ids is provided")
    limit = query_int(query, "limit")
    size = query_int(query, "size")
    if size is not None and size < 0:
        raise bad_request("size must be >= 0")
    hashes = _pairs(query.getall("hash", []), "hash")
    if any(k not in INDEXD_HASH_FORMATS for k in hashes):
        raise bad_request("invalid hash types specified")
    if any(not INDEXD_HASH_FORMATS[k].match(v) for k, v in hashes.items()):
        raise bad_request("invalid hash values specified")
    urls = query.getall("url", []) + query.getall("urls", [])
    return ListQuery(
        limit=DEFAULT_LIMIT if limit is None else limit, start=query.get("start"), page=query_int(query, "page"),
        hashes=hashes or None, authz=_csv(query, "authz"), acl=_csv(query, "acl"), size=size,
        file_name=query.get("file_name"), version=query.get("version"), uploader=query.get("uploader"),
        urls=urls or None, metadata=_pairs(query.getall("metadata", []), "metadata") or None, ids=id_list,
    )


async def _record_or_404(request: web.Request, guid: str) -> IndexRecord:
    record = await _commons(request).index.get(guid)
    if record is None:
        raise not_found(f"no record found: {guid}")
    return record


@routes.get("/_status")
@operation("indexd health: the text 'Healthy'", tags=TAGS, content="text/plain")
async def status(request: web.Request) -> web.Response:
    return web.Response(text="Healthy", content_type="text/plain")


@routes.get("/_version")
@operation("indexd version and commit", tags=TAGS)
async def version(request: web.Request) -> web.Response:
    return json_response(INDEXD_VERSION)


@routes.get("/_stats")
@operation("How many records and bytes the index holds", tags=TAGS, response=IndexStats)
async def stats(request: web.Request) -> web.Response:
    count, total = _commons(request).index.stats()
    return json_response(IndexStats(fileCount=count, totalFileSize=total).model_dump())


@routes.get("/index")
@routes.get("/index/")
@operation("List records (indexd pagination and filters)", tags=TAGS, query=LIST_PARAMS)
async def list_records(request: web.Request) -> web.Response:
    q = list_query(request.query)
    form = request.query.get("form")
    if form not in (None, "", "object", "all", "bundle"):
        raise bad_request(f"unknown form {form!r}")
    records = [] if form == "bundle" else await _commons(request).index.list(q)
    return json_response({
        "ids": q.ids, "records": [r.to_json() for r in records], "limit": q.limit, "start": q.start,
        "page": q.page, "size": q.size, "file_name": q.file_name, "version": q.version, "urls": q.urls or [],
        "acl": q.acl, "authz": q.authz, "hashes": q.hashes, "metadata": q.metadata or {},
    })


@routes.post("/bulk/documents")
@operation("The records of a JSON array of ids (unknown ids are left out)", tags=TAGS,
           request_schema={"type": "array", "items": {"type": "string"}})
async def bulk_documents(request: web.Request) -> web.Response:
    commons = _commons(request)
    ids = parse_as(list[str], await read_json(request))
    limit = commons.settings.max_bulk_request_length
    if len(ids) > limit:
        raise ApiError(413, f"at most {limit} ids per bulk request, got {len(ids)}")
    return json_response([r.to_json() for r in await commons.index.get_many(ids)])


routes.route("*", "/bulk/documents")(only("POST"))  # GET /{guid:.+} matches it too: 405 says POST


@routes.post("/index")
@routes.post("/index/")
@operation("Create a record (needs 'create' on its authz)", tags=TAGS, request=IndexCreate, response=WriteResult)
async def create_record(request: web.Request) -> web.Response:
    commons = _commons(request)
    body = await read_model(request, IndexCreate)
    await commons.fence.require(
        request.headers.get("Authorization"), body.authz or [ADMIN_RESOURCE], method="create", service="indexd"
    )
    record = await commons.index.create(body)
    return json_response(WriteResult(did=record.did, rev=record.rev, baseid=record.baseid).model_dump())


@routes.get("/index/{guid:.+}")
@operation("One record by did (prefixed, %2F-encoded or bare uuid)", tags=TAGS)
async def get_record(request: web.Request) -> web.Response:
    return json_response((await _record_or_404(request, request.match_info["guid"])).to_json())


@routes.put("/index/{guid:.+}")
@operation("Update a record at ?rev= (needs 'update' on its authz)", tags=TAGS, request=IndexUpdate,
           response=WriteResult, query=(REV,))
async def update_record(request: web.Request) -> web.Response:
    commons = _commons(request)
    body = await read_model(request, IndexUpdate)
    record = await _record_or_404(request, request.match_info["guid"])
    resources = list(dict.fromkeys(record.authz + (body.authz or []))) or [ADMIN_RESOURCE]
    await commons.fence.require(request.headers.get("Authorization"), resources, method="update", service="indexd")
    updated = await commons.index.update(record.did, request.query.get("rev"), body)
    return json_response(WriteResult(did=updated.did, rev=updated.rev, baseid=updated.baseid).model_dump())


@routes.delete("/index/{guid:.+}")
@operation("Delete a record at ?rev= (needs 'delete' on its authz)", tags=TAGS, query=(REV,))
async def delete_record(request: web.Request) -> web.Response:
    commons = _commons(request)
    rev = request.query.get("rev")
    if not rev:
        raise bad_request("no revision specified")
    record = await _record_or_404(request, request.match_info["guid"])
    await commons.fence.require(
        request.headers.get("Authorization"), record.authz or [ADMIN_RESOURCE], method="delete", service="indexd"
    )
    await commons.index.delete(record.did, rev)
    return web.Response(status=200)


@routes.get("/{guid:.+}")
@operation("indexd's global lookup of one record (no_dist is ignored)", tags=TAGS, query=("no_dist",))
async def get_global(request: web.Request) -> web.Response:
    return json_response((await _record_or_404(request, request.match_info["guid"])).to_json())
