"""The members' HTTP/1.1 client against hostile servers on 127.0.0.1: small ``asyncio`` servers that send crafted
raw bytes and count the connections and requests they saw. Keep-alive and the request's head, bodies (chunked,
ended by the connection, compressed), malformed answers, the caps and the byte budget, bytes nobody asked for, the
pool's limit and cancelled calls, idle expiry, connection failures, HEAD, the egress policy and TLS."""

from __future__ import annotations

import asyncio
import datetime
import functools
import gzip
import ipaddress
import socket
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ports import free_port
from yarl import URL

from gateway.core.byte_budget import ByteBudget, OverBudget
from gateway.core.egress import OPEN, EgressDenied, EgressPolicy
from gateway.core.http1 import (
    MAX_HEAD_BYTES,
    ConnectFailed,
    ConnectionDropped,
    Http1Response,
    Http1Session,
    MalformedAnswer,
)
from gateway.core.http_client import BodyTooLarge

MiB = 1024 * 1024
LIMIT = MiB
WAIT = 1.0
"""Seconds a server-side observation may take to show."""


# --- the hostile server ------------------------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the server read it off the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class Peer:
    """The server's side of one connection."""

    def __init__(self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 index: int) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.index = index
        self.eof = False

    async def request(self) -> Seen | None:
        """The next request on this connection, or ``None`` when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self._ended()
            return None
        line, *lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, _ = line.split(" ", 2)
        headers = [(n, v.strip()) for n, v in (h.split(":", 1) for h in lines)]
        seen = Seen(method, target, headers, b"", self.index)
        length = seen.values("content-length")
        if length:
            seen.body = await self.reader.readexactly(int(length[0]))
        self.server.requests.append(seen)
        return seen

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def closed(self) -> None:
        """Wait until the client closes the connection (anything it sends meanwhile is discarded)."""
        with suppress(ConnectionError):
            while await self.reader.read(65_536):
                pass
        self._ended()

    def reset(self) -> None:
        """Close with a TCP reset (RST), not a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def _ended(self) -> None:
        if not self.eof:
            self.eof = True
            self.server.ended.append(self.index)
            self.server.ended_at.append(asyncio.get_running_loop().time())


Handler = Callable[[Peer], Awaitable[None]]


@dataclass
class RawServer:
    handler: Handler
    host: str = "127.0.0.1"
    port: int = 0
    scheme: str = "http"
    connections: int = 0
    """Connections accepted."""
    open: int = 0
    most_open: int = 0
    """The most connections open at once, as the server saw them."""
    requests: list[Seen] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    """The connections (by index) the client closed."""
    ended_at: list[float] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def url(self, path: str = "/", host: str | None = None) -> URL:
        return URL(f"{self.scheme}://{host or self.host}:{self.port}{path}")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        peer = Peer(self, reader, writer, self.connections)
        try:
            await self.handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            peer._ended()
        except Exception as exc:  # a broken test server must fail its test, not vanish in the loop's log
            self.errors.append(exc)
        except asyncio.CancelledError:
            pass  # stopped at the end of the test (ending cancelled, it would be logged as an error)
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None,
                host: str = "127.0.0.1") -> AsyncIterator[RawServer]:
    server = RawServer(handler, host=host, scheme="https" if tls else "http")
    listener = await asyncio.start_server(server._accept, host, 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
        await listener.wait_closed()
    assert not server.errors, server.errors


@asynccontextmanager
async def session(egress: EgressPolicy = OPEN, **kw: Any) -> AsyncIterator[Http1Session]:
    http = Http1Session(egress, **kw)
    try:
        yield http
    finally:
        await http.close()


async def call(http: Http1Session, url: URL, method: str = "GET", *, headers: dict[str, str] | None = None,
               body: bytes | None = None, limit: int = LIMIT, budget: ByteBudget | None = None,
               within: float = 3.0, connect_timeout: float = 1.0) -> Http1Response:
    """One call, failing the test (TimeoutError) rather than hanging it."""
    async with asyncio.timeout(within):
        return await http.request(method, url, headers=headers or {}, body=body, connect_timeout=connect_timeout,
                                  limit=limit, budget=budget)


async def until(condition: Callable[[], bool], within: float = WAIT) -> None:
    """Wait until ``condition()`` holds (what a server sees shows a little after the client acted)."""
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.01)


