"""CSRF protection of every portal form: the double-submit cookie, checked with the request's origin.

A page that holds a form sets the cookie :data:`COOKIE` (when the browser has none yet) to a random token and
renders the same token in the form's hidden field :data:`FIELD`. A form ``POST`` is accepted only when the field
equals the cookie (compared in constant time) and, when the browser sent an ``Origin`` (every current browser does
on a ``POST``), that origin is the gateway's own. Another site can make a browser send the cookie (it is
``SameSite=Strict``, so in practice it cannot even do that) but can neither read it (``HttpOnly``, other origin)
nor set it, so it cannot put the matching value in the form. No server-side state and no signing key: every
worker process and every replica checks the same way. The rules are pure functions over strings.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable

COOKIE = "gw_csrf"
FIELD = "csrf_token"
TOKEN_BYTES = 32
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""What :func:`new_token` makes: 32 bytes, URL-safe base64 without padding."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def well_formed(token: str | None) -> bool:
    """``token`` could have been made by :func:`new_token` (a cookie of any other shape is replaced)."""
    return token is not None and _SHAPE.match(token) is not None


def refusal(cookie: str | None, submitted: str | None, origin: str | None, own_origins: Iterable[str]) -> str | None:
    """Why a form ``POST`` is refused, in words for the person who sent it; ``None``: accepted. ``own_origins``: the
    gateway's origins (``scheme://host[:port]``: the one the request reached, the public URL's)."""
    if origin is not None and origin.rstrip("/").lower() not in {o.rstrip("/").lower() for o in own_origins}:
        return "this form was sent from another site"
    if not well_formed(cookie):
        return "your browser did not send the portal's form cookie (are cookies blocked?); reload the page and retry"
    if submitted is None or not hmac.compare_digest(submitted.encode(), (cookie or "").encode()):
        return "the form's security token does not match; reload the page and retry"
    return None
