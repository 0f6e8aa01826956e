"""Purpose-built misbehaving members: small aiohttp apps, each served on its own free loopback port.

``async with serve(app) as server`` starts one; ``server.url`` is its root and ``server.hits`` lists every
request it received as ``(method, path_qs, headers)`` (recorded by a middleware, before the fault acts).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from ports import free_port

HITS = web.AppKey("hits", list)
STATE = web.AppKey("state", dict)
MiB = 1024 * 1024


@dataclass
class Server:
    url: str
    app: web.Application
    hits: list[tuple[str, str, Mapping[str, str]]] = field(default_factory=list)

    def count(self, path_start: str = "/", method: str | None = None) -> int:
        return sum(1 for m, p, _ in self.hits if p.startswith(path_start) and method in (None, m))


@web.middleware
async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
    request.app[HITS].append((request.method, request.path_qs, dict(request.headers)))
    return await handler(request)


def recording_app(routes: web.RouteTableDef | list[web.RouteDef], **state: Any) -> web.Application:
    """An app whose every request is recorded in ``app[HITS]``; ``state`` lands in ``app[STATE]``."""
    app = web.Application(middlewares=[_record])
    app[HITS] = []
    app[STATE] = dict(state)
    app.add_routes(routes)
    return app


@asynccontextmanager
async def serve(app: web.Application, *, host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[Server]:
    """``app`` on ``host`` (any loopback address: ``127.0.0.2`` plays a host inside the gateway's network) and a
    free port, or ``port``."""
    port = port or free_port()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        yield Server(f"http://{host}:{port}", app, app[HITS])
    finally:
        await runner.cleanup()


def _json(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(doc, status=status, headers=headers)


# --- the faults ------------------------------------------------------------------------------------


def hanging() -> web.Application:
    """Accepts every request and never answers."""
    async def handler(request: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return recording_app([web.route("*", "/{tail:.*}", handler)])


def flaky(failures: int, status: int = 503, body: Any = None) -> web.Application:
    """Answers ``status`` to the first ``failures`` requests, then 200 with ``body`` (default ``{"ok": true}``)."""
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE]
        state["seen"] += 1
        if state["seen"] <= failures:
            return _json({"error": "try later"}, status=status)
        return _json(body if body is not None else {"ok": True})

    return recording_app([web.route("*", "/{tail:.*}", handler)], seen=0)


def rate_limited(retry_after: str = "1", times: int = 1) -> web.Application:
    """Answers 429 with ``Retry-After`` to the first ``times`` requests, then 200 ``{"ok": true}``."""
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE]
        state["seen"] += 1
        if state["seen"] <= times:
            return _json({"error": "slow down"}, status=429, headers={"Retry-After": retry_after})
        return _json({"ok": True})

    return recording_app([web.route("*", "/{tail:.*}", handler)], seen=0)


def redirecting(location: Callable[[web.Request], str], status: int = 302) -> web.Application:
    """``/r/...`` answers ``status`` to ``location(request)``; anything else answers 200 ``{"path": ...}``."""
    routes = web.RouteTableDef()

    @routes.route("*", "/r/{tail:.*}")
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location(request)})

    @routes.route("*", "/{tail:.*}")
    async def landing(request: web.Request) -> web.Response:
        return _json({"path": request.path, "method": request.method})

    return recording_app(routes)


def huge(size: int = 20 * MiB, *, declare_length: bool = False) -> web.Application:
    """Answers a JSON-looking body of ``size`` bytes, streamed in 64 KiB chunks (``Content-Length`` only if
    ``declare_length``); records in ``state["sent"]`` how many bytes it managed to write."""
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declare_length:
            response.content_length = size
        await response.prepare(request)
        chunk = b" " * (64 * 1024)
        sent = 0
        while sent < size:
            await response.write(chunk[: size - sent])
            sent += min(len(chunk), size - sent)
            request.app[STATE]["sent"] = sent
        await response.write_eof()
        return response

    return recording_app([web.route("*", "/{tail:.*}", handler)], sent=0)


def dripping(interval: float = 1.0, size: int = 1_000_000) -> web.Application:
    """Answers 200 at once, then drips a JSON-looking body of ``size`` bytes one byte every ``interval`` seconds
    (no ``Content-Length``): never idle long enough for a read timeout, never done. ``state["sent"]`` counts the
    bytes written."""
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(size):
            await response.write(b" ")
            request.app[STATE]["sent"] += 1
            await asyncio.sleep(interval)
        await response.write_eof()
        return response

    return recording_app([web.route("*", "/{tail:.*}", handler)], sent=0)


def not_json(
    body: bytes = b"<html><body>Bad gateway</body></html>", content_type: str = "text/html"
) -> web.Application:
    """Answers 200 with a body that is not JSON."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    return recording_app([web.route("*", "/{tail:.*}", handler)])


def compressed(size: int) -> web.Application:
    """Answers ``size`` bytes of JSON-looking whitespace, gzip-compressed on the wire (``Content-Encoding: gzip``,
    a ``Content-Length`` of the compressed size): a small body that expands."""
    packed = gzip.compress(b" " * size)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=packed, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})

    return recording_app([web.route("*", "/{tail:.*}", handler)])


