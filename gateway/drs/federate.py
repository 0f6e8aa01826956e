"""A member's record as the gateway's DRS object (pure): the indexd or DRS mapping, then the output
profile, then JSON bytes. The one place that knows both record formats."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.records import AccessURL, MemberRecord
from gateway.drs.sanitize import drs_from_member, embedded_urls
from gateway.wire.drs import AccessMethod, DrsObject, dump, dump_json
from gateway.wire.drs import AccessURL as DrsAccessURL
from gateway.wire.drs_profile import to_profile
from gateway.wire.indexd import access_ids as indexd_access_ids
from gateway.wire.indexd import drs_from_indexd, drs_written


class InvalidRecord(ValueError):
    """The member's record cannot be made a valid DRS object (e.g. no size or no checksum)."""


def drs_model(record: MemberRecord, hostname: str, *, signed_urls: bool = True) -> DrsObject:
    """``signed_urls=False``: the member offers no signed URLs, so no access method names an ``access_id`` the
    gateway could not serve (:func:`direct_only`)."""
    try:
        if record.format == "indexd":
            model = drs_from_indexd(record.document, hostname)
        else:
            model = drs_from_member(record.document, hostname)[0]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRecord(_reason(exc)) from None
    return model if signed_urls else direct_only(model, record)


def direct_only(model: DrsObject, record: MemberRecord) -> DrsObject:
    """``model`` with only what can be fetched without a signed URL: an indexd record's storage URL as the method's
    ``access_url`` (as indexd's own DRS lists it: fetched with the reader's own cloud credentials) and no
    ``access_id``; a DRS member's methods that carry an ``access_url``, without their ``access_id`` (those with only
    an ``access_id`` are dropped)."""
    urls = indexd_access_ids(record.document.get("urls") or []) if record.format == "indexd" else {}
    methods: list[AccessMethod] = []
    for method in model.access_methods or []:
        url = method.access_url
        if url is None and method.access_id is not None and method.access_id in urls:
            url = DrsAccessURL(url=urls[method.access_id])
        if url is not None:
            methods.append(method.model_copy(update={"access_url": url, "access_id": None}))
    return model.model_copy(update={"access_methods": methods or None})


def drs_object(record: MemberRecord, hostname: str, profile: str, *, signed_urls: bool = True) -> dict[str, Any]:
    """The object as the gateway serves it (JSON dict)."""
    written = _written(record, hostname, signed_urls)
    if written is not None:
        return to_profile(written, profile)
    return to_profile(dump(drs_model(record, hostname, signed_urls=signed_urls)), profile)


def drs_object_bytes(record: MemberRecord, hostname: str, profile: str, *, signed_urls: bool = True) -> bytes:
    """:func:`drs_object` as JSON bytes (a bulk renders thousands: an indexd record already in the form the model
    writes skips the model; under the 1.5 profile, which changes nothing, the model writes its own JSON)."""
    written = _written(record, hostname, signed_urls)
    if written is not None:
        try:
            return orjson.dumps(to_profile(written, profile))
        except orjson.JSONEncodeError:  # text orjson refuses (it never came from a JSON answer): the model decides
            pass
    model = drs_model(record, hostname, signed_urls=signed_urls)
    if profile == "1.5":
        return dump_json(model)
    return orjson.dumps(to_profile(dump(model), profile))


def _written(record: MemberRecord, hostname: str, signed_urls: bool) -> dict[str, Any] | None:
    """The object's JSON dict made without the model (:func:`~gateway.wire.indexd.drs_written`) where that can be: an
    indexd record, served with signed URLs, whose values are already as the model writes them; else ``None``."""
    if record.format != "indexd" or not signed_urls:
        return None
    try:
        return drs_written(record.document, hostname)
    except (ValueError, KeyError, TypeError, AttributeError):  # the model path says what is wrong with the record
        return None


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
