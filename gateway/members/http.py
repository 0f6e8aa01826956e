"""The shared upstream HTTP layer: one pooled HTTP/1.1 client per member, bounded by a :class:`Deadline`.

Rules every adapter inherits from :meth:`MemberHttp.request`:

* **Deadline first.** Each attempt's connect/read/pool timeouts are capped by the deadline's remaining time
  and the attempt runs under ``asyncio.timeout(remaining)``; a backoff sleep that would end past the deadline
  is not taken. Past the deadline the call raises :class:`MemberTimeout` at once (no stacked retries:
  the lesson of Cromwell PR #6439).
* **Retry only what is safe**: idempotent calls only, and only on connect errors (a connection never made: refused,
  unroutable, or not accepted within ``upstream.connect_timeout``), 429 and 502/503/504; at most ``retries + 1``
  attempts; jittered exponential backoff ("full jitter", ``backoff * 2**n``); a 429's ``Retry-After`` is honoured
  when it fits in the deadline, else the call gives up. Read timeouts, resets and other statuses are never
  retried. The schedule is one pure function, :func:`next_sleep`, driven by a plain loop (no retry library set up
  per call).
* **The keep-alive race is not a failure.** A member may close an idle pooled connection just as it is reused; the
  request then never reached its application (RFC 9112 §9.3.1). An idempotent call whose request went out on a
  pooled connection that was closed or reset before any answer is sent again at once, at most
  :data:`MAX_REPLAYS` times, within the same attempt (no backoff, no retry spent). A connection made for the call
  and then reset is the member's failure: never replayed.
* **Redirects** follow :data:`gateway.core.redirects.SAME_ORIGIN`: one to the origin of the URL asked (the member's
  ``base_url``, or the endpoint of the service called, which may be on another host) is followed by hand, at most
  :data:`MAX_REDIRECTS` times; one to any other origin is an error.
* **Attempt cap.** One attempt (connect, redirects, the whole body) lasts at most ``upstream.attempt_timeout``
  (default: the read timeout), so a member dripping its answer a byte at a time is cut like a hanging one (504,
  never retried), not at the request's deadline. As the cap is at most the read timeout and starts first, it is the
  read timeout too; the engine is given the connect timeout only.
* **Bounded bodies.** A call reads at most its cap: ``upstream.max_record_bytes`` for a metadata call (the
  default), :meth:`MemberHttp.bulk_cap` for a bulk answer, ``upstream.max_body_bytes`` for what may be large
  (search, discovery, the dictionary); past it, 502 :data:`TOO_LARGE` naming the member, read no further. Every
  call's bytes are taken from the process's in-flight budget (``upstream.inflight_bytes``) while they are read; a
  chunk that does not fit fails the call at once with 503 :data:`BUSY` (``Retry-After: 1``, never retried: the
  budget frees as other reads end, not within this call); a body of declared length and no encoding is taken
  whole, before any of it is read (:mod:`gateway.core.http1`). Malformed JSON is
  :class:`MemberUnavailable` with a clear message.
* **Failures name the member, never describe it** (:mod:`gateway.core.errors`): every error raised here has a
  public ``message`` of a generic kind (unreachable, timed out, answered HTTP 500, sent a malformed answer,
  answered too large a body) and a ``detail`` with the member's URL (without its query), the exception's text and
  the start of what the member sent. The detail is logged here, once, as a warning, carrying the request's id
  (:mod:`gateway.core.logs`); a call cut at the request's deadline is logged too, with its URL.
* **Every call carries the request's id and trace** (:mod:`gateway.core.propagation`): ``X-Request-Id``, and a
  W3C ``traceparent`` with the request's trace id and a new parent id per attempt, so a member logs the same id;
  with ``tracing.otlp_endpoint`` set, each attempt is a client span (:mod:`gateway.core.otel`) named in it.
* **No secrets in logs.** Headers are never logged, nor queries; the member's URL, method, path and status are.

This is policy above the transport: the client itself is :class:`gateway.core.http1.Http1Session`, the gateway's
lean HTTP/1.1 client (it never replays a request itself, so this retry policy is the only one; no cookies kept; no
proxy from the environment; the gateway's egress policy handed in, checked on every connection: names on their
resolution, IP literals of any spelling before anything is sent). URLs are ``yarl.URL``, answers' headers
multidict's case-insensitive ``CIMultiDictProxy``; the client's errors are mapped here
(:meth:`MemberHttp._exchange`). A connection the policy refuses is :class:`MemberUnavailable` (502) naming no
address, never retried; the address is logged. Redirects are judged by :data:`gateway.core.redirects.SAME_ORIGIN`
on ``httpx.URL`` (its URL type), converted only when a redirect comes. One call, the whole policy included, costs
less CPU than aiohttp's own GET + read + ``orjson.loads`` (bench/bench_upstream.py).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
import orjson
from yarl import URL

from gateway.core import otel
from gateway.core.byte_budget import ByteBudget, OverBudget, shared_budget
from gateway.core.deadline import Deadline
from gateway.core.egress import EgressDenied, EgressPolicy
from gateway.core.errors import (
    BUSY,
    MALFORMED,
    NOT_READY,
    TIMED_OUT,
    TOO_LARGE,
    UNREACHABLE,
    AccessDenied,
    MemberBusy,
    MemberTimeout,
    MemberUnavailable,
    NotFoundUpstream,
    NotReady,
    UpstreamError,
    answered,
    asked,
)
from gateway.core.http1 import ConnectFailed, ConnectionDropped, Http1Session, MalformedAnswer
from gateway.core.http_client import BodyTooLarge
from gateway.core.metrics import current
from gateway.core.propagation import own_trace, trace_var, upstream_headers
from gateway.core.redirects import REDIRECT_STATUSES, SAME_ORIGIN, RedirectRefused
from gateway.settings.sections import UpstreamConfig

log = logging.getLogger("gateway.members.http")

MAX_REDIRECTS = SAME_ORIGIN.max_hops
MAX_BACKOFF = 10.0
"""Upper bound of one backoff window, seconds."""
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_RETRY_AFTER = 5
"""Seconds to tell a client to wait when a member's ``202`` names no ``Retry-After``."""
MIN_TIMEOUT = 0.001
JSON_BODY = {"Content-Type": "application/json"}
"""The header of a call with a JSON body (a redirect that drops the body drops it too)."""
SNIPPET_CHARS = 300
"""How much of a member's answer a logged detail quotes."""
MAX_REPLAYS = 2
"""How many times one attempt of an idempotent call is sent again because the pooled connection it went out on was
dropped before any answer (the keep-alive race); each replay takes another connection (a new one once the pool
holds no other)."""