def cookie_setting() -> web.Application:
    """Answers 200 ``{"cookie": <the request's Cookie header or null>}`` and sets a session cookie every time."""
    async def handler(request: web.Request) -> web.Response:
        response = _json({"cookie": request.headers.get("Cookie")})
        response.set_cookie("session", "caller-a-secret", path="/")
        return response

    return recording_app([web.route("*", "/{tail:.*}", handler)])


def resetting() -> web.Application:
    """Reads the request, then resets the TCP connection (RST, via SO_LINGER 0) without answering."""
    async def handler(request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    return recording_app([web.route("*", "/{tail:.*}", handler)])


def _failing_on_reuse(fail: Callable[[asyncio.Transport], None]) -> web.Application:
    """Answers the first request on each connection (200, kept alive); a further request on it gets ``fail`` done to
    its connection and no answer. ``state["connections"]`` counts the connections it answered on."""
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE]
        transport = request.transport
        assert isinstance(transport, asyncio.Transport)
        if transport in state["answered"]:
            fail(transport)
            await asyncio.sleep(3600)
        state["answered"].add(transport)
        state["connections"] += 1
        return _json({"ok": True})

    return recording_app([web.route("*", "/{tail:.*}", handler)], answered=set(), connections=0)


def dropping_reused(*, reset: bool = False) -> web.Application:
    """Drops a connection as soon as a further request arrives on it, unanswered: a server closing an idle keep-alive
    connection just as the client reuses it (a FIN; with ``reset``, an RST). See :func:`_failing_on_reuse`."""
    def drop(transport: asyncio.Transport) -> None:
        if reset:
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()

    return _failing_on_reuse(drop)


def half_answering_reused() -> web.Application:
    """On a further request on a connection, sends the start of an answer (a head promising more body than comes)
    and closes: a member failing mid-answer, on a pooled connection. See :func:`_failing_on_reuse`."""
    def half(transport: asyncio.Transport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ok\"")
        transport.close()

    return _failing_on_reuse(half)


