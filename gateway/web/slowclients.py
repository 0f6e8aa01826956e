"""Serving with a request-head deadline: a client that starts a request must finish its head in time.

aiohttp closes an idle connection after ``keepalive_timeout`` (counted from the connection's opening or the last
response; the gateway sets it through the app's ``handler_args``), and the body guard
(:func:`gateway.web.body.body_guard`) bounds a body's arrival; nothing in aiohttp bounds the time a client takes to
send a request's *head* once it has started. :class:`GatewayRunner` serves an app like ``web.AppRunner`` but with
:class:`HeadDeadlineHandler` as the connection protocol: the first byte of a request head starts a timer of
``header_timeout`` seconds, a completely parsed head cancels it, and a head still incomplete when it fires is
answered ``408`` and the connection closed.

aiohttp offers no public hook for "a request head was parsed", so this uses three private details, kept in this one
module and guarded by tests that fail if they change (``tests/gateway/web/test_slow_clients.py``):
``AppRunner._make_server`` (overridden to build the server), ``Server._kwargs`` (the handler arguments it was built
with), and ``RequestHandler._waiter`` (the future the connection awaits its next request head on: pending means no
complete head is waiting).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

_HEAD_TIMEOUT_BODY = orjson.dumps({"msg": "request head not received in time", "status_code": 408})
HEAD_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_HEAD_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _HEAD_TIMEOUT_BODY
)
"""What a client whose head did not arrive in time is sent before its connection is closed."""

log = logging.getLogger("gateway.web.slowclients")


class HeadDeadlineHandler(RequestHandler):
    """aiohttp's connection protocol, plus: a request head must be complete ``header_timeout`` seconds after its
    first byte arrived, or the client gets a 408 and the connection is closed. A connection that sends nothing is
    aiohttp's ``keepalive_timeout``'s to close."""

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None

    def _awaiting_head(self) -> bool:
        """No complete request head is queued or being handled: the connection waits for one."""
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def data_received(self, data: bytes) -> None:
        was_waiting = self._awaiting_head()
        super().data_received(data)
        if not self._awaiting_head():  # the head is complete (or the connection closed): no deadline
            self._cancel_head_timer()
        elif was_waiting and self._head_timer is None and self._header_timeout > 0:
            self._head_timer = asyncio.get_running_loop().call_later(self._header_timeout, self._head_deadline)

    def _head_deadline(self) -> None:
        self._head_timer = None
        if self._awaiting_head() and self.transport is not None:
            # debug only: no request was received, and a crowd of slow clients must not flood the log
            log.debug("request head not received in time: connection closed",
                      extra={"remote": str(self.transport.get_extra_info("peername"))})
            self.transport.write(HEAD_TIMEOUT_RESPONSE)
            self.force_close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


class HeadDeadlineServer(web.Server):
    """aiohttp's low-level server, making :class:`HeadDeadlineHandler` connections."""

    def __init__(self, handler: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return HeadDeadlineHandler(self, loop=asyncio.get_running_loop(), header_timeout=self.header_timeout,
                                   **self._kwargs)


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` whose connections have a request-head deadline of ``header_timeout`` seconds."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app and merges its handler_args, as aiohttp does
        return HeadDeadlineServer(
            plain.request_handler, request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation, loop=asyncio.get_running_loop(),
            header_timeout=self._header_timeout, **plain._kwargs,
        )
