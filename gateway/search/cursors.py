"""The opaque rows cursor of a cohort search: where the next page starts, tied to the question it pages (pure).

A cursor is base64url JSON (no padding) holding its version, the member's index in registry (id) order and its id,
that member's offset, and a digest of the question (index, filter, row fields, accessibility): a cursor that was
tampered with, or replayed against another question, is refused (:class:`BadCursor`, a 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from gateway.members.search import CohortQuery

CURSOR_VERSION = 1


class BadCursor(ValueError):
    """A rows cursor that this gateway did not issue for this question (400)."""


@dataclass(frozen=True)
class Cursor:
    member: int
    """Index of the member in registry (id) order."""
    member_id: str
    offset: int


def question_digest(query: CohortQuery, fields: Sequence[str], accessibility: str) -> str:
    doc = {"index": query.index, "filter": query.filter, "fields": list(fields), "accessibility": accessibility}
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def encode_cursor(cursor: Cursor, digest: str) -> str:
    raw = orjson.dumps({"v": CURSOR_VERSION, "m": cursor.member, "id": cursor.member_id, "o": cursor.offset,
                        "q": digest})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(text: str, digest: str) -> Cursor:
    """The cursor in ``text``; :class:`BadCursor` if it is malformed or was issued for another question."""
    if not isinstance(text, str) or not text or len(text) > 2048:
        raise BadCursor("invalid cursor")
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise BadCursor("invalid cursor: not a cursor this gateway issued") from None
    if not isinstance(doc, dict) or set(doc) != {"v", "m", "id", "o", "q"} or doc["v"] != CURSOR_VERSION:
        raise BadCursor("invalid cursor: not a cursor this gateway issued")
    m, mid, o = doc["m"], doc["id"], doc["o"]
    if not (type(m) is int and type(o) is int and isinstance(mid, str) and m >= 0 and o >= 0):
        raise BadCursor("invalid cursor: not a cursor this gateway issued")
    if doc["q"] != digest:
        raise BadCursor("invalid cursor: it was issued for another question (index, filter, fields or accessibility)")
    return Cursor(m, mid, o)
