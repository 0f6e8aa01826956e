"""Views of a member's record in another wire format (pure): a DRS object seen as an indexd record, so
the dataguids-compatible ``GET /index/{guid}`` answers the same shape whatever kind of member holds it."""

from __future__ import annotations

from typing import Any

from gateway.core.records import MemberRecord
from gateway.wire.checksums import indexd_hash_name

NOT_IN_DRS = ("acl", "authz", "baseid", "rev", "uploader")
"""indexd fields a DRS object has no equivalent of: empty in a converted record, and named in its ``not_carried``."""


def indexd_view(record: MemberRecord) -> dict[str, Any]:
    """The record as indexd would return it (a copy; indexd records pass through unchanged). A DRS object converted
    says so: ``converted_from: "drs"`` and ``not_carried`` (:data:`NOT_IN_DRS`), so an empty ``acl``/``authz`` is not
    read as "open to all" — the member's DRS server decides access, not these lists."""
    if record.format == "indexd":
        return dict(record.document)
    drs = record.document
    urls = [
        m["access_url"]["url"] for m in drs.get("access_methods", [])
        if isinstance(m, dict) and isinstance(m.get("access_url"), dict) and "url" in m["access_url"]
    ]
    return {
        "did": drs.get("id", record.id), "baseid": None, "rev": None, "form": "object", "size": drs.get("size"),
        "file_name": drs.get("name"), "version": drs.get("version"), "uploader": None, "urls": urls,
        "urls_metadata": {}, "acl": [], "authz": [],
        "hashes": {indexd_hash_name(c["type"]): c["checksum"] for c in drs.get("checksums", [])
                   if isinstance(c, dict) and "type" in c and "checksum" in c},
        "metadata": {}, "created_date": drs.get("created_time"), "updated_date": drs.get("updated_time"),
        "description": drs.get("description"), "content_created_date": None, "content_updated_date": None,
        "converted_from": "drs", "not_carried": list(NOT_IN_DRS),
    }
