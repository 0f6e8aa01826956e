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


_COMMON_TYPES = {name: drs_checksum_type(name) for name in ("md5", "sha256", "sha1", "sha512", "crc", "etag")}
"""The DRS checksum type of the hash names indexd writes (:func:`drs_checksum_type` of each, looked up rather than
worked out for every checksum of a bulk)."""
_NO_METADATA: dict[str, Any] = {}  # an absent or ill-typed urls_metadata reads as this (never changed)

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
        if isinstance(url, str):
            scheme, sep, _ = url.partition("://")
            if sep:
                scheme = scheme.lower()
                if scheme in SCHEMES and scheme not in out:
                    out[scheme] = url
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
    get = doc.get
    methods = []
    urls = get("urls")
    if urls:
        given_metadata = get("urls_metadata")
        urls_metadata: dict[str, Any] = given_metadata if isinstance(given_metadata, dict) else _NO_METADATA
        for access_id, url in access_ids(urls).items():
            kind, cloud = SCHEMES[access_id]
            meta = urls_metadata.get(url)
            method: dict[str, Any] = {"type": kind, "access_id": access_id}
            if isinstance(meta, dict) and meta:
                region = _text(meta.get("region"))
                if region:
                    method["region"] = region
                available = meta.get("available")
            else:
                available = None
            if cloud:
                method["cloud"] = cloud
            method["available"] = available if isinstance(available, bool) else True
            methods.append(method)
    hashes = get("hashes")
    file_name = _text(get("file_name"))
    fields: dict[str, Any] = {"id": did}
    if file_name:
        fields["name"] = file_name
    fields["self_uri"] = self_uri(hostname, did)
    fields["size"] = get("size")
    updated = _text(get("updated_date"))
    fields["created_time"] = _text(get("content_created_date")) or _text(get("created_date")) or updated or EPOCH
    updated_time = _text(get("content_updated_date")) or updated
    if updated_time:
        fields["updated_time"] = updated_time
    version = _text(get("version")) or _text(get("rev"))
    if version:
        fields["version"] = version
    fields["mime_type"] = mime_type(file_name)
    checksums = []
    if isinstance(hashes, dict):
        for name, value in sorted(hashes.items()):
            if value:
                checksums.append({"checksum": value if value.__class__ is str else str(value),
                                  "type": _COMMON_TYPES.get(name) or drs_checksum_type(name)})
    fields["checksums"] = checksums
    if methods:
        fields["access_methods"] = methods
    description = _text(get("description"))
    if description:
        fields["description"] = description
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