class Unaccepting:
    """A port whose connections are never accepted: it listens with a full backlog, so a connect to it waits until
    the caller's connect timeout (a member whose host is overloaded, or behind a firewall dropping SYNs)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._fillers = []
        for _ in range(3):  # the accept queue of a listen(0) holds one; SYNs past it are dropped
            filler = socket.socket()
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def close(self) -> None:
        for s in (*self._fillers, self._listener):
            s.close()


# --- a DRS server without bulk -------------------------------------------------------------------

DRS = "/ga4gh/drs/v1"


def plain_drs(
    objects: Mapping[str, dict[str, Any]], *, token: str = "s3cr3t", delay: float = 0.02, bulk_key: str | None = None
) -> web.Application:
    """A minimal DRS server: ``GET /objects/{id}`` from ``objects`` (each answer takes ``delay`` s; the most
    requests in flight at once are kept in ``state["peak"]``) and ``GET /objects/{id}/access/{access_id}``
    needing ``Bearer <token>``. Without ``bulk_key`` its service-info has no ``maxBulkRequestLength`` and
    ``POST /objects`` is not routed (405); with it, it advertises 10 and answers bulk calls with the objects
    it has under that key, listing no unresolved ids (so a client must look for the rest itself)."""
    routes = web.RouteTableDef()

    @routes.get(f"{DRS}/service-info")
    async def info(request: web.Request) -> web.Response:
        doc: dict[str, Any] = {
            "id": "org.example.plain", "name": "plain DRS", "version": "1",
            "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"},
            "organization": {"name": "x", "url": "https://x"},
        }
        if bulk_key:
            doc["maxBulkRequestLength"] = 10
        return _json(doc)

    if bulk_key:
        @routes.post(f"{DRS}/objects")
        async def bulk(request: web.Request) -> web.Response:
            ids = (await request.json())["bulk_object_ids"]
            if len(ids) > 10:
                return _json({"msg": "too many", "status_code": 413}, status=413)
            return _json({bulk_key: [objects[i] for i in ids if i in objects]})

    @routes.get(DRS + "/objects/{object_id}/access/{access_id}")
    async def access(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return _json({"msg": "who are you?", "status_code": 401}, status=401)
        object_id = request.match_info["object_id"]
        if object_id not in objects:
            return _json({"msg": "no such object", "status_code": 404}, status=404)
        return _json({"url": f"https://bucket.example/{object_id}", "headers": ["X-Signed: yes"]})

    @routes.get(DRS + "/objects/{object_id}")
    async def get_object(request: web.Request) -> web.Response:
        state = request.app[STATE]
        state["in_flight"] += 1
        state["peak"] = max(state["peak"], state["in_flight"])
        try:
            await asyncio.sleep(delay)
        finally:
            state["in_flight"] -= 1
        doc = objects.get(request.match_info["object_id"])
        if doc is None:
            return _json({"msg": "no such object", "status_code": 404}, status=404)
        return _json(doc)

    return recording_app(routes, in_flight=0, peak=0)


# --- a name whose DNS the attacker controls -------------------------------------------------------------------


class RebindingDns:
    """The system's name resolution as seen from the gateway when an attacker controls one name's DNS: ``name``
    resolves to ``answer`` (change it at will: DNS rebinding), every other name as usual. :meth:`install` puts it
    on the running event loop, which is what every client's resolution asks (aiohttp's threaded resolver and the
    egress policy's own ``getaddrinfo``); ``asked`` counts the lookups of ``name``."""

    def __init__(self, name: str, answer: str) -> None:
        self.name = name
        self.answer = answer
        self.asked = 0

    def install(self, monkeypatch: Any) -> RebindingDns:
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo

        async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host == self.name:
                self.asked += 1
                host = self.answer
            return await real(host, port, *args, **kwargs)

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        return self


# --- a hostile member: what it answers must never reach a client -------------------------------------------

HOSTILE_MODES = ("reset", "hang", "500", "garbage", "redirect")
"""``reset``: reads the request, then resets the connection; ``hang``: never answers; ``500``: HTTP 500 whose
JSON ``error`` (and a header) carry the marker; ``garbage``: 200 with a body that is not JSON, carrying the marker;
``redirect``: 302 to an internal URL (``internal``) holding the marker."""


def hostile(
    mode: str, *, marker: str, internal: str = "http://10.9.8.7:6543", objects: Mapping[str, Any] | None = None
) -> web.Application:
    """A member misbehaving in ``mode`` (:data:`HOSTILE_MODES`) on every request, except ``GET`` of a DRS object
    listed in ``objects`` (``/ga4gh/drs/v1/objects/<id>``), answered normally: so the misbehaviour can be met
    after a successful resolution (at ``/access``). ``state["hanging"]`` counts the hung handlers."""
    if mode not in HOSTILE_MODES:
        raise AssertionError(f"unknown hostile mode {mode!r}")
    known = dict(objects or {})

    async def handler(request: web.Request) -> web.StreamResponse:
        head, sep, tail = request.path.partition(f"{DRS}/objects/")
        if request.method == "GET" and sep and not head and tail in known:
            return _json(known[tail])
        if mode == "reset":
            transport = request.transport
            assert transport is not None
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            await asyncio.sleep(3600)
        if mode == "hang":
            request.app[STATE]["hanging"] += 1
            await asyncio.Event().wait()
        if mode == "500":
            return _json({"error": f"database {marker} at db.internal:5432 is down", "msg": marker,
                          "message": marker}, status=500, headers={"X-Debug": marker})
        if mode == "garbage":
            return web.Response(body=f"<html>Traceback: {marker} at /srv/app.py line 3</html>".encode(),
                                content_type="text/html")
        return web.Response(status=302, headers={"Location": f"{internal}/{marker}{request.path}"})

    return recording_app([web.route("*", "/{tail:.*}", handler)], hanging=0)