async def settle() -> None:
    """Long enough on loopback for bytes that were going to arrive to arrive."""
    await asyncio.sleep(0.05)


def answer(body: bytes = b"ok", status: str = "200 OK", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def answering(*answers: bytes) -> Handler:
    """Answer each request on a connection with the next of ``answers`` (the last one repeats), keep-alive."""

    async def handle(peer: Peer) -> None:
        n = 0
        while await peer.request() is not None:
            peer.send(answers[min(n, len(answers) - 1)])
            n += 1

    return handle


def once(data: bytes, then: str = "wait") -> Handler:
    """Read one request, send ``data``, then wait for the client to close (``wait``), close (``close``) or reset
    (``reset``)."""

    async def handle(peer: Peer) -> None:
        if await peer.request() is None:
            return
        peer.send(data)
        if then == "wait":
            await peer.closed()
        elif then == "close":
            await peer.writer.drain()
        else:
            await peer.writer.drain()
            peer.reset()

    return handle


KEEP_ALIVE = answering(answer())


# --- keep-alive and the request's head ---------------------------------------------------------------------------


async def test_sequential_calls_reuse_one_connection():
    async with serve(KEEP_ALIVE) as server, session() as http:
        first = await call(http, server.url("/a"))
        second = await call(http, server.url("/b"))
        assert http.open_connections == 1
    assert (first.status, first.body, second.status, second.body) == (200, b"ok", 200, b"ok")
    assert server.connections == 1
    assert [(r.target, r.connection) for r in server.requests] == [("/a", 1), ("/b", 1)]


async def test_the_request_head_carries_host_the_callers_headers_and_the_body_length():
    body = b'{"a": 1}'
    async with serve(KEEP_ALIVE) as server, session() as http:
        await call(http, server.url("/p/x?q=1&r=%20"), "POST", body=body, headers={
            "X-Trace": "abc", "Accept": "application/json",
            "Host": "evil.example", "Content-Length": "999", "Transfer-Encoding": "chunked",  # the client's own
        })
        await call(http, server.url("/empty"), "POST")
    post, empty = server.requests
    assert (post.method, post.target, post.body) == ("POST", "/p/x?q=1&r=%20", body)
    assert post.values("host") == [f"127.0.0.1:{server.port}"]
    assert post.values("content-length") == [str(len(body))]
    assert post.values("transfer-encoding") == []
    assert post.values("x-trace") == ["abc"]
    assert post.values("accept") == ["application/json"]  # the caller's, instead of the default
    assert post.values("accept-encoding") == ["gzip, deflate"]
    assert empty.values("content-length") == ["0"] and empty.body == b""


@pytest.mark.parametrize("headers", [
    {"X-Evil": "a\r\nX-Injected: 1"},
    {"X-Evil": "a\nX-Injected: 1"},
    {"X-Evil": "a\rX-Injected: 1"},
    {"X-Evil": "a\0b"},
    {"X-Evil\r\nX-Injected": "1"},
    {"Host": "h\r\n\r\nGET /smuggled HTTP/1.1"},  # even a header the client replaces with its own
])
async def test_a_header_that_would_split_the_head_is_refused_before_anything_is_sent(headers):
    async with serve(KEEP_ALIVE) as server, session() as http:
        with pytest.raises(ValueError):
            await call(http, server.url("/x"), headers=headers)
        await settle()
        assert server.connections == 0 and http.open_connections == 0
        await call(http, server.url("/ok"))  # a pooled connection now
        with pytest.raises(ValueError):
            await call(http, server.url("/x"), headers=headers)
        await call(http, server.url("/ok"))
    assert [r.target for r in server.requests] == ["/ok", "/ok"]
    assert server.connections == 1
    assert not any(r.values("x-injected") for r in server.requests)


# --- bodies ------------------------------------------------------------------------------------------------------


async def test_a_chunked_body_is_read_whole_and_the_connection_kept():
    parts = [b"a" * 10, b"b" * 5000, b"c"]

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (chunked(*parts)[i:i + 7] for i in range(0, len(chunked(*parts)), 7)):
                peer.send(piece)  # the framing cut anywhere
                await peer.writer.drain()
                await asyncio.sleep(0)

    async with serve(handle) as server, session() as http:
        first = await call(http, server.url())
        second = await call(http, server.url())
    assert first.body == second.body == b"".join(parts)
    assert server.connections == 1


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\n",
])
async def test_a_body_ended_by_the_connection_is_read_whole_and_not_reused(head):
    async def handle(peer: Peer) -> None:
        if await peer.request() is None:
            return
        peer.send(head + b"first part, ")
        await peer.writer.drain()
        await asyncio.sleep(0.02)
        peer.send(b"second part")
        await peer.writer.drain()
        peer.writer.write_eof()
        await peer.closed()

    async with serve(handle) as server, session() as http:
        first = await call(http, server.url())
        assert http.open_connections == 0
        second = await call(http, server.url())
    assert first.body == second.body == b"first part, second part"
    assert server.connections == 2


