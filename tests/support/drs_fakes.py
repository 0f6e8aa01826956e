"""Members for the federated DRS tests: recorded standalone reference commons (any prefix), and small
purpose-built members (a DRS server over a dict of objects, a case-sensitive Gen3 indexd) whose routes can
be switched to a fault at run time. Built on ``tests/adapters/faults.py``: every request is recorded in
``server.hits`` as ``(method, path_qs, headers)`` before the handler runs.

A fault is chosen per route in ``app[STATE]["faults"]`` (``route → mode``); see :data:`MODES`. Handlers
of the ``hang`` mode count themselves in ``state["hanging"]`` and, once the client goes away (the servers
run with ``handler_cancellation``), in ``state["cancelled"]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import servers
from aiohttp import web
from aiohttp.typedefs import Handler
from faults import HITS, STATE, Server, free_port, recording_app, serve  # noqa: F401  (serve: re-exported)

from refcommons.app import build_app
from refcommons.commons import ReferenceCommons
from refcommons.settings import CommonsSettings

DRS = "/ga4gh/drs/v1"
MODES = ("500", "garbage", "truncated", "list", "429", "429-once", "202", "hang")
"""``500``: HTTP 500 with a JSON error; ``garbage``: 200 with a body that is not JSON; ``truncated``: 200
announcing more bytes than it sends, then closing; ``list``: 200 with a JSON list; ``429``: 429 with
``Retry-After: state["retry_after"]`` (default 3600); ``429-once``: that once (``Retry-After: 1``), then the
normal answer; ``202``: 202 with ``Retry-After: 7``; ``hang``: never answers."""


# --- serving ------------------------------------------------------------------------------------------


async def start_recorded_commons(
    prefix: str, seed: int, subjects: int = 10, *, delay: float = 0.0, **settings: Any
) -> servers.Server:
    """A standalone reference commons (in memory) whose every request lands in ``server.app[HITS]``; with ``delay``,
    each request is answered that many seconds late (a slow member)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    commons = await ReferenceCommons.open(
        CommonsSettings(prefix=prefix, seed=seed, subjects=subjects, base_url=base, **settings))
    app = build_app(commons)
    app[HITS] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        request.app[HITS].append((request.method, request.path_qs, dict(request.headers), body))
        if delay:
            await asyncio.sleep(delay)
        return await handler(request)

    app.middlewares.insert(0, record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return servers.Server(base, port, httpx.AsyncClient(base_url=base, timeout=10), runner, app, commons)


def count(app: web.Application, method: str | None = None, path_start: str = "/") -> int:
    """Requests ``app`` received (``method`` and a ``path_qs`` starting with ``path_start``)."""
    return sum(1 for hit in app[HITS] if hit[1].startswith(path_start) and method in (None, hit[0]))


# --- documents ----------------------------------------------------------------------------------------


def drs_doc(object_id: str, **overrides: Any) -> dict[str, Any]:
    """A member's DRS object the way indexd's DRS view writes one (nulls, indexd hash names)."""
    doc: dict[str, Any] = {
        "id": object_id, "name": f"{object_id.rsplit('/', 1)[-1]}.bam", "self_uri": f"drs://member.example/{object_id}",
        "size": 123, "created_time": None, "index_created_time": "2023-05-06T07:08:09Z", "updated_time": None,
        "description": None, "version": None, "mime_type": "application/json",
        "checksums": [{"type": "md5", "checksum": "0" * 32}, {"type": "sha256", "checksum": "a" * 64}],
        "access_methods": [{"type": "s3", "access_id": "s3", "region": None,
                            "access_url": {"url": f"s3://bucket/{object_id}"}}],
    }
    doc.update(overrides)
    return doc


def indexd_doc(did: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "did": did, "baseid": "b", "rev": "r1", "size": 10, "file_name": "f.vcf", "version": None,
        "urls": [f"s3://bucket/{did}"], "urls_metadata": {}, "acl": ["*"], "authz": ["/open"],
        "hashes": {"md5": "1" * 32}, "metadata": {}, "form": "object", "created_date": "2022-01-02T03:04:05",
        "updated_date": "2022-01-02T03:04:05", "description": None, "content_created_date": None,
        "content_updated_date": None,
    }
    doc.update(overrides)
    return doc


# --- faults -------------------------------------------------------------------------------------------


def _json(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(doc, status=status, headers=headers)


async def hang(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state["hanging"] = state.get("hanging", 0) + 1
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        state["cancelled"] = state.get("cancelled", 0) + 1
        raise
    raise AssertionError("unreachable")


async def fault_response(request: web.Request, mode: str) -> web.StreamResponse | None:
    """The answer of fault ``mode``; ``None`` when the route should answer normally this time."""
    state = request.app[STATE]
    if mode == "500":
        return _json({"msg": "internal error", "status_code": 500}, status=500)
    if mode == "garbage":
        return web.Response(body=b'{"id": "x", "size": 12, "checksums": [', content_type="application/json")
    if mode == "list":
        return _json([{"id": "x"}])
    if mode == "truncated":
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 4096
        await response.prepare(request)
        await response.write(b'{"id": "x", "size": 12, ')
        assert request.transport is not None
        request.transport.close()
        await asyncio.Event().wait()  # cancelled when the connection is gone
    if mode == "429":
        return _json({"msg": "slow down"}, status=429, headers={"Retry-After": str(state.get("retry_after", 3600))})
    if mode == "429-once":
        state["throttled"] = state.get("throttled", 0) + 1
        if state["throttled"] == 1:
            return _json({"msg": "slow down"}, status=429, headers={"Retry-After": "1"})
        return None
    if mode == "202":
        return _json({"msg": "staging from cold storage"}, status=202, headers={"Retry-After": "7"})
    if mode == "hang":
        return await hang(request)
    raise AssertionError(f"unknown fault mode {mode!r}")


def fault_everywhere(mode: str) -> web.Application:
    """A member answering fault ``mode`` on every path (its health routes included)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await fault_response(request, mode)
        return response if response is not None else _json({"ok": True})

    return recording_app([web.route("*", "/{tail:.*}", handler)], faults={})


# --- a DRS member ---------------------------------------------------------------------------------------


def drs_member(objects: Mapping[str, dict[str, Any]], *, bulk: int = 0, **faults: str) -> web.Application:
    """A DRS server over ``objects`` (id → member document). ``bulk`` > 0 advertises (and serves) bulk
    ``POST /objects`` and ``POST /objects/access`` of that length. Access answers
    ``{"url": "https://signed.example/<id>/<access id>", "headers": ["X-Member: yes"]}`` for any access
    id the object lists, whoever asks (record headers to see who sent what). ``faults``: route → mode for
    routes ``service_info``, ``object``, ``bulk``, ``access``, ``bulk_access`` (changeable later in
    ``app[STATE]["faults"]``)."""
    routes = web.RouteTableDef()

    async def faulted(request: web.Request, route: str) -> web.StreamResponse | None:
        mode = request.app[STATE]["faults"].get(route)
        return await fault_response(request, mode) if mode else None

    def access_ids(doc: dict[str, Any]) -> list[str]:
        return [str(m["access_id"]) for m in doc.get("access_methods") or [] if m.get("access_id") is not None]

    def signed(object_id: str, access_id: str) -> dict[str, Any]:
        return {"url": f"https://signed.example/{quote(object_id, safe='')}/{access_id}",
                "headers": ["X-Member: yes"]}

    @routes.get(f"{DRS}/service-info")
    async def info(request: web.Request) -> web.StreamResponse:
        if (answer := await faulted(request, "service_info")) is not None:
            return answer
        doc: dict[str, Any] = {
            "id": "org.example.fake", "name": "fake DRS member", "version": "1",
            "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"},
            "organization": {"name": "x", "url": "https://x.example"},
        }
        if bulk:
            doc["drs"] = {"maxBulkRequestLength": bulk}
        return _json(doc)

    if bulk:
        @routes.post(f"{DRS}/objects")
        async def bulk_objects(request: web.Request) -> web.StreamResponse:
            if (answer := await faulted(request, "bulk")) is not None:
                return answer
            ids = (await request.json())["bulk_object_ids"]
            missing = [i for i in ids if i not in objects]
            return _json({"summary": {"requested": len(ids), "resolved": len(ids) - len(missing),
                                      "unresolved": len(missing)},
                          "unresolved_drs_objects": [{"error_code": 404, "object_ids": missing}] if missing else [],
                          "resolved_drs_object": [objects[i] for i in ids if i in objects]})

        @routes.post(f"{DRS}/objects/access")
        async def bulk_access(request: web.Request) -> web.StreamResponse:
            if (answer := await faulted(request, "bulk_access")) is not None:
                return answer
            items = (await request.json())["bulk_object_access_ids"]
            urls, missing = [], []
            for item in items:
                oid = item["bulk_object_id"]
                for aid in item["bulk_access_ids"]:
                    if oid in objects and aid in access_ids(objects[oid]):
                        urls.append({"drs_object_id": oid, "drs_access_id": aid, **signed(oid, aid)})
                    else:
                        missing.append(oid)
            return _json({"summary": {"requested": len(urls) + len(missing), "resolved": len(urls),
                                      "unresolved": len(missing)},
                          "unresolved_drs_objects": [{"error_code": 404, "object_ids": missing}] if missing else [],
                          "resolved_drs_object_access_urls": urls})

    @routes.get(DRS + "/objects/{object_id:.+}/access/{access_id:[^/]+}")
    async def access(request: web.Request) -> web.StreamResponse:
        if (answer := await faulted(request, "access")) is not None:
            return answer
        oid, aid = request.match_info["object_id"], request.match_info["access_id"]
        if oid not in objects or aid not in access_ids(objects[oid]):
            return _json({"msg": "no such access method", "status_code": 404}, status=404)
        return _json(signed(oid, aid))

    @routes.get(DRS + "/objects/{object_id:.+}")
    async def get_object(request: web.Request) -> web.StreamResponse:
        if (answer := await faulted(request, "object")) is not None:
            return answer
        doc = objects.get(request.match_info["object_id"])
        if doc is None:
            return _json({"msg": "no such object", "status_code": 404}, status=404)
        return _json(doc)

    return recording_app(routes, faults=dict(faults))


# --- a case-sensitive Gen3 indexd ----------------------------------------------------------------------


def strict_indexd(records: Mapping[str, dict[str, Any]]) -> web.Application:
    """Gen3's indexd as a member sees it, but matching ids exactly (real indexd is case-sensitive about the
    prefix): ``GET /index/index/{id}``, ``POST /index/bulk/documents`` (each body kept in
    ``state["bulk_bodies"]``), ``GET /index/_status``, and the listing ``GET /index/index?limit=`` (what the join
    check and the prober read to know it is indexd)."""
    routes = web.RouteTableDef()

    @routes.get("/index/index")
    async def listing(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit") or 100)
        return _json({"records": list(records.values())[:limit]})

    @routes.get("/index/_status")
    async def status(request: web.Request) -> web.Response:
        return web.Response(text="Healthy")

    @routes.post("/index/bulk/documents")
    async def bulk(request: web.Request) -> web.Response:
        ids = await request.json()
        request.app[STATE]["bulk_bodies"].append(ids)
        return _json([records[i] for i in ids if i in records])

    @routes.get("/index/index/{did:.+}")
    async def one(request: web.Request) -> web.Response:
        doc = records.get(request.match_info["did"])
        return _json(doc) if doc is not None else _json({"error": "no record found"}, status=404)

    return recording_app(routes, bulk_bodies=[])


# --- a member that lies ----------------------------------------------------------------------------------


def lying_member(claim: str = "bare") -> web.Application:
    """A DRS member that claims every id it is asked for, at once. ``GET /objects/{id}`` answers an object whose
    ``id`` follows ``app[STATE]["claim"]`` (changeable at run time): ``"bare"`` → the id asked, itself; any other
    value is a prefix (e.g. another member's ``dg.HLD1``) → ``<prefix>/<id asked>``. Its access route hands anyone
    a URL on ``evil.example``. Every request is in ``server.hits`` with its headers: whatever token it was sent."""
    routes = web.RouteTableDef()

    def claimed(request: web.Request, asked: str) -> str:
        claim_now = request.app[STATE]["claim"]
        return asked if claim_now == "bare" else f"{claim_now}/{asked}"

    @routes.get(f"{DRS}/service-info")
    async def info(request: web.Request) -> web.Response:
        return _json({"id": "org.example.liar", "name": "honest DRS", "version": "1",
                      "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"},
                      "organization": {"name": "x", "url": "https://x.example"}})

    @routes.route("*", DRS + "/objects/{object_id:.+}/access/{access_id:[^/]+}")
    async def access(request: web.Request) -> web.Response:
        return _json({"url": f"https://evil.example/{quote(request.match_info['object_id'], safe='')}"})

    @routes.get(DRS + "/objects/{object_id:.+}")
    async def get_object(request: web.Request) -> web.Response:
        oid = claimed(request, request.match_info["object_id"])
        return _json(drs_doc(oid, access_methods=[
            {"type": t, "access_id": t, "region": None, "access_url": None} for t in ("s3", "gs")]))

    return recording_app(routes, claim=claim)
