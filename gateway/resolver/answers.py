"""The answer ``GET /resolver/v1/resolve`` gives for a resolution (pure): the one rule rendering it, as JSON data
(:func:`view`) and as bytes (:func:`answer`), and the **finished form** a cache entry keeps of it, so a cached hit
is answered from bytes without reading the record back or rendering it again.

A cached hit's answer differs from another spelling's of the same id only in ``id`` (the text exactly as given,
always the first key); everything else is the cache key's (kind, normalised id) and the entry's (member, route,
establishment, record, ``"cached": true``). So the entry keeps that rest once (:func:`finished`: the answer without
``id``), and :func:`spliced` puts the id asked in front: byte for byte what rendering the entry read back gives.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.member import Member
from gateway.resolver.outcomes import Resolution


def _member_view(member: Member) -> dict[str, Any]:
    return {"id": member.id, "name": member.name, "base_url": member.base_url, "kind": member.kind}


def view(resolution: Resolution) -> dict[str, Any]:
    """The answer as JSON data: the id as given, the normalised id and its kind, the member, how it was found,
    whether that member is established as the owner, whether the answer came from the cache, and the record."""
    ident = resolution.identifier
    return {"id": ident.raw, **_rest(resolution, resolution.cached)}


def answer(resolution: Resolution) -> bytes:
    return orjson.dumps(view(resolution))


def _rest(resolution: Resolution, cached: bool) -> dict[str, Any]:
    ident = resolution.identifier
    return {
        "normalized": ident.object_id, "kind": ident.kind, "member": _member_view(resolution.member),
        "route": resolution.route, "established": resolution.owner_known, "cached": cached,
        "format": resolution.record.format, "record": resolution.record.document,
    }


def finished(resolution: Resolution) -> bytes:
    """The answer a cached hit of ``resolution`` gives, without its ``id``: ``{"normalized":…}``. ``resolution``
    must carry the identifier its cache key was made of (not a routed one: ``drs://<the gateway>/<id>`` is asked
    as ``<id>`` but cached, and answered, as given)."""
    return orjson.dumps(_rest(resolution, True))


def spliced(raw: str, rest: bytes) -> bytes:
    """The answer for the text ``raw`` from :func:`finished`'s bytes: ``{"id": raw,`` + the rest."""
    return b'{"id":' + orjson.dumps(raw) + b"," + rest[1:]