async def test_a_body_ended_by_a_reset_is_not_taken_for_a_whole_one():
    async def handle(peer: Peer) -> None:
        if await peer.request() is None:
            return
        peer.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe first half")
        await peer.writer.drain()
        await asyncio.sleep(0.02)
        peer.reset()

    async with serve(handle) as server, session() as http:
        with pytest.raises(ConnectionDropped) as err:
            await call(http, server.url())
    assert err.value.reset and err.value.answered and not err.value.reused


async def test_trailer_fields_are_not_merged_into_the_answers_headers():
    """RFC 9110 §6.5.1: a trailer is not a header (a ``Location`` sent after the body must not become the
    redirect's target)."""
    data = (b"HTTP/1.1 302 Found\r\nTransfer-Encoding: chunked\r\nX-Head: 1\r\n\r\n"
            b"2\r\nok\r\n0\r\nLocation: http://evil.example/\r\nX-Trailer: t\r\n\r\n")
    async with serve(answering(data)) as server, session() as http:
        response = await call(http, server.url())
    assert (response.status, response.body, response.headers.get("x-head")) == (302, b"ok", "1")
    assert "location" not in response.headers and "x-trailer" not in response.headers


async def test_endless_trailer_fields_are_refused():
    """Trailer fields are neither head nor body, but they cannot be a way past both caps."""

    async def handle(peer: Peer) -> None:
        if await peer.request() is None:
            return
        peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
        with suppress(ConnectionError):
            for i in range(4 * MAX_HEAD_BYTES // 1000):
                peer.send(b"".join(b"X-T%d: %s\r\n" % (i * 10 + j, b"t" * 90) for j in range(10)))
                await peer.writer.drain()
            peer.send(b"\r\n")
        await peer.closed()

    async with serve(handle) as server, session() as http:
        with pytest.raises((MalformedAnswer, BodyTooLarge)):
            await call(http, server.url(), limit=1000)
    assert server.connections == 1


# --- malformed answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [
    b"HELLO WORLD\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"HTTP/1.1 OK 200\r\nContent-Length: 2\r\n\r\nok",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS record
])
async def test_a_garbage_status_line_is_malformed(garbage):
    async with serve(once(garbage)) as server, session() as http:
        with pytest.raises(MalformedAnswer):
            await call(http, server.url())
        assert http.open_connections == 0
        await until(lambda: server.ended == [1])  # closed by the client


