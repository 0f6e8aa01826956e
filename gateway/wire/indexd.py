"""An indexd record (Gen3's wire format, a JSON dict) as a GA4GH DRS 1.5 object (pure).

Unlike indexd's own DRS view the result is spec-clean: ``created_time`` always (the content's creation
date, else the index's), DRS checksum names (``sha-256``; :mod:`gateway.wire.checksums`), a MIME type
guessed from the file name rather than a fixed ``application/json``, and one access method per storage scheme
whose ``access_id`` is the scheme (``s3``, ``gs``), which is what fence takes as ``protocol``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from gateway.wire.checksums import drs_checksum_type
from gateway.wire.drs import AccessMethodType, DrsObject, written_time

EPOCH = "1970-01-01T00:00:00Z"
"""``created_time`` of last resort: the spec requires one and the record gave no date at all."""
SCHEMES: dict[str, tuple[AccessMethodType, str | None]] = {
    "s3": (AccessMethodType.s3, "aws"),
    "gs": (AccessMethodType.gs, "gcp"),
    "https": (AccessMethodType.https, None),
    "http": (AccessMethodType.https, None),
    "ftp": (AccessMethodType.ftp, None),
    "gsiftp": (AccessMethodType.gsiftp, None),
    "globus": (AccessMethodType.globus, None),
    "file": (AccessMethodType.file, None),
}
"""URL scheme → (DRS access type, cloud). Plain ``http`` is typed ``https``: the spec has no ``http``."""
MIME_TYPES = {
    ".tsv": "text/tab-separated-values",
    ".csv": "text/csv",
    ".vcf": "text/plain",
    ".txt": "text/plain",
    ".json": "application/json",
    ".bam": "application/octet-stream",
}


_UNRESERVED_OR_SLASH = re.compile(r"[A-Za-z0-9_.~/-]*")
"""An id ``quote(…, safe="")`` changes only by encoding its ``/`` (GUIDs always are): encoded without quote's
per-character loop."""


def self_uri(hostname: str, object_id: str) -> str:
    """``drs://<hostname>/<id percent-encoded>`` (``/`` → ``%2F``), the spec's hostname-based form."""
    if _UNRESERVED_OR_SLASH.fullmatch(object_id):
        return f"drs://{hostname}/{object_id.replace('/', '%2F')}"
    return f"drs://{hostname}/{quote(object_id, safe='')}"


def mime_type(file_name: str | None) -> str:
    """By the file name's last extension (each of :data:`MIME_TYPES` has one dot), else ``application/octet-stream``."""
    _, dot, ext = (file_name or "").lower().rpartition(".")
    return MIME_TYPES.get(dot + ext, "application/octet-stream") if dot else "application/octet-stream"


def access_ids(urls: list[Any]) -> dict[str, str]:
    """``access_id`` → URL: the first URL of each known scheme (the scheme is the access id)."""
    out: dict[str, str] = {}
    for url in urls:
        if isinstance(url, str) and "://" in url:
            scheme = url.split("://", 1)[0].lower()
            if scheme in SCHEMES:
                out.setdefault(scheme, url)
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def drs_from_indexd(doc: dict[str, Any], hostname: str) -> DrsObject:
    """The DRS object of indexd record ``doc``, its ``self_uri`` on ``hostname``. ValueError (pydantic's
    ValidationError) when the record cannot make a valid DRS object (no size, no hashes)."""
    # validated once, as a whole: one call into pydantic rather than one per nested model (a bulk renders thousands)
    return DrsObject.model_validate(drs_fields(doc, hostname))


def drs_fields(doc: dict[str, Any], hostname: str) -> dict[str, Any]:
    """The fields of :func:`drs_from_indexd`'s object, not yet validated: in the model's order, plain values, no
    ``None``, so that when the record's own values are already as the model writes them they *are* the object's JSON
    (:func:`drs_written`). KeyError without a ``did``."""
    did = doc["did"]
    given_metadata = doc.get("urls_metadata")
    urls_metadata: dict[str, Any] = given_metadata if isinstance(given_metadata, dict) else {}
    methods = []
    for access_id, url in access_ids(doc.get("urls") or []).items():
        kind, cloud = SCHEMES[access_id]
        given_meta = urls_metadata.get(url)
        meta: dict[str, Any] = given_meta if isinstance(given_meta, dict) else {}
        method: dict[str, Any] = {"type": kind, "access_id": access_id}
        _put(method, "region", _text(meta.get("region")))
        _put(method, "cloud", cloud)
        available = meta.get("available")
        method["available"] = available if isinstance(available, bool) else True
        methods.append(method)
    given_hashes = doc.get("hashes")
    hashes: dict[str, Any] = given_hashes if isinstance(given_hashes, dict) else {}
    file_name = _text(doc.get("file_name"))
    fields: dict[str, Any] = {"id": did}
    _put(fields, "name", file_name)
    fields["self_uri"] = self_uri(hostname, did)
    fields["size"] = doc.get("size")
    fields["created_time"] = (_text(doc.get("content_created_date")) or _text(doc.get("created_date"))
                              or _text(doc.get("updated_date")) or EPOCH)
    _put(fields, "updated_time", _text(doc.get("content_updated_date")) or _text(doc.get("updated_date")))
    _put(fields, "version", _text(doc.get("version")) or _text(doc.get("rev")))
    fields["mime_type"] = mime_type(file_name)
    fields["checksums"] = [{"checksum": str(v), "type": drs_checksum_type(k)} for k, v in sorted(hashes.items()) if v]
    if methods:
        fields["access_methods"] = methods
    _put(fields, "description", _text(doc.get("description")))
    head, sep, tail = did.partition("/")
    if sep and head and tail:
        fields["aliases"] = [tail]
    return fields


def drs_written(doc: dict[str, Any], hostname: str) -> dict[str, Any] | None:
    """``dump(drs_from_indexd(doc, hostname))`` made without the model, or ``None`` when the model must decide (it
    rejects the record, or would change one of its values): a bulk renders thousands of objects, and skipping the model
    makes each 2x cheaper. Everything :func:`drs_fields` builds is already as the model writes it except what comes
    straight from the record, checked here: the ``did`` is text, the size a non-negative 64-bit integer, some hash is
    given, and the dates are written as the model writes dates (:func:`~gateway.wire.drs.written_time`: indexd's own
    naive dates gain their ``Z``). A property test holds this equal to the model's output."""
    fields = drs_fields(doc, hostname)
    size = fields["size"]
    if type(fields["id"]) is not str or type(size) is not int or not 0 <= size < 1 << 63 or not fields["checksums"]:
        return None
    given_created = fields["created_time"]
    created = written_time(given_created)
    if created is None:
        return None
    fields["created_time"] = created
    given_updated = fields.get("updated_time")
    if given_updated is not None:
        updated = created if given_updated == given_created else written_time(given_updated)
        if updated is None:
            return None
        fields["updated_time"] = updated
    return fields


def _put(fields: dict[str, Any], key: str, value: str | None) -> None:
    if value:
        fields[key] = value