E = TypeVar("E", bound=UpstreamError)


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A member's complete (size-capped) answer."""

    member_id: str
    status: int
    headers: Mapping[str, str]
    """Case-insensitive (multidict's ``CIMultiDictProxy``)."""
    body: bytes
    url: str = ""
    """Where the answer came from (without the query): for logged details only."""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def snippet(self) -> str:
        """The start of the body, on one line: for logged details only."""
        return " ".join(self.body[:SNIPPET_CHARS].decode("utf-8", "replace").split())

    def json(self, what: str = "") -> Any:
        """The body parsed as JSON; :class:`MemberUnavailable` when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            kind = self.headers.get("content-type") or "no content type"
            raise self.malformed(what, f"a body that is not valid JSON ({kind}, {len(self.body)} bytes)") from None

    def json_object(self, what: str) -> dict[str, Any]:
        """The body as a JSON object; :class:`MemberUnavailable` for anything else."""
        doc = self.json(what)
        if not isinstance(doc, dict):
            raise self.malformed(what, f"expected a JSON object, got {type(doc).__name__}")
        return doc

    def malformed(self, what: str, why: str) -> MemberUnavailable:
        """The (logged) error for an answer that cannot be used: ``<what>: sent a malformed answer`` for the client,
        ``why``, the URL and the start of the body for the log."""
        return logged(MemberUnavailable(
            self.member_id, asked(what, MALFORMED), upstream_status=self.status,
            detail=f"{what or 'answer'} from {self.url or 'the member'}: HTTP {self.status}, {why}; "
                   f"body: {self.snippet()!r}",
        ))

    def message(self) -> str:
        """The member's own error message (indexd ``error``, DRS ``msg``, or ``message``), shortened; or ``""``."""
        try:
            doc = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return ""
        if isinstance(doc, dict):
            for key in ("error", "msg", "message", "detail"):
                said = doc.get(key)
                if isinstance(said, str):
                    return said[:300]
        return ""


