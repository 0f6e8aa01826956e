"""DRSHub's ``/api/v4/drs/resolve`` answer, built from a resolved object (pure).

Which fields exist and which are sent by default follow DRSHub: every field may be asked for; without
``fields`` (or with an empty list) all are sent except ``accessUrl`` and ``bondProvider``. The answer holds
exactly the requested keys, ``null`` where the object has no value:

- ``size``, ``contentType``, ``timeCreated``/``timeUpdated`` (ISO instants in UTC, ``Z``) from the DRS object;
- ``hashes``: ``{algorithm: hex}`` with lower-case names as Gen3/indexd spell them (``md5``, ``sha256``,
  ``crc32c``), what DRSHub passes on from Gen3 members and Cromwell looks up;
- ``gsUri``: the member's first ``gs://`` URL; ``bucket`` and ``name`` split from it;
- ``fileName``: the object's name, else the last path segment of its first storage URL;
- ``accessUrl``: ``{"url", "headers": {name: value} | null}`` (the shape Cromwell decodes);
- ``localizationPath`` and ``googleServiceAccount``: always ``null`` (no member is a TDR-style provider,
  and the gateway keeps no Google service-account keys);
- ``bondProvider``: the member whose own fence issues the bearer token its signed URLs need, else ``null``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from gateway.core.records import AccessURL
from gateway.wire.checksums import indexd_hash_name

ACCESS_URL = "accessUrl"
BOND_PROVIDER = "bondProvider"
GOOGLE_SERVICE_ACCOUNT = "googleServiceAccount"
CORE_FIELDS = ("bucket", "contentType", "fileName", "gsUri", "hashes", "localizationPath", "name", "size",
               "timeCreated", "timeUpdated")
ALL_FIELDS = (*CORE_FIELDS, ACCESS_URL, BOND_PROVIDER, GOOGLE_SERVICE_ACCOUNT)
DEFAULT_FIELDS = (*CORE_FIELDS, GOOGLE_SERVICE_ACCOUNT)
CLOUD_PLATFORMS = ("gs", "s3", "azure")

_GS_URL = re.compile(r"gs://(?P<bucket>[^/]+)/(?P<name>.+)", re.IGNORECASE)


class UnknownField(ValueError):
    """A requested field DRSHub does not have."""


def requested_fields(fields: Sequence[str] | None) -> list[str]:
    """The fields to answer, in the order asked (duplicates dropped); the defaults for none.
    :class:`UnknownField` names what is supported when one is not."""
    if not fields:
        return list(DEFAULT_FIELDS)
    unknown = [f for f in fields if f not in ALL_FIELDS]
    if unknown:
        raise UnknownField(f"Some fields were not valid: {', '.join(map(repr, unknown))}. Supported fields are "
                           f"{', '.join(ALL_FIELDS)}")
    return list(dict.fromkeys(fields))


def access_method(obj: dict[str, Any], cloud_platform: str | None) -> dict[str, Any] | None:
    """The access method a signed URL is asked for: the first one on ``cloud_platform`` (``gs``/``s3`` by
    type; ``azure`` by an access id starting with ``az``, as DRSHub does), else the first one at all."""
    methods = [m for m in obj.get("access_methods") or [] if isinstance(m, dict) and m.get("access_id")]
    if cloud_platform == "azure":
        chosen = next((m for m in methods if str(m["access_id"]).startswith("az")), None)
    else:
        chosen = next((m for m in methods if cloud_platform and m.get("type") == cloud_platform), None)
    return chosen or (methods[0] if methods else None)


def instant(value: Any) -> str | None:
    """An RFC 3339 time as an ISO instant in UTC (``2024-02-21T09:06:21Z``); ``None`` when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    text = parsed.strftime("%Y-%m-%dT%H:%M:%S")
    if parsed.microsecond:
        fraction = f"{parsed.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text + "Z"


def hashes(obj: dict[str, Any]) -> dict[str, str] | None:
    out = {indexd_hash_name(str(c["type"]).lower()): str(c["checksum"])
           for c in obj.get("checksums") or [] if isinstance(c, dict) and c.get("type") and c.get("checksum")}
    return out or None


def access_url_view(url: AccessURL | None) -> dict[str, Any] | None:
    if url is None:
        return None
    headers = {}
    for line in url.headers:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return {"url": url.url, "headers": headers or None}


def file_name(obj: dict[str, Any], urls: Sequence[str]) -> str | None:
    name = obj.get("name")
    if isinstance(name, str) and name:
        return name
    path = urlsplit(urls[0]).path if urls else ""
    return path.rsplit("/", 1)[-1] or None


def render(
    fields: Sequence[str], obj: dict[str, Any], urls: Sequence[str], *, access_url: AccessURL | None = None,
    bond_provider: str | None = None,
) -> dict[str, Any]:
    """The answer for ``fields``: ``obj`` is the gateway's DRS object, ``urls`` the member's storage URLs."""
    urls = [u for u in urls if isinstance(u, str)]
    gs_uri = next((u for u in urls if u.lower().startswith("gs://")), None)
    gs = _GS_URL.fullmatch(gs_uri) if gs_uri else None
    values: dict[str, Any] = {
        "bucket": gs.group("bucket") if gs else None,
        "name": gs.group("name") if gs else None,
        "gsUri": gs_uri,
        "contentType": obj.get("mime_type"),
        "fileName": file_name(obj, urls),
        "hashes": hashes(obj),
        "localizationPath": None,
        "size": obj.get("size"),
        "timeCreated": instant(obj.get("created_time")),
        "timeUpdated": instant(obj.get("updated_time")),
        ACCESS_URL: access_url_view(access_url),
        BOND_PROVIDER: bond_provider,
        GOOGLE_SERVICE_ACCOUNT: None,
    }
    return {f: values[f] for f in fields}