@pytest.mark.parametrize("head", [
    "HTTP/1.1 200 OK\r\n" + "".join(f"X-H{i}: {'v' * 60}\r\n" for i in range(MAX_HEAD_BYTES // 60)),  # many
    "HTTP/1.1 200 OK\r\nX-Big: " + "v" * (MAX_HEAD_BYTES + 10),  # one long line, never ended
])
async def test_a_head_over_the_cap_is_malformed(head):
    async with serve(once(head.encode())) as server, session() as http:
        with pytest.raises(MalformedAnswer, match="head"):
            await call(http, server.url())
        assert http.open_connections == 0
        await until(lambda: server.ended == [1])


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("interim", [
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
])
async def test_an_interim_answer_is_skipped(interim, split):
    final = answer(b"final", "200 OK", "X-Final: yes")

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            if split:
                peer.send(interim)
                await peer.writer.drain()
                await asyncio.sleep(0.02)
                peer.send(final)
            else:
                peer.send(interim + final)

    async with serve(handle) as server, session() as http:
        response = await call(http, server.url())
        again = await call(http, server.url())
    assert (response.status, response.body, response.headers.get("x-final")) == (200, b"final", "yes")
    assert "link" not in response.headers
    assert again.body == b"final" and server.connections == 1


async def test_interim_answers_count_toward_the_head_cap():
    """An endless run of 103s cannot keep a call waiting for its real answer."""

    async def handle(peer: Peer) -> None:
        if await peer.request() is None:
            return
        hint = b"HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n"
        with suppress(ConnectionError):
            for _ in range(3 * MAX_HEAD_BYTES // len(hint)):
                peer.send(hint * 10)
                await peer.writer.drain()
        await peer.closed()

    async with serve(handle) as server, session() as http:
        with pytest.raises(MalformedAnswer):
            await call(http, server.url())
    assert server.connections == 1


# --- caps --------------------------------------------------------------------------------------------------------


async def test_a_declared_length_past_the_limit_is_refused_before_reading():
    async with serve(once(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")) as server, session() as http:
        with pytest.raises(BodyTooLarge) as err:
            await call(http, server.url(), limit=1000)  # the body never comes: only the head can end the call
        assert http.open_connections == 0
        await until(lambda: server.ended == [1])
    assert (err.value.limit, err.value.declared) == (1000, 10_000_000)


def streaming(head: bytes, piece: bytes, frame: Callable[[bytes], bytes], total: int, sent: list[int]) -> Handler:
    """Send ``head`` then ``piece`` framed by ``frame`` until ``total`` bytes or until the client goes away."""

    async def handle(peer: Peer) -> None:
        if await peer.request() is None:
            return
        peer.send(head)
        with suppress(ConnectionError):
            while sent[0] < total:
                peer.send(frame(piece))
                sent[0] += len(piece)
                await peer.writer.drain()
        await peer.closed()

    return handle


@pytest.mark.parametrize("head,frame", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", lambda p: b"%x\r\n%s\r\n" % (len(p), p)),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", lambda p: p),  # ended by the connection
], ids=["chunked", "until-eof"])
async def test_a_body_read_past_the_limit_stops(head, frame):
    sent = [0]
    async with serve(streaming(head, b"x" * 16_384, frame, 64 * MiB, sent)) as server, session() as http:
        with pytest.raises(BodyTooLarge) as err:
            await call(http, server.url(), limit=100_000)
        await until(lambda: server.ended == [1])
    assert err.value.declared is None and err.value.limit == 100_000
    assert sent[0] < 64 * MiB, "the read stopped; the server could not finish"


@functools.cache
def bomb(encoding: str) -> bytes:
    zeros = bytes(16 * MiB)
    return gzip.compress(zeros, 9) if encoding == "gzip" else zlib.compress(zeros, 9)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_compression_bomb_stops_at_the_limit(encoding, framing):
    packed = bomb(encoding)
    assert len(packed) < 100_000
    if framing == "length":
        data = answer(packed, "200 OK", f"Content-Encoding: {encoding}")
    else:
        data = (f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                + chunked(*(packed[i:i + 4096] for i in range(0, len(packed), 4096))))
    budget = ByteBudget(2 * MiB)
    async with serve(once(data)) as server, session() as http:
        with pytest.raises(BodyTooLarge) as err:
            await call(http, server.url(), limit=MiB, budget=budget)
        assert http.open_connections == 0
    assert err.value.declared is None
    assert budget.held == 0
    assert server.connections == 1


ORIGINAL = bytes(range(256)) * 1000


def compressed_answer(encoding: str, packed: bytes) -> Handler:
    """Answer with ``packed`` (as ``encoding``) sent in small pieces, keep-alive."""

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            data = answer(packed, "200 OK", f"Content-Encoding: {encoding}")
            for i in range(0, len(data), 1000):
                peer.send(data[i:i + 1000])
                await peer.writer.drain()

    return handle


@pytest.mark.parametrize("encoding,pack", [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress), ("GZip", gzip.compress),
])
async def test_a_compressed_body_within_the_limit_is_decoded(encoding, pack):
    async with serve(compressed_answer(encoding, pack(ORIGINAL))) as server, session() as http:
        response = await call(http, server.url(), limit=len(ORIGINAL))  # exactly at the limit
        with pytest.raises(BodyTooLarge):
            await call(http, server.url(), limit=len(ORIGINAL) - 1)  # one byte past it
    assert response.body == ORIGINAL
    assert server.requests[0].values("accept-encoding") == ["gzip, deflate"]


@pytest.mark.parametrize("packed", [
    gzip.compress(ORIGINAL)[: len(gzip.compress(ORIGINAL)) // 2],  # cut short
    gzip.compress(ORIGINAL)[:-4],  # the trailer (the length) missing
    b"\x1f\x8b this is not a gzip stream at all",
], ids=["half", "no-trailer", "garbage"])
async def test_a_broken_gzip_body_is_malformed(packed):
    budget = ByteBudget(MiB)
    async with serve(compressed_answer("gzip", packed)) as server, session() as http:
        with pytest.raises(MalformedAnswer):
            await call(http, server.url(), budget=budget)
        assert http.open_connections == 0
    assert budget.held == 0
    assert server.connections == 1


# --- the byte budget ---------------------------------------------------------------------------------------------


async def test_a_declared_body_that_does_not_fit_the_budget_is_refused():
    budget = ByteBudget(1000)
    budget.take(100)  # another call's
    async with serve(once(b"HTTP/1.1 200 OK\r\nContent-Length: 901\r\n\r\n")) as server, session() as http:
        with pytest.raises(OverBudget) as err:
            await call(http, server.url(), budget=budget)  # the body never comes: the head alone must refuse it
        assert http.open_connections == 0
        await until(lambda: server.ended == [1])
    assert (err.value.wanted, err.value.held, err.value.limit) == (901, 100, 1000)
    assert budget.held == 100  # the other call's, untouched


async def test_a_declared_body_is_held_from_the_budget_while_it_is_read():
    budget = ByteBudget(150)
    go = asyncio.Event()

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            await go.wait()
            peer.send(b"y" * 100)

    async with serve(handle) as server, session() as http:
        first = asyncio.create_task(call(http, server.url("/first"), budget=budget))
        await until(lambda: budget.held == 100)  # taken whole on the head, before any of the body
        with pytest.raises(OverBudget):
            await call(http, server.url("/second"), budget=budget)
        go.set()
        response = await first
    assert response.body == b"y" * 100
    assert budget.held == 0


def half_then(then: str, head: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n") -> Handler:
    return once(head + b"z" * 300, then)


async def slow_body(peer: Peer) -> None:
    if await peer.request() is None:
        return
    peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (300, b"s" * 300))
    await peer.closed()


CHUNKY = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"c" * 3000, b"d" * 3000)
GZIPPED = answer(gzip.compress(ORIGINAL), "200 OK", "Content-Encoding: gzip")


@pytest.mark.parametrize("handler,error,within", [
    (KEEP_ALIVE, None, 3.0),
    (answering(CHUNKY), None, 3.0),
    (answering(GZIPPED), None, 3.0),
    (answering(CHUNKY), BodyTooLarge, 3.0),  # past a 4,000-byte limit, after some was taken
    (half_then("close"), ConnectionDropped, 3.0),  # a declared length, taken whole, then dropped
    (half_then("reset", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n12c\r\n"), ConnectionDropped, 3.0),
    (once(answer(b"ok") + b"HTTP/1.1 200 OK\r\n\r\n"), None, 3.0),
    (slow_body, TimeoutError, 0.3),  # cancelled with some of a chunked body held
    (half_then("wait"), TimeoutError, 0.3),  # cancelled with a declared length held
], ids=["length", "chunked", "gzip", "too-large", "dropped", "reset", "extra-bytes", "cancelled-chunked",
        "cancelled-length"])
async def test_the_budget_is_given_back_after_every_call(handler, error, within):
    budget = ByteBudget(MiB)
    async with serve(handler) as server, session() as http:
        if error is None:
            response = await call(http, server.url(), budget=budget)
            assert response.status == 200 and response.body
        else:
            with pytest.raises(error):
                await call(http, server.url(), budget=budget, limit=4000, within=within)
        assert budget.held == 0
        await settle()  # nothing arriving later takes any either
        assert budget.held == 0
    assert server.connections == 1


# --- bytes nobody asked for --------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    answer(b"second"),  # a second answer to one request
    b"junk that is not HTTP",
    b"HTTP/1.1 200 OK\r\nContent-Le",  # the start of one
])
async def test_bytes_after_the_answer_mean_the_connection_is_not_reused(extra):
    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(answer(b"first") + extra if peer.index == 1 else answer(b"later"))

    async with serve(handle) as server, session() as http:
        first = await call(http, server.url())
        assert http.open_connections == 0  # closed at once, not left idle
        await until(lambda: server.ended == [1])
        second = await call(http, server.url())
    assert (first.body, second.body) == (b"first", b"later")
    assert server.connections == 2
    assert [r.connection for r in server.requests] == [1, 2]


async def test_an_idle_connection_that_speaks_is_dropped():
    async def handle(peer: Peer) -> None:
        n = 0
        while await peer.request() is not None:
            n += 1
            peer.send(answer(b"honest"))
            if peer.index == 1 and n == 1:
                await peer.writer.drain()
                await asyncio.sleep(0.05)
                peer.send(answer(b"unsolicited"))  # as if it answered the next request in advance

    async with serve(handle) as server, session() as http:
        await call(http, server.url())
        await until(lambda: http.open_connections == 0)  # dropped as soon as it spoke
        await until(lambda: server.ended == [1])
        second = await call(http, server.url())
    assert second.body == b"honest"
    assert server.connections == 2


async def test_an_idle_connection_the_member_closes_is_dropped():
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            peer.send(answer(b"bye"))  # keep-alive by its headers, closed all the same

    async with serve(handle) as server, session() as http:
        await call(http, server.url())
        await until(lambda: http.open_connections == 0)
        second = await call(http, server.url())
    assert second.body == b"bye"
    assert server.connections == 2


# --- the pool ----------------------------------------------------------------------------------------------------


def answering_after(seconds: float, body: bytes) -> Handler:
    """Every request answered with ``body``, ``seconds`` after it came."""

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            await asyncio.sleep(seconds)
            peer.send(answer(body))

    return handle


async def test_the_pool_never_opens_more_than_max_connections():
    async with serve(answering_after(0.1, b"slow")) as server:
        async with session(max_connections=2) as http:
            answers = await asyncio.gather(*(call(http, server.url(f"/{i}")) for i in range(6)))
            assert http.open_connections == 2
        await until(lambda: sorted(server.ended) == [1, 2])  # closed with the session
    assert [a.body for a in answers] == [b"slow"] * 6
    assert sorted(r.target for r in server.requests) == [f"/{i}" for i in range(6)]
    assert server.most_open == 2 and server.connections == 2
    assert http.open_connections == 0


def hanging_first(answers_after: float = 0.0) -> Handler:
    """The first connection reads its request and never answers; later ones answer (after ``answers_after`` s)."""

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            if peer.index == 1:
                await peer.closed()
                return
            await asyncio.sleep(answers_after)
            peer.send(answer(b"late"))

    return handle


async def test_a_call_cancelled_waiting_for_its_answer_closes_its_connection():
    async with serve(hanging_first()) as server, session(max_connections=1) as http:
        with pytest.raises(TimeoutError):
            await call(http, server.url("/hangs"), within=0.2)
        assert http.open_connections == 0  # its slot is free at once
        await until(lambda: server.ended == [1])
        response = await call(http, server.url("/next"))
        assert http.open_connections == 1
    assert response.body == b"late"
    assert server.connections == 2


async def test_a_call_cancelled_waiting_for_a_slot_leaks_nothing():
    async with serve(answering_after(0.3, b"served")) as server, session(max_connections=1) as http:
        holder = asyncio.create_task(call(http, server.url("/holder")))
        await until(lambda: len(server.requests) == 1)
        with pytest.raises(TimeoutError):
            await call(http, server.url("/impatient"), within=0.1)  # waits for the one slot, then gives up
        patient = await call(http, server.url("/patient"))
        assert (await holder).body == patient.body == b"served"
        assert http.open_connections == 1
    assert [r.target for r in server.requests] == ["/holder", "/patient"]
    assert server.connections == 1


async def test_a_full_pool_closes_an_idle_connection_to_another_origin():
    async with serve(KEEP_ALIVE) as one, serve(KEEP_ALIVE) as two, session(max_connections=1) as http:
        await call(http, one.url())
        await call(http, two.url())  # the idle one to `one` makes way
        assert http.open_connections == 1
        await until(lambda: one.ended == [1])
        await call(http, two.url())
    assert (one.connections, two.connections) == (1, 1)


# --- idle expiry -------------------------------------------------------------------------------------------------


async def test_an_idle_connection_is_closed_after_keepalive():
    loop = asyncio.get_running_loop()
    async with serve(KEEP_ALIVE) as server, session(keepalive=0.2) as http:
        await call(http, server.url())
        idle_from = loop.time()
        await until(lambda: server.ended == [1], within=1.0)
        assert http.open_connections == 0
        assert server.ended_at[0] - idle_from >= 0.15
        await call(http, server.url())  # a new one
    assert server.connections == 2


# --- failures ----------------------------------------------------------------------------------------------------


async def test_nothing_listening_is_connect_failed():
    async with session() as http:
        with pytest.raises(ConnectFailed):
            await call(http, URL(f"http://127.0.0.1:{free_port()}/"))
        assert http.open_connections == 0


async def test_a_connection_that_never_completes_its_handshake_is_connect_failed():
    """TCP accepted, TLS never answered: the connect timeout covers the handshake."""
    loop = asyncio.get_running_loop()
    async with serve(Peer.closed) as server, session() as http:
        started = loop.time()
        with pytest.raises(ConnectFailed):
            await call(http, server.url().with_scheme("https"), connect_timeout=0.2)
        assert loop.time() - started < 1.0
        assert http.open_connections == 0
    assert server.connections == 1


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_fresh_connection_dropped_before_the_answer(how):
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None and how == "reset":
            peer.reset()

    async with serve(handle) as server, session() as http:
        with pytest.raises(ConnectionDropped) as err:
            await call(http, server.url())
        assert http.open_connections == 0
    assert (err.value.reused, err.value.answered, err.value.reset) == (False, False, how == "reset")
    assert len(server.requests) == 1


async def test_a_pooled_connection_closed_on_the_next_request_is_the_keep_alive_race():
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            peer.send(answer())
        await peer.request()  # read the second one, then close without a word

    async with serve(handle) as server, session() as http:
        await call(http, server.url("/one"))
        with pytest.raises(ConnectionDropped) as err:
            await call(http, server.url("/two"))
        assert http.open_connections == 0
    assert (err.value.reused, err.value.answered) == (True, False)
    assert [r.target for r in server.requests] == ["/one", "/two"]


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 200 OK\r\nContent-Le",  # half a head
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",  # half a body
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # half a chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",  # no last chunk
], ids=["head", "body", "chunk", "last-chunk"])
async def test_half_an_answer_then_close_is_dropped_answered(data):
    async with serve(once(data, "close")) as server, session() as http:
        with pytest.raises(ConnectionDropped) as err:
            await call(http, server.url())
        assert http.open_connections == 0
    assert (err.value.answered, err.value.reused, err.value.reset) == (True, False, False)


