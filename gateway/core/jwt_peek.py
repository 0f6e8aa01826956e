"""An **unverified** look inside a compact JWT: its header and payload, nothing checked.

**Never a basis for trust.** Anyone can write any claim into a token that is only peeked at; nothing here checks
a signature, an algorithm, a key, an issuer or a time. The gateway peeks only where the answer decides nothing
about access: how long to reuse a token it was given (``exp``), and which member's fence issued a caller's token
(``iss``), so that the token is not shown to other members (the member that receives it verifies it). Anything
that grants access verifies through :mod:`gateway.passports`.

The reading itself is strict and bounded, since the token comes from outside: at most ``max_bytes`` characters,
exactly three dot-separated segments, header and payload in strict base64url (RFC 7515 §2: the url-safe
alphabet, no padding, no stray characters, canonical trailing bits) that decode to UTF-8 JSON objects. Anything
else is ``None``, never an exception.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

import orjson

MAX_PEEK_BYTES = 64 * 1024
"""The longest token peeked at (a caller's header is at most 16 KiB; an exchanged access token well below this)."""

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class PeekedJwt:
    """A compact JWT's header and payload, as written by whoever made it (unverified)."""

    header: dict[str, Any]
    payload: dict[str, Any]


def b64url_decode(segment: str) -> bytes | None:
    """Strict base64url (RFC 7515 §2); ``None`` for anything else."""
    if len(segment) % 4 == 1 or not _B64URL.fullmatch(segment):
        return None
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    # one spelling per value: trailing bits that encode nothing must be zero
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") == segment else None


def _json_object(segment: str) -> dict[str, Any] | None:
    raw = b64url_decode(segment)
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:  # invalid UTF-8 included
        return None
    return doc if isinstance(doc, dict) else None


def peek(token: str, *, max_bytes: int = MAX_PEEK_BYTES) -> PeekedJwt | None:
    """The header and payload of the compact JWT ``token``, **unverified**; ``None`` when it is not one."""
    if not isinstance(token, str) or len(token) > max_bytes:
        return None
    parts = token.split(".")
    if len(parts) != 3 or b64url_decode(parts[2]) is None:
        return None
    header = _json_object(parts[0])
    payload = _json_object(parts[1]) if header is not None else None
    return PeekedJwt(header, payload) if header is not None and payload is not None else None


def peek_bearer(authorization: str, *, max_bytes: int = MAX_PEEK_BYTES) -> PeekedJwt | None:
    """:func:`peek` of the token in an ``Authorization: Bearer <JWT>`` header value; ``None`` for any other
    header."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return peek(token.strip(), max_bytes=max_bytes)
