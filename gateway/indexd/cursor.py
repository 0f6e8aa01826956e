"""The opaque ``start`` of a federated listing: where the next page begins, tied to the filters it pages (pure).

The merged listing is ordered by ``did`` (then member id), so where a page ends is one ``did``: the next page is
every member's records after it. A cursor carries that ``did`` and a digest of the filters, as
:data:`MARKER` + base64url JSON (no padding). ``start`` is read as indexd clients send it:

* a value that begins with :data:`MARKER` must be a cursor this gateway issued for these filters; anything else
  that begins so (garbage, a cursor edited or replayed against other filters) is :class:`BadCursor` (400);
* any other value is a ``did``, as indexd takes it (``Gen3Index.get_all_records`` and indexclient page with the
  last ``did`` they saw): records after it.
"""

from __future__ import annotations

import base64
import binascii

import orjson

MARKER = "~gw1~"
"""How a cursor begins (no ``did`` does in practice: ``~`` starts none of Gen3's GUID forms)."""
MAX_START = 1024
"""The longest ``start`` taken (a cursor or a ``did``)."""
CURSOR_VERSION = 1


class BadCursor(ValueError):
    """A ``start`` that looks like a cursor but is not one this gateway issued for these filters (400)."""


def encode_cursor(after: str, digest: str) -> str:
    raw = orjson.dumps({"v": CURSOR_VERSION, "after": after, "q": digest})
    return MARKER + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_start(start: str | None, digest: str) -> str | None:
    """The ``did`` a listing continues after, from the client's ``start`` (``None``: from the first record)."""
    if start is None:
        return None
    if len(start) > MAX_START:
        raise BadCursor(f"start is longer than {MAX_START} characters")
    if not start.startswith(MARKER):
        return start
    text = start[len(MARKER):]
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise BadCursor("invalid start: not a cursor this gateway issued") from None
    if not isinstance(doc, dict) or set(doc) != {"v", "after", "q"} or doc["v"] != CURSOR_VERSION:
        raise BadCursor("invalid start: not a cursor this gateway issued")
    after = doc["after"]
    if not isinstance(after, str) or not after or not isinstance(doc["q"], str):
        raise BadCursor("invalid start: not a cursor this gateway issued")
    if doc["q"] != digest:
        raise BadCursor("invalid start: the cursor was issued for other filters")
    return after
