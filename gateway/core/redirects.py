"""The one rule for redirects: which ones an outbound client follows (pure).

No client lets httpx follow redirects; each asks a :class:`RedirectRule` about every answer instead.
:meth:`RedirectRule.follow` says whether an answer is a redirect to follow (and to what request), is the final
answer, or is refused (:class:`RedirectRefused`, with the reason for the caller's own message):

* an answer is a redirect when its status is 301, 302, 303, 307 or 308 **and** it names a ``Location``; any other
  answer (a 3xx without ``Location`` included) is final;
* at most ``max_hops`` redirects are followed (``0``: none; a redirect is then refused as ``too_many``); the
  count is checked before the ``Location`` is even read;
* the target must be ``http`` or ``https`` and stay on the origin (the first request's URL): the same scheme, host
  and port (default ports filled in) when ``same_scheme``, else the same host and port; with ``https_upgrade``
  also ``http://host`` → ``https://host`` on the default ports. Hosts compare case-insensitively;
* 303, and 301/302 answering a ``POST``, turn the next request into a ``GET`` without a body (what browsers do);
  307/308 repeat the method and body.

:data:`SAME_ORIGIN` is the members' rule, :data:`SAME_HOST` the registry's join check, :data:`NONE` the Passport
key fetches'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}

RefusalReason = Literal["too_many", "malformed", "scheme", "elsewhere"]


class RedirectRefused(Exception):
    """A redirect the rule does not follow. ``target`` is where it led (``None`` when it was not read or not a
    URL)."""

    def __init__(self, reason: RefusalReason, status: int, target: httpx.URL | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.target = target


@dataclass(frozen=True, slots=True)
class Hop:
    """The request a followed redirect leads to."""

    url: httpx.URL
    method: str
    keeps_body: bool


def _host_port(url: httpx.URL) -> tuple[str, int | None]:
    return url.host.lower(), url.port or DEFAULT_PORTS.get(url.scheme)


@dataclass(frozen=True, slots=True)
class RedirectRule:
    max_hops: int = 3
    same_scheme: bool = True
    """Must the target keep the origin's scheme (else only its host and port)?"""
    https_upgrade: bool = False
    """May ``http://host`` (port 80) lead to ``https://host`` (port 443)?"""

    def follow(
        self, *, origin: httpx.URL, current: httpx.URL, method: str, status: int, location: str | None, hops: int
    ) -> Hop | None:
        """The next request when the answer to ``method current`` (``status``, ``location``) is a redirect to
        follow; ``None`` when it is the final answer; :class:`RedirectRefused` otherwise. ``hops``: redirects
        followed so far."""
        if status not in REDIRECT_STATUSES or not location:
            return None
        if hops >= self.max_hops:
            raise RedirectRefused("too_many", status)
        try:
            target = current.join(location)
        except (httpx.InvalidURL, ValueError):
            raise RedirectRefused("malformed", status) from None
        if target.scheme not in DEFAULT_PORTS:
            raise RedirectRefused("scheme", status, target)
        if not self.stays(origin, target):
            raise RedirectRefused("elsewhere", status, target)
        if status == 303 or (status in (301, 302) and method == "POST"):
            return Hop(target, "GET", keeps_body=False)
        return Hop(target, method, keeps_body=True)

    def stays(self, origin: httpx.URL, target: httpx.URL) -> bool:
        """Is ``target`` on ``origin`` by this rule?"""
        if _host_port(target) == _host_port(origin):
            return not self.same_scheme or target.scheme == origin.scheme
        return (
            self.https_upgrade and target.host.lower() == origin.host.lower()
            and origin.scheme == "http" and target.scheme == "https"
            and origin.port in (None, 80) and target.port in (None, 443)
        )


SAME_ORIGIN = RedirectRule(max_hops=3)
"""Members: same scheme, host and port; at most 3."""
SAME_HOST = RedirectRule(max_hops=3, same_scheme=False, https_upgrade=True)
"""The join check: same host and port (an http → https upgrade on the default ports too); at most 3."""
NONE = RedirectRule(max_hops=0)
"""No redirect is followed: each one is refused."""
