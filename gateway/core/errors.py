"""The errors every layer shares.

* The :class:`UpstreamError` family: why a member could not give an answer. Each kind carries ``status``, the
  HTTP status the gateway answers with (502 unavailable, 503 busy, 504 timeout, 404 not found, 202 not ready,
  the member's own 401/403 for access denied), and ``upstream_status``, what the member itself said.
* :class:`ApiError` (and its helpers): an error a handler raises to answer its caller with a status, a
  message and, when needed, headers. The web edge turns it into the response.

**What a member's failure may tell a client.** An :class:`UpstreamError` has two texts. ``message`` is public:
what the gateway asked for, in its own words, and a generic kind of failure (:data:`UNREACHABLE`,
:data:`TIMED_OUT`, :func:`answered` (an HTTP status), :data:`MALFORMED`, :data:`TOO_LARGE`, :data:`NOT_READY`),
e.g. ``Guppy GraphQL: answered HTTP 500``. It never holds a host, port, IP, URL, exception text or class, or
anything the member sent (its error message, a body snippet, a header, a redirect's target): anonymous callers
read it, and those would tell them what listens inside the gateway's network. ``detail`` holds all of that, for
the log (under the request id) and admin views only. ``str()`` of the error is the public form, so an error
formatted into an answer by mistake still tells nothing.
"""

from __future__ import annotations

from typing import Any

UNREACHABLE = "unreachable"
"""The member could not be connected to, or the connection broke before it answered (refused, reset, closed,
refused by the egress policy)."""
TIMED_OUT = "timed out"
"""The member did not answer before the deadline."""
MALFORMED = "sent a malformed answer"
"""The member's answer could not be read (not JSON, the wrong shape, a redirect without a usable target)."""
TOO_LARGE = "answered too large a body"
"""The member's answer was larger than the gateway reads."""
BUSY = "not read: the gateway is reading too many answers at once"
"""The member's answer did not fit in the gateway's in-flight byte budget (503, ``Retry-After``): not its fault."""
NOT_READY = "not ready yet"
"""The member accepted the request but has no answer yet (its 202)."""


def answered(status: int) -> str:
    """The public kind for an unwanted HTTP status: ``answered HTTP <status>``."""
    return f"answered HTTP {status}"


def asked(what: str, kind: str) -> str:
    """``<what>: <kind>``: what the gateway asked for (its own words, e.g. ``indexd bulk lookup``) and how it failed."""
    return f"{what}: {kind}" if what else kind


class UpstreamError(Exception):
    """A member could not give an answer. ``status`` is what the gateway should answer with; ``message`` is what a
    client may read, ``detail`` what only the log and admins may (see the module docstring)."""

    status = 502
    retry_after: int | None = None
    """Seconds after which asking again may succeed, when the member said so."""

    def __init__(
        self, member_id: str, message: str, *, upstream_status: int | None = None, detail: str | None = None
    ) -> None:
        super().__init__(f"{member_id}: {message}")
        self.member_id = member_id
        self.message = message
        self.upstream_status = upstream_status
        self.detail = detail if detail is not None else message
        """What happened, with the member's address and what it said: for the log and admin views only."""


class MemberUnavailable(UpstreamError):
    """Connection refused or reset, a 5xx after retries, or a malformed answer."""

    status = 502


class MemberBusy(UpstreamError):
    """The member kept answering 429 and its ``Retry-After`` did not fit in the deadline: the gateway answers
    503 with that ``Retry-After`` (the client did nothing wrong, so not 429). Also the gateway's own refusal to read
    an answer past its in-flight byte budget (:data:`BUSY`, no ``upstream_status``)."""

    status = 503

    def __init__(self, member_id: str, message: str, *, retry_after: int, detail: str | None = None,
                 upstream_status: int | None = 429) -> None:
        super().__init__(member_id, message, upstream_status=upstream_status, detail=detail)
        self.retry_after = retry_after


class MemberTimeout(UpstreamError):
    """The member did not answer before the deadline."""

    status = 504


class MemberMisconfigured(UpstreamError):
    """The member's record does not match where it serves: its records path does not answer like indexd/DRS (found
    by the join check or the health prober). 502: the gateway cannot ask it, whatever the object; never "not
    found"."""

    status = 502


class ServiceNotOffered(UpstreamError):
    """The member has no service for the call (e.g. signed URLs from a bare indexd without fence). 501: the gateway
    cannot do this through that member; asking again will not help, and the request itself is not at fault."""

    status = 501


class NotFoundUpstream(UpstreamError):
    """The member has no such object or access method (its 404) where an answer was required."""

    status = 404


class NotReady(UpstreamError):
    """The member accepted the request but has no answer yet (its ``202``); ask again after ``retry_after``."""

    status = 202

    def __init__(self, member_id: str, message: str, *, retry_after: int, detail: str | None = None) -> None:
        super().__init__(member_id, message, upstream_status=202, detail=detail)
        self.retry_after = retry_after


class AccessDenied(UpstreamError):
    """The member refused access (its 401 or 403 is passed on)."""

    def __init__(self, member_id: str, message: str, *, upstream_status: int, detail: str | None = None) -> None:
        super().__init__(member_id, message, upstream_status=upstream_status, detail=detail)
        self.status = upstream_status


class ApiError(Exception):
    """An error a handler raises to answer with ``status`` and a human-readable message; ``extra``: more fields of
    the error body (e.g. the candidates of an ambiguous id)."""

    def __init__(
        self, status: int, message: str, *, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unauthorized(message: str = "authentication required") -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str = "forbidden") -> ApiError:
    return ApiError(403, message)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)