def logged(error: E) -> E:
    """``error``, its detail logged (a warning when the member is at fault, else info: a 401/403/404/202 is an
    answer about the request, not a failure of the member). The line carries the request's id."""
    level = logging.INFO if isinstance(error, (AccessDenied, NotFoundUpstream, NotReady)) else logging.WARNING
    log.log(level, "upstream call failed", extra={
        "member": error.member_id, "answered": error.message, "detail": error.detail,
        "upstream_status": error.upstream_status,
    })
    return error


def error_for(response: UpstreamResponse, what: str) -> UpstreamError:
    """The (logged) error for an unwanted status: 202 :class:`NotReady` (with its ``Retry-After``), 401/403
    :class:`AccessDenied`, 404 :class:`NotFoundUpstream`, anything else :class:`MemberUnavailable`. The client reads
    ``<what>: answered HTTP <status>``; the member's own message, if it gave one, goes to the detail only."""
    said = response.message() or response.snippet()
    detail = f"{what} from {response.url or 'the member'}: HTTP {response.status}" + (f": {said!r}" if said else "")
    public = asked(what, answered(response.status))
    if response.status == 202:
        wait = retry_after(response.headers)
        return logged(NotReady(response.member_id, asked(what, NOT_READY), detail=detail,
                               retry_after=max(1, round(wait)) if wait is not None else DEFAULT_RETRY_AFTER))
    if response.status in (401, 403):
        return logged(AccessDenied(response.member_id, public, upstream_status=response.status, detail=detail))
    if response.status == 404:
        return logged(NotFoundUpstream(response.member_id, public, upstream_status=404, detail=detail))
    return logged(MemberUnavailable(response.member_id, public, upstream_status=response.status, detail=detail))


def quote_id(object_id: str, *, keep_slash: bool) -> str | None:
    """``object_id`` percent-encoded for a URL path (``/`` left raw when ``keep_slash``); ``None`` when it
    cannot name an object safely (empty, or an empty/``.``/``..`` segment a URL parser would collapse)."""
    segments = object_id.split("/") if keep_slash else [object_id]
    if any(s in ("", ".", "..") for s in segments):
        return None
    return quote(object_id, safe="/" if keep_slash else "")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); ``None`` when absent or unreadable."""
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Transient(Exception):
    """An attempt failed in a way worth retrying (idempotent calls only); ``error`` is raised if not retried."""

    def __init__(self, error: UpstreamError, wait: float | None = None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.wait = wait
        """The member's ``Retry-After``, if it said one."""