# --- HEAD --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1000, 10**12])
async def test_a_head_answer_returns_at_once_without_a_body(length):
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nContent-Type: text/plain\r\n\r\n".encode()

    async def handle(peer: Peer) -> None:
        while (seen := await peer.request()) is not None:
            peer.send(head if seen.method == "HEAD" else answer())  # the body of a HEAD never comes

    async with serve(handle) as server, session() as http:
        response = await call(http, server.url(), "HEAD", limit=100, within=0.5)
        later = await call(http, server.url())
    assert (response.status, response.body, response.headers["content-length"]) == (200, b"", str(length))
    assert server.requests[0].method == "HEAD"
    assert (later.status, later.body) == (200, b"ok")


# --- the egress policy -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"])
async def test_a_denied_destination_is_never_connected_to(host):
    async with serve(KEEP_ALIVE) as server, session(EgressPolicy.denying(["127.0.0.0/8"])) as http:
        for _ in range(2):  # and again: nothing about it was remembered as allowed
            with pytest.raises(EgressDenied):
                await call(http, server.url(host=host))
        assert http.open_connections == 0
        await settle()
    assert server.connections == 0


async def test_an_allowed_name_is_reached_on_the_addresses_the_policy_checked():
    async with serve(KEEP_ALIVE) as server, session(EgressPolicy.denying(["10.0.0.0/8"])) as http:
        response = await call(http, server.url(host="localhost"))  # ::1 may come first: nothing listens there
    assert response.body == b"ok"
    assert server.requests[0].values("host") == [f"localhost:{server.port}"]


# --- TLS ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_https_with_a_trusted_certificate(certificate, host):
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    async with serve(KEEP_ALIVE, tls=server_tls(certificate)) as server, session(tls=trusting) as http:
        first = await call(http, server.url("/a", host=host))
        second = await call(http, server.url("/b", host=host))
    assert (first.status, first.body, second.body) == (200, b"ok", b"ok")
    assert server.connections == 1 and len(server.requests) == 2


async def test_https_with_an_untrusted_certificate_is_connect_failed(certificate):
    async with serve(KEEP_ALIVE, tls=server_tls(certificate)) as server, session() as http:
        with pytest.raises(ConnectFailed):
            await call(http, server.url())
        assert http.open_connections == 0
    assert server.requests == []


async def test_https_to_a_name_the_certificate_does_not_carry_is_connect_failed(certificate):
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    async with serve(KEEP_ALIVE, tls=server_tls(certificate), host="127.0.0.2") as server, \
            session(tls=trusting) as http:
        with pytest.raises(ConnectFailed):
            await call(http, server.url())
        assert http.open_connections == 0
    assert server.requests == []
