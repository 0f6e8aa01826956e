"""How the gateway's cold callers build an outbound HTTP client, and how any caller reads a body under a cap.

:func:`build_client` makes a pooled ``httpx.AsyncClient`` for the cold callers (Passport key fetches, the registry's
join check, remote resolver lists), on httpx's own engine (``"httpcore"``) or aiohttp's (``"aiohttp"``, httpx's API
over ``httpx-aiohttp``). The members' hot path has its own lean client under the same rules,
:class:`gateway.core.http1.Http1Session`.

The rules every outbound client shares:

* **redirects are never followed by the engine**: a caller that follows any does so by hand, asking
  :mod:`gateway.core.redirects`;
* **cookies are never kept**, so never sent again: each call carries its own credentials, and a cookie one
  caller's call brought back must not ride along on another's;
* **the egress policy** (:mod:`gateway.core.egress`) decides which addresses a connection may reach, at connect
  time, on the addresses actually connected to: an IP literal (any spelling) before the engine sees it, a name on
  each resolution (aiohttp's DNS cache then pins the checked answer; httpcore resolves every new connection). A
  refused connection raises :class:`EgressDenied` (never an engine's error, so no caller mistakes it for a network
  failure and retries it). A policy that denies nothing adds nothing to a call. While a policy denies anything,
  proxies from the environment are not used (the policy must see the destination, not a proxy);
* **aiohttp's own replay** of a request on a dropped pooled connection is off unless asked for (a caller's retry
  policy must be the only one): aiohttp would replay an idempotent request after any early close, also on a new
  connection, where the request may have reached the member.

:func:`read_capped` reads an httpx response's body and stops past ``limit`` decoded bytes (:class:`BodyTooLarge`), so
no server can make the gateway buffer without bound; with a :class:`~gateway.core.byte_budget.ByteBudget` the bytes
being read by every call together are bounded too.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Literal

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from gateway.core.byte_budget import ByteBudget
from gateway.core.egress import EgressPolicy

Engine = Literal["aiohttp", "httpcore"]
AIOHTTP_DEFAULT_CONNECTIONS = 100
"""aiohttp's own default pool size."""


class NoCookies(httpx.Cookies):
    """A cookie jar that never keeps a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def build_client(
    *,
    egress: EgressPolicy,
    timeout: httpx.Timeout,
    engine: Engine = "httpcore",
    max_connections: int | None = None,
    replay_dropped: bool = False,
    headers: Mapping[str, str] | None = None,
    trust_env: bool = True,
) -> httpx.AsyncClient:
    """A client under ``egress``. For the aiohttp engine, ``max_connections`` bounds its pool (aiohttp's 100 by
    default) and ``replay_dropped`` lets aiohttp resend an idempotent request once when a pooled connection
    turns out to be closed. ``timeout``, ``headers`` and ``trust_env`` as httpx's."""
    transport: httpx.AsyncBaseTransport | None
    if engine == "aiohttp":
        limit = max_connections or AIOHTTP_DEFAULT_CONNECTIONS
        transport = AiohttpTransport(client=lambda: _aiohttp_session(egress, limit, replay_dropped))
        if not egress.denies_nothing:
            transport = _LiteralCheck(transport, egress)
    elif egress.denies_nothing:
        transport = None  # httpx's own, as configured by trust_env (proxies from the environment included)
    else:
        pooled = httpx.AsyncHTTPTransport(trust_env=trust_env)
        # httpx has no public way to hand its pool a network backend; the attribute is httpcore's own and the
        # egress tests of test_http_client notice if it stops working.
        pool = pooled._pool
        assert isinstance(pool, httpcore.AsyncConnectionPool)
        pool._network_backend = _EgressBackend(egress)
        transport = pooled
    client = httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, headers=headers,
                               trust_env=trust_env)
    # httpx has no public switch for "no cookie jar"; its setter copies into a plain jar. The private attribute
    # is checked by test_cookies_are_never_kept.
    client._cookies = NoCookies()
    return client


# --- the capped read --------------------------------------------------------------------------------------------


class BodyRefused(Exception):
    """A body :func:`read_capped` would not take."""


