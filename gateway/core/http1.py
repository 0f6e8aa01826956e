"""The members' HTTP/1.1 client: pooled keep-alive connections on asyncio's own transports, answers parsed by
``httptools`` (llhttp, Node.js's parser), under the gateway's egress policy.

It does what a member call needs and nothing more, which is why it costs about half the CPU of aiohttp's client per
call (bench/bench_upstream.py, figure 1; on the uncached path the client was most of a request): one request at a
time per connection, the whole answer read into memory under a cap, no redirects followed (the caller follows them
by hand, :mod:`gateway.core.redirects`), no cookies kept, no proxy, no ``~/.netrc``.

The rules:

* **Connections** are pooled per origin (scheme, host, port), at most ``max_connections`` open per
  :class:`Http1Session` in all (a caller waits for one beyond that); an idle one is reused most recent first and
  closed once it has been idle ``keepalive`` seconds, when the member closes it, or when the member sends anything
  while it is idle. A connection whose answer was not read to its end (a failure, a cancelled call, the member's
  ``Connection: close``, bytes after the answer) is closed, never reused.
* **The egress policy** (:mod:`gateway.core.egress`) judges every connection: an IP literal (any spelling) before
  anything is sent; a name is resolved by the policy (:meth:`~gateway.core.egress.EgressPolicy.resolve`) and only
  the addresses it checked are connected to, in order. With a policy that denies nothing, the loop resolves.
  A refusal is :class:`~gateway.core.egress.EgressDenied`, raised as is.
* **TLS** (``https``): the default context (the system's CAs, ``SSL_CERT_FILE``), the URL's host as SNI and as the
  name the certificate must carry.
* **Bodies**: at most ``limit`` decoded bytes (``gzip`` and ``deflate`` are asked for and decoded as they arrive, so a
  compressed body cannot expand past the cap): :class:`~gateway.core.http_client.BodyTooLarge` when the
  ``Content-Length`` says more (nothing read) or the bytes read pass it (the connection is closed at once). With a
  :class:`~gateway.core.byte_budget.ByteBudget` the bytes are taken from it as they are read (a body of declared
  length and no encoding whole, before any of it is read), :class:`~gateway.core.byte_budget.OverBudget` when they
  do not fit, all given back when the call ends. An answer's head is at most :data:`MAX_HEAD_BYTES`, and so are
  its trailer fields (which are dropped, never mixed into the headers: RFC 9110 §6.5.1).
* **Failures** are this module's own, so no caller mistakes one for another: :class:`ConnectFailed` (no connection
  made: refused, unroutable, a name that does not resolve, not accepted within the connect timeout),
  :class:`ConnectionDropped` (closed or reset before the whole answer; it says whether the connection was a reused
  one and whether any of the answer had arrived, which is what tells the keep-alive race, RFC 9112 §9.3.1, from a
  member's failure), :class:`MalformedAnswer` (not HTTP/1.x, an oversized head, a broken compressed body).
  A call's deadline is its caller's (``asyncio.timeout`` around :meth:`Http1Session.request`): a cancelled call
  closes its connection.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.core.byte_budget import ByteBudget, OverBudget
from gateway.core.egress import EgressPolicy
from gateway.core.http_client import BodyTooLarge, check_declared_length

MAX_HEAD_BYTES = 65_536
"""The largest status line and headers of an answer taken (aiohttp's limits are 8,190 bytes per line)."""
KEEPALIVE = 15.0
"""Seconds an idle connection is kept (aiohttp's default)."""
USER_AGENT = "gateway"
_DEFAULTS = tuple((name.lower(), f"{name}: {value}") for name, value in (
    ("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"), ("User-Agent", USER_AGENT)))
"""The headers every request carries unless the caller sets its own: (lower-case name, header line)."""
_OWN = frozenset({"host", "content-length", "transfer-encoding", "connection"})
"""Headers only this client sets (a caller's are dropped)."""
_DECODED = frozenset({"gzip", "x-gzip", "deflate"})
_ZLIB_ANY = 32 + zlib.MAX_WBITS
"""zlib's window bits that take a gzip or a zlib stream alike."""
_FORBIDDEN = frozenset("\r\n\0")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Http1Error(Exception):
    """A call this client could not complete."""


class ConnectFailed(Http1Error):
    """No connection was made (refused, unroutable, a name that does not resolve, or not accepted in time): the
    request was never sent."""


class ConnectionDropped(Http1Error):
    """The connection was closed (``reset``: reset) before the whole answer arrived. ``reused``: it had served an
    earlier call; ``answered``: some of the answer had arrived. A reused connection dropped before any answer is the
    keep-alive race: the request never reached the member's application."""

    def __init__(self, *, reset: bool, reused: bool, answered: bool) -> None:
        how = "reset" if reset else "closed"
        when = "in the middle of the answer" if answered else "before any answer"
        super().__init__(f"connection {how} by the member {when}")
        self.reset = reset
        self.reused = reused
        self.answered = answered


class MalformedAnswer(Http1Error):
    """What the member sent is not an HTTP/1.x answer this client takes."""


@dataclass(frozen=True, slots=True)
class Http1Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


# --- one exchange: the answer to one request, read under its caps (no I/O) ----------------------------------


class _Exchange:
    """The answer to one request as it arrives: head, headers, the capped and decoded body, the budget held."""

    __slots__ = (
        "body",
        "budget",
        "decoder",
        "fed",
        "future",
        "head_done",
        "head_only",
        "headers",
        "interim",
        "keep_alive",
        "limit",
        "received",
        "status",
        "taken",
        "trailers",
        "until_eof",
        "whole",
    )

    def __init__(self, future: asyncio.Future[Http1Response], limit: int, budget: ByteBudget | None,
                 head_only: bool) -> None:
        self.future = future
        self.limit = limit
        self.budget = budget
        self.head_only = head_only
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.body = bytearray()
        self.taken = 0
        """Bytes held from the budget."""
        self.whole = False
        """The declared length was taken from the budget before the body."""
        self.decoder: Any = None
        self.until_eof = False
        """The body ends where the connection does (no length, not chunked)."""
        self.interim = False
        self.received = 0
        self.head_done = False
        self.keep_alive = False
        self.fed = False
        """Some of a compressed body reached the decoder."""
        self.trailers = 0
        """Bytes of trailer fields seen (dropped: RFC 9110 §6.5.1 keeps them apart from the headers)."""

    @property
    def over(self) -> bool:
        return self.future.done()

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def give_back(self) -> None:
        if self.budget is not None and self.taken:
            self.budget.give(self.taken)
        self.taken = 0

    def head(self, status: int, chunked: bool) -> None:
        """The head is complete: judge the declared length and encoding before any of the body is read."""
        self.status = status
        if 100 <= status < 200 and status != 101:
            self.interim = True  # 100 Continue, 103 Early Hints: the answer follows
            self.headers = CIMultiDict()
            return
        self.head_done = True
        if self.head_only:
            return  # the answer to a HEAD: its Content-Length describes a body that does not come
        headers = self.headers
        declared = headers.get("content-length", "")
        try:
            check_declared_length(declared, self.limit)
        except BodyTooLarge as exc:
            self.fail(exc)
            return
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in _DECODED:
            self.decoder = zlib.decompressobj(_ZLIB_ANY)
        elif declared.isdigit() and encoding in ("", "identity") and self.budget is not None:
            try:
                self.budget.take(int(declared))
            except OverBudget as exc:
                self.fail(exc)
                return
            self.taken = int(declared)
            self.whole = True
        self.until_eof = not declared and not chunked and status not in (204, 304)

    def chunk(self, data: bytes) -> None:
        if self.over:
            return
        if self.decoder is not None:
            self.fed = True
            try:
                data = self.decoder.decompress(data, self.limit - len(self.body) + 1)
            except zlib.error:
                self.fail(MalformedAnswer("a compressed body that does not decompress"))
                return
            if self.decoder.unconsumed_tail:
                self.fail(BodyTooLarge(self.limit))
                return
        if len(self.body) + len(data) > self.limit:
            self.fail(BodyTooLarge(self.limit))
            return
        if self.budget is not None and not self.whole:
            try:
                self.budget.take(len(data))
            except OverBudget as exc:
                self.fail(exc)
                return
            self.taken += len(data)
        self.body += data

    def finish(self) -> None:
        if self.over:
            return
        if self.decoder is not None and self.fed and not self.decoder.eof:
            self.fail(MalformedAnswer("a compressed body cut short"))
            return
        self.future.set_result(Http1Response(self.status, CIMultiDictProxy(self.headers), bytes(self.body)))


# --- one connection ---------------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection to one origin: the transport, its parser, the exchange under way (if any)."""

    def __init__(self, pool: Http1Session, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: _Exchange | None = None
        self.uses = 0
        self.idle_since = 0.0
        self.lost = False
        self.broken = False
        """Not to be reused: bytes came outside an exchange, or the answer was not read to its end."""
        self.counted = True
        """Still counted among the session's open connections."""

    # asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.over:
            self.broken = True  # an idle connection (or one whose answer is over) that speaks is not trusted
            if self.transport is not None:
                self.transport.abort()
            return
        exchange.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.broken = True
            exchange.fail(MalformedAnswer("an upgrade nobody asked for"))
        except httptools.HttpParserError as exc:
            self.broken = True  # the parser is spent, whether or not the answer was already whole
            exchange.fail(MalformedAnswer(f"not an HTTP/1.x answer ({exc})"))
        if not exchange.head_done and exchange.received > MAX_HEAD_BYTES:
            exchange.fail(MalformedAnswer(f"an answer's head larger than {MAX_HEAD_BYTES} bytes"))
        if exchange.over and not exchange.future.cancelled() and exchange.future.exception() is not None:
            self.broken = True
            if self.transport is not None:
                self.transport.abort()

    def eof_received(self) -> bool:
        return False  # close: the member has finished sending (an answer read to EOF ends here)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        exchange = self.exchange
        if exchange is not None and not exchange.over:
            if exchange.head_done and exchange.until_eof and exc is None:
                exchange.finish()
            else:
                exchange.fail(ConnectionDropped(reset=exc is not None, reused=self.uses > 1,
                                                answered=exchange.received > 0))
        self.pool._lost(self)

    # the parser's side
    def on_message_begin(self) -> None:
        exchange = self.exchange
        if exchange is None or exchange.over:
            self.broken = True  # a second answer to one request

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.over:
            return
        if exchange.head_done:  # a trailer field (after a chunked body): never one of the answer's headers
            exchange.trailers += len(name) + len(value)
            if exchange.trailers > MAX_HEAD_BYTES:
                exchange.fail(MalformedAnswer(f"trailer fields larger than {MAX_HEAD_BYTES} bytes"))
            return
        exchange.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or exchange.over:
            return
        exchange.interim = False
        chunked = "chunked" in exchange.headers.get("transfer-encoding", "").lower()
        exchange.head(self.parser.get_status_code(), chunked)
        if exchange.head_done and exchange.head_only:
            self.broken = True  # the parser cannot be told the answer to a HEAD has no body: do not reuse
            exchange.finish()

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.chunk(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or exchange.over:
            return
        if exchange.interim:
            exchange.interim = False
            return
        exchange.keep_alive = self.parser.should_keep_alive()
        exchange.finish()

    # the session's side
    def usable(self, now: float, keepalive: float) -> bool:
        return (not self.lost and not self.broken and self.transport is not None and not self.transport.is_closing()
                and now - self.idle_since < keepalive)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


# --- the session: connections per origin, under one limit and the egress policy --------------------------


def _head(method: str, url: URL, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The request's head: the request line, ``Host``, the defaults a caller did not set, the caller's headers and a
    ``Content-Length`` for a body (or a method that carries one). :class:`ValueError` for a header that would split
    the head (CR, LF or NUL in a name or value)."""
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1", f"Host: {url.host_port_subcomponent}"]
    given = {name.lower() for name in headers}
    lines.extend(line for name, line in _DEFAULTS if name not in given)
    for name, value in headers.items():
        if _FORBIDDEN.intersection(name) or _FORBIDDEN.intersection(value):
            raise ValueError(f"header {name!r} holds a line break or NUL")
        if name.lower() not in _OWN:
            lines.append(f"{name}: {value}")
    if body is not None or method in _BODY_METHODS:
        lines.append(f"Content-Length: {len(body or b'')}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")


_TLS: ssl.SSLContext | None = None


def default_tls() -> ssl.SSLContext:
    """The process's TLS context for members (made once: loading the CAs takes milliseconds)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


class Http1Session:
    """Pooled HTTP/1.1 connections under ``egress``, at most ``max_connections`` open at once (see the module)."""

    def __init__(self, egress: EgressPolicy, *, max_connections: int = 100, keepalive: float = KEEPALIVE,
                 tls: ssl.SSLContext | None = None) -> None:
        self._egress = egress
        self._limit = max_connections
        self._keepalive = keepalive
        self._tls = tls
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def open_connections(self) -> int:
        return self._open

    async def request(
        self, method: str, url: URL, *, headers: Mapping[str, str], body: bytes | None, connect_timeout: float,
        limit: int, budget: ByteBudget | None = None,
    ) -> Http1Response:
        """``method url`` and its whole answer (at most ``limit`` bytes decoded), on a pooled connection or a new one
        (made within ``connect_timeout`` seconds). Raises this module's errors, :class:`EgressDenied`,
        :class:`BodyTooLarge` or :class:`OverBudget`."""
        if self._closed:
            raise RuntimeError("the session is closed")
        host = url.raw_host or ""
        self._egress.check_literal(host)
        head = _head(method, url, headers, body)
        key = (url.scheme, host, url.port or 0)
        connection = await self._checkout(key, connect_timeout)
        loop = asyncio.get_running_loop()
        exchange = _Exchange(loop.create_future(), limit, budget, method == "HEAD")
        connection.exchange = exchange
        connection.uses += 1
        done = False
        try:
            if connection.lost:
                raise ConnectionDropped(reset=False, reused=connection.uses > 1, answered=False)
            assert connection.transport is not None
            connection.transport.write(head + body if body else head)
            response = await exchange.future
            done = exchange.keep_alive and not connection.broken
            return response
        finally:
            exchange.give_back()
            connection.exchange = None
            if done:
                self._release(connection)
            else:
                self._discard(connection)

    async def _checkout(self, key: tuple[str, str, int], connect_timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            idle = self._idle.get(key)
            now = loop.time()
            while idle:
                connection = idle.pop()
                if connection.usable(now, self._keepalive):
                    return connection
                self._discard(connection)
            if self._open < self._limit:
                self._open += 1
                try:
                    return await self._connect(key, connect_timeout)
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            if self._close_an_idle_one():
                continue
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the turn on
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def _connect(self, key: tuple[str, str, int], timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        scheme, host, port = key
        tls = (self._tls or default_tls()) if scheme == "https" else None
        made: _Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                addresses = [host] if self._egress.denies_nothing else await self._egress.resolve(host, port)
                last: OSError | None = None
                for address in addresses:
                    try:
                        _, made = await loop.create_connection(
                            lambda: _Connection(self, key), address, port, ssl=tls,
                            server_hostname=host if tls is not None else None)
                        break
                    except OSError as exc:
                        last = exc
                else:
                    raise ConnectFailed(str(last) if last else "no address") from last
        except BaseException as exc:
            if made is not None:  # made just as the timeout or a cancellation came: not kept, never leaked
                made.close()
            if isinstance(exc, TimeoutError):
                raise ConnectFailed(f"not accepted within {timeout:g} s") from None
            if isinstance(exc, OSError):  # the name did not resolve
                raise ConnectFailed(str(exc) or type(exc).__name__) from exc
            raise
        assert made is not None
        return made

    def _release(self, connection: _Connection) -> None:
        if self._closed:
            self._discard(connection)
            return
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(connection.key, deque()).append(connection)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self._keepalive, self._expire)
        self._wake()

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        if connection.counted:
            connection.counted = False
            self._open -= 1
            self._wake()

    def _lost(self, connection: _Connection) -> None:
        """The member closed ``connection``: an idle one leaves the pool at once."""
        idle = self._idle.get(connection.key)
        if idle is not None and connection in idle:
            idle.remove(connection)
            self._discard(connection)

    def _close_an_idle_one(self) -> bool:
        for idle in self._idle.values():
            if idle:
                self._discard(idle.popleft())
                return True
        return False

    def _expire(self) -> None:
        self._sweep = None
        now = asyncio.get_running_loop().time()
        left = False
        for idle in self._idle.values():
            for connection in [c for c in idle if not c.usable(now, self._keepalive)]:
                idle.remove(connection)
                self._discard(connection)
            left = left or bool(idle)
        if left and not self._closed:
            self._sweep = asyncio.get_running_loop().call_later(self._keepalive / 2, self._expire)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close every idle connection; one still in use closes when its call ends."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            while idle:
                self._discard(idle.popleft())
        await asyncio.sleep(0)  # let the transports close
