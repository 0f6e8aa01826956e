"""A member's record as the gateway's DRS object (pure): the indexd or DRS mapping, then the output
profile, then JSON bytes. The one place that knows both record formats."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.records import AccessURL, MemberRecord
from gateway.drs.sanitize import drs_from_member, embedded_urls
from gateway.wire.drs import DrsObject, dump
from gateway.wire.drs_profile import to_profile
from gateway.wire.indexd import drs_from_indexd


class InvalidRecord(ValueError):
    """The member's record cannot be made a valid DRS object (e.g. no size or no checksum)."""


def drs_model(record: MemberRecord, hostname: str) -> DrsObject:
    try:
        if record.format == "indexd":
            return drs_from_indexd(record.document, hostname)
        return drs_from_member(record.document, hostname)[0]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRecord(_reason(exc)) from None


def drs_object(record: MemberRecord, hostname: str, profile: str) -> dict[str, Any]:
    """The object as the gateway serves it (JSON dict)."""
    return to_profile(dump(drs_model(record, hostname)), profile)


def drs_object_bytes(record: MemberRecord, hostname: str, profile: str) -> bytes:
    return orjson.dumps(drs_object(record, hostname, profile))


def access_ids(obj: dict[str, Any]) -> list[str]:
    """The access ids of a served object, in order."""
    return [m["access_id"] for m in obj.get("access_methods") or [] if "access_id" in m]


def embedded_access(record: MemberRecord, access_id: str) -> AccessURL | None:
    """The ``access_url`` the member embedded for an access id the gateway assigned, if that is one."""
    embedded = embedded_urls(record.document).get(access_id) if record.format == "drs" else None
    if embedded is None:
        return None
    return AccessURL(embedded["url"], tuple(h for h in embedded.get("headers") or [] if isinstance(h, str)))


def _reason(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'object'}: {e.get('msg')}" for e in errors()[:3]]
        return "; ".join(parts)
    return f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