class BodyTooLarge(BodyRefused):
    """More than ``limit`` bytes: ``declared`` when the ``Content-Length`` said so (nothing was read), else
    ``None`` (the read stopped past the limit)."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit
        self.declared = declared


class BodyEncoded(BodyRefused):
    """A compressed body although only an identity one was wanted."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"compressed body ({encoding})")
        self.encoding = encoding


async def read_capped(
    response: httpx.Response, limit: int, *, identity_only: bool = False, budget: ByteBudget | None = None
) -> bytes:
    """The body of a streamed ``response``, at most ``limit`` bytes (decoded, so a compressed body cannot
    expand past it): :class:`BodyTooLarge` as soon as the ``Content-Length`` or the bytes read exceed it. With
    ``identity_only`` a ``Content-Encoding`` other than identity is :class:`BodyEncoded` and the body is read
    as sent. With ``budget`` every chunk is taken from it before it is kept (:class:`~gateway.core.byte_budget.
    OverBudget` when it does not fit) and all of it is given back when the read ends, however it ends."""
    check_declared_length(response.headers.get("content-length", ""), limit)
    if identity_only:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise BodyEncoded(encoding)
        return await _gather(response.aiter_raw(), limit, budget)
    return await _gather(response.aiter_bytes(), limit, budget)


def check_declared_length(declared: str, limit: int) -> None:
    """:class:`BodyTooLarge` before anything is read when the ``Content-Length`` says more than ``limit`` (every
    capped read: :func:`read_capped`, :mod:`gateway.core.http1`)."""
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit, int(declared))


async def _gather(stream: AsyncIterator[bytes], limit: int, budget: ByteBudget | None) -> bytes:
    """The rule of a capped read: chunks kept until they pass ``limit``, each taken from ``budget`` first.

    The body grows in one buffer (no list of chunks joined at the end, which held twice the body), and a read cut
    short drops what it read at once."""
    body = bytearray()
    try:
        async for chunk in stream:
            if len(body) + len(chunk) > limit:
                raise BodyTooLarge(limit)
            if budget is not None:
                budget.take(len(chunk))
            body += chunk
        return bytes(body)
    finally:
        if budget is not None:
            budget.give(len(body))


# --- the engines under the egress policy ------------------------------------------------------------------------


def _aiohttp_session(egress: EgressPolicy, limit: int, replay_dropped: bool) -> aiohttp.ClientSession:
    """aiohttp's session, created lazily on the event loop by httpx-aiohttp's transport."""
    resolver = None if egress.denies_nothing else _EgressResolver(egress)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, resolver=resolver), cookie_jar=aiohttp.DummyCookieJar(),
    )  # trust_env off (aiohttp's default): no proxy from the environment, no credentials from ~/.netrc
    if not replay_dropped:
        # The attribute is private; test_aiohttp_does_not_replay_a_dropped_request (test_http_client) notices if
        # it ever stops working.
        session._retry_connection = False
    return session


class _EgressResolver(AbstractResolver):
    """aiohttp's resolver for names under the policy: aiohttp connects to exactly the addresses returned."""

    def __init__(self, egress: EgressPolicy) -> None:
        self._egress = egress
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[
            ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        refused = self._egress.refusal(host, (str(info["host"]) for info in found))
        if refused is not None:
            raise refused
        return found

    async def close(self) -> None:
        await self._inner.close()


class _LiteralCheck(httpx.AsyncBaseTransport):
    """The policy for IP-literal hosts (any spelling, numeric IPv4 forms included), which aiohttp connects to, or
    refuses, without asking its resolver. A verdict costs a dictionary lookup once a host has been judged."""

    def __init__(self, inner: httpx.AsyncBaseTransport, egress: EgressPolicy) -> None:
        self._inner = inner
        self._egress = egress

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._egress.check_literal(request.url.host)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _EgressBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend under the policy: a host is resolved and checked here, then its addresses are
    tried in order (IP literals included: they resolve to themselves)."""

    def __init__(self, egress: EgressPolicy) -> None:
        self._egress = egress
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(until):
                addresses = await self._egress.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            left = None if until is None else max(0.0, until - loop.time())
            try:
                return await self._inner.connect_tcp(address, port, left, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # getaddrinfo answers at least one address or raises
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
