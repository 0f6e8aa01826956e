"""The errors every layer shares.

* The :class:`UpstreamError` family: why a member could not give an answer. Each kind carries ``status``, the
  HTTP status the gateway answers with (502 unavailable, 503 busy, 504 timeout, 404 not found, 202 not ready,
  the member's own 401/403 for access denied), and ``upstream_status``, what the member itself said.
* :class:`ApiError` (and its helpers): an error a handler raises to answer its caller with a status, a
  message and, when needed, headers. The web edge turns it into the response.
"""

from __future__ import annotations

from typing import Any


class UpstreamError(Exception):
    """A member could not give an answer. ``status`` is what the gateway should answer with."""

    status = 502
    retry_after: int | None = None
    """Seconds after which asking again may succeed, when the member said so."""

    def __init__(self, member_id: str, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(f"{member_id}: {message}")
        self.member_id = member_id
        self.message = message
        self.upstream_status = upstream_status


class MemberUnavailable(UpstreamError):
    """Connection refused or reset, a 5xx after retries, or a malformed answer."""

    status = 502


class MemberBusy(UpstreamError):
    """The member kept answering 429 and its ``Retry-After`` did not fit in the deadline: the gateway answers
    503 with that ``Retry-After`` (the client did nothing wrong, so not 429)."""

    status = 503

    def __init__(self, member_id: str, message: str, *, retry_after: int) -> None:
        super().__init__(member_id, message, upstream_status=429)
        self.retry_after = retry_after


class MemberTimeout(UpstreamError):
    """The member did not answer before the deadline."""

    status = 504


class NotFoundUpstream(UpstreamError):
    """The member has no such object or access method (its 404) where an answer was required."""

    status = 404


class NotReady(UpstreamError):
    """The member accepted the request but has no answer yet (its ``202``); ask again after ``retry_after``."""

    status = 202

    def __init__(self, member_id: str, message: str, *, retry_after: int) -> None:
        super().__init__(member_id, message, upstream_status=202)
        self.retry_after = retry_after


class AccessDenied(UpstreamError):
    """The member refused access (its 401 or 403 is passed on)."""

    def __init__(self, member_id: str, message: str, *, upstream_status: int) -> None:
        super().__init__(member_id, message, upstream_status=upstream_status)
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