def next_sleep(
    attempt: int, attempts: int, told: float | None, *, backoff: float, remaining: float,
    draw: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """The retry schedule (pure but for ``draw``): after failed attempt number ``attempt`` (from 1) of at most
    ``attempts``, the seconds to sleep before the next one, or ``None`` for no further attempt. The sleep is the
    member's ``Retry-After`` (``told``) when it gave one, else "full jitter": ``draw(0, backoff * 2**(attempt-1))``,
    the window capped at :data:`MAX_BACKOFF`. No attempt past the last, none whose sleep would end at or past the
    deadline (``remaining`` seconds away)."""
    if attempt >= attempts:
        return None
    wait = told if told is not None else draw(0.0, min(MAX_BACKOFF, backoff * 2 ** (attempt - 1)))
    return None if wait >= remaining else wait


def _error_kind(error: UpstreamError) -> str:
    """A bounded label for an upstream error: its class without the ``Member`` prefix (``timeout``, ``unavailable``,
    ``busy``, …)."""
    name = type(error).__name__
    return (name.removeprefix("Member") or name).lower()


def _where(url: URL) -> str:
    """``url`` without its query (which may carry an access id, an expiry or worse): for logged details."""
    if not url.raw_query_string and not url.raw_fragment:
        return str(url)
    return str(url.with_query(None).with_fragment(None))


Params = Mapping[str, str] | Sequence[tuple[str, str]]
"""A call's query: a mapping, or pairs when a key repeats."""


def target_url(base_url: str, path: str, params: Params | None) -> URL:
    """``base_url + path``, or ``path`` itself when it is an absolute ``http(s)://`` URL (a service's own endpoint),
    its query replaced by ``params`` (form-encoded, as httpx did)."""
    text = path if path.startswith(("http://", "https://")) else base_url + path
    if "?" in text:
        text = text.split("?", 1)[0]
    if params:
        text += "?" + urlencode(list(params.items()) if isinstance(params, Mapping) else list(params))
    return URL(text)


class MemberHttp:
    """One member's pooled HTTP client and its retry/deadline policy."""

    def __init__(
        self, member_id: str, base_url: str, config: UpstreamConfig, *, egress: EgressPolicy,
        max_body: int | None = None, budget: ByteBudget | None = None,
    ) -> None:
        self.member_id = member_id
        self.base_url = base_url.rstrip("/")
        self.config = config
        self.max_body = max_body or config.max_record_bytes
        """The cap of a call that names none: a metadata call's."""
        self.budget = budget or shared_budget(config.inflight_bytes)
        self._session = Http1Session(egress, max_connections=config.max_connections)

    async def close(self) -> None:
        await self._session.close()

    def bulk_cap(self, ids: int) -> int:
        """The cap of a bulk answer for ``ids`` ids: a record's cap plus ``upstream.bulk_bytes_per_id`` for each
        further id, at most ``upstream.max_body_bytes``."""
        cap = self.config
        return min(cap.max_body_bytes, max(self.max_body, cap.max_record_bytes + (ids - 1) * cap.bulk_bytes_per_id))

    async def get_object(self, path: str, deadline: Deadline, what: str) -> dict[str, Any] | None:
        """GET a JSON object: ``None`` for the member's 404, :func:`error_for` for any other non-200."""
        response = await self.request("GET", path, deadline, idempotent=True)
        if response.status == 404:
            return None
        if response.status != 200:
            raise error_for(response, what)
        return response.json_object(what)

    async def request(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        idempotent: bool,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        max_body: int | None = None,
    ) -> UpstreamResponse:
        """``method`` ``base_url + path`` (or ``path`` itself when it is an absolute ``http(s)://`` URL: a service's
        own endpoint); any final status is returned except 429/502/503/504, which are retried (idempotent calls) and
        then raised as :class:`MemberUnavailable`. The body is read up to ``max_body`` bytes (default
        :attr:`max_body`, a metadata call's cap)."""
        limit = max_body or self.max_body
        url = target_url(self.base_url, path, params)
        body = None if json is None else orjson.dumps(json)
        attempts = self.config.retries + 1 if idempotent else 1
        started = time.perf_counter()
        background = own_trace()  # outside a request, one trace for the call and its retries
        try:
            attempt = 1
            while True:
                try:
                    response = await self._attempt(method, url, deadline, body, headers, limit, idempotent)
                except _Transient as exc:
                    sleep = next_sleep(attempt, attempts, exc.wait, backoff=self.config.backoff,
                                       remaining=deadline.remaining())
                    if sleep is None:
                        raise
                    self._log_retry(method, path, attempt, sleep, exc)
                    await asyncio.sleep(sleep)
                    attempt += 1
                    continue
                current().upstream(self.member_id, f"{response.status // 100}xx", time.perf_counter() - started)
                return response
        except _Transient as exc:
            error = exc.error
            if exc.wait is not None:
                late = ", past the deadline: not retried" if exc.wait >= deadline.remaining() else ""
                error = MemberBusy(self.member_id, error.message, retry_after=max(1, math.ceil(exc.wait)),
                                   detail=f"{error.detail}{late}")
            raise self._failed(error, started) from None
        except UpstreamError as exc:
            raise self._failed(exc, started) from None
        except asyncio.CancelledError:
            current().upstream(self.member_id, "cancelled", time.perf_counter() - started)
            if deadline.expired:  # cut at the request's deadline by its caller: say where it was waiting
                log.warning("upstream call cut at the deadline", extra={
                    "member": self.member_id, "detail": f"{method} {_where(url)}: no answer before the deadline"})
            raise
        finally:
            if background is not None:
                trace_var.reset(background)

    def _failed(self, error: UpstreamError, started: float) -> UpstreamError:
        """``error`` logged and counted (the call's outcome and the error's kind: its class, e.g. ``timeout``)."""
        kind = _error_kind(error)
        metrics = current()
        metrics.upstream(self.member_id, kind, time.perf_counter() - started)
        metrics.upstream_error(self.member_id, kind)
        return logged(error)

    def _log_retry(self, method: str, path: str, attempt: int, sleep: float, exc: _Transient) -> None:
        current().retry(self.member_id)
        log.info("retrying upstream call", extra={
            "member": self.member_id, "method": method, "path": path.split("?", 1)[0], "attempt": attempt,
            "sleep": round(sleep, 3), "reason": exc.args[0] if exc.args else "",
        })

    async def _attempt(
        self, method: str, url: URL, deadline: Deadline, body: bytes | None, headers: Mapping[str, str] | None,
        limit: int, idempotent: bool,
    ) -> UpstreamResponse:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise MemberTimeout(self.member_id, TIMED_OUT,
                                detail=f"{method} {_where(url)}: no time left before the deadline")
        cap = self.config.attempt_seconds
        try:
            async with asyncio.timeout(min(remaining, cap)):
                response = await self._follow(method, url, deadline, body, headers, limit, idempotent)
        except TimeoutError:
            why = (f"the answer took longer than the attempt cap ({cap:g} s)" if cap < remaining
                   else "no answer within the deadline")
            raise MemberTimeout(self.member_id, TIMED_OUT, detail=f"{method} {_where(url)}: {why}") from None
        if response.status in RETRY_STATUSES:
            told = retry_after(response.headers) if response.status == 429 else None
            note = f"; Retry-After {told:g} s" if told is not None else ""
            said = response.message() or response.snippet()
            error = MemberUnavailable(self.member_id, answered(response.status), upstream_status=response.status,
                                      detail=f"{method} {_where(url)}: HTTP {response.status}{note}"
                                             + (f": {said!r}" if said else ""))
            raise _Transient(error, told)
        return response

    async def _follow(
        self, method: str, url: URL, deadline: Deadline, body: bytes | None, headers: Mapping[str, str] | None,
        limit: int, idempotent: bool,
    ) -> UpstreamResponse:
        """One attempt, following redirects to the origin of ``url`` (the URL first asked: the member's, or its
        service endpoint's) by hand; the rule is :data:`SAME_ORIGIN`'s, asked only about a redirect status."""
        asked = url
        hops = 0
        while True:
            response = await self._send(method, url, deadline, body, headers, limit, idempotent)
            if response.status not in REDIRECT_STATUSES:
                return response
            current_url = httpx.URL(str(url))
            try:
                hop = SAME_ORIGIN.follow(origin=httpx.URL(str(asked)).copy_with(path="/", query=None, fragment=None),
                                         current=current_url, method=method, status=response.status,
                                         location=response.headers.get("location"), hops=hops)
            except RedirectRefused as refused:
                raise self._not_followed(method, url, refused) from None
            if hop is None:
                return response
            method, url, hops = hop.method, URL(str(hop.url), encoded=True), hops + 1
            body = body if hop.keeps_body else None

    def _not_followed(self, method: str, url: URL, refused: RedirectRefused) -> MemberUnavailable:
        what = f"{method} {_where(url)}"
        if refused.reason == "too_many":
            return MemberUnavailable(self.member_id, MALFORMED, upstream_status=refused.status,
                                     detail=f"{what}: more than {MAX_REDIRECTS} redirects")
        if refused.reason == "malformed":
            return MemberUnavailable(self.member_id, MALFORMED, upstream_status=refused.status,
                                     detail=f"{what}: redirected to a malformed Location; not followed")
        target = str(refused.target.copy_with(query=None)) if refused.target is not None else "an unknown place"
        return MemberUnavailable(self.member_id, answered(refused.status), upstream_status=refused.status,
                                 detail=f"{what}: redirected to another origin ({target}); not followed")

    def _connect_timeout(self, deadline: Deadline) -> float:
        """This attempt's connect timeout, capped by the deadline. No read timeout: the attempt's own cap (at most
        ``upstream.read_timeout``, started before any read) always ends a silent member first."""
        return min(self.config.connect_timeout, max(MIN_TIMEOUT, deadline.remaining()))

    async def _send(
        self, method: str, url: URL, deadline: Deadline, body: bytes | None, headers: Mapping[str, str] | None,
        limit: int, idempotent: bool,
    ) -> UpstreamResponse:
        timeout = self._connect_timeout(deadline)
        spans = otel.active()
        if spans is None:  # no tracing pipeline: the headers only (the request's id and a new span of its trace)
            return await self._exchange(method, url, body, upstream_headers(headers), timeout, limit, deadline,
                                        idempotent)
        trace = trace_var.get()
        with spans.span(f"{method} {self.member_id}", trace.span if trace else None, server=False,
                        **{"gateway.member": self.member_id, "http.request.method": method}) as call:
            response = await self._exchange(method, url, body, upstream_headers(headers, call.trace), timeout, limit,
                                            deadline, idempotent)
            call.answered(response.status)
            return response

    async def _exchange(
        self, method: str, url: URL, body: bytes | None, sent: Mapping[str, str], timeout: float,
        limit: int, deadline: Deadline, idempotent: bool,
    ) -> UpstreamResponse:
        """One request and its capped body, sent again when the keep-alive race dropped it (idempotent calls only);
        every failure of the client mapped to the policy's errors."""
        if body is not None:
            sent = {**JSON_BODY, **sent}
        where = _where(url)
        what = f"{method} {where}"
        replays = 0
        while True:
            try:
                answer = await self._session.request(method, url, headers=sent, body=body, connect_timeout=timeout,
                                                     limit=limit, budget=self.budget)
                return UpstreamResponse(self.member_id, answer.status, answer.headers, answer.body, where)
            except ConnectionDropped as exc:
                if idempotent and exc.reused and not exc.answered and replays < MAX_REPLAYS:
                    replays += 1
                    log.debug("pooled connection dropped before an answer: sent again", extra={
                        "member": self.member_id, "detail": f"{what}: {exc}"})
                    continue
                raise MemberUnavailable(self.member_id, UNREACHABLE,
                                        detail=f"{what}: connection failed ({exc})") from None
            except ConnectFailed as exc:
                if deadline.expired:
                    raise MemberTimeout(self.member_id, TIMED_OUT,
                                        detail=f"{what}: could not connect within the deadline") from None
                raise _Transient(MemberUnavailable(self.member_id, UNREACHABLE,
                                                   detail=f"{what}: could not connect ({exc})")) from None
            except MalformedAnswer as exc:
                raise MemberUnavailable(self.member_id, MALFORMED, detail=f"{what}: {exc}") from None
            except BodyTooLarge:
                raise MemberUnavailable(self.member_id, TOO_LARGE, upstream_status=None,
                                        detail=f"{what}: response body larger than {limit} bytes") from None
            except OverBudget as exc:
                raise MemberBusy(self.member_id, BUSY, retry_after=1, upstream_status=None,
                                 detail=f"{what}: not read past the in-flight byte budget ({exc})") from None
            except EgressDenied as exc:  # never retried: asking again cannot change the answer
                raise MemberUnavailable(self.member_id, UNREACHABLE,
                                        detail=f"{what}: refused by the egress policy: {exc}") from None
