"""File manifests for ``gen3 drs-pull manifest`` (pure).

The Gen3 SDK (``gen3/tools/download/drs_download.py``: ``Manifest.load`` → ``Manifest.schema().load(data,
many=True)``, a dataclasses-json schema that ignores unknown keys) reads a JSON array of objects:

* ``object_id`` (string, required): the DRS id (a GUID such as ``dg.ABCD/<uuid>``);
* ``commons_url`` (string): the host whose DRS server has the object. The SDK calls
  ``https://<commons_url>/ga4gh/drs/v1/objects/<id>`` (and ``/user/user``, ``/wts/...`` on it), so it must be a
  bare ``host`` or ``host:port``; :func:`commons_host` turns a base URL into that and refuses URLs with a path.
  Left out, the SDK resolves the id's prefix through its DRS resolvers instead;
* ``file_name`` (string), ``file_size`` (integer, bytes), ``md5sum`` (string, 32 hex digits).

An optional field that is ``None`` is left out of its object (the SDK then takes its own default: ``file_size``
-1, the others null). Keys are written in the order above.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

DEFAULT_CHUNK_SIZE = 64 * 1024
_MD5 = re.compile(r"[0-9a-f]{32}")
_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def commons_host(url: str) -> str:
    """``host`` or ``host:port`` from a commons' base URL (``https://data.example.org/`` → ``data.example.org``),
    or from a bare host; ``ValueError`` for a URL with a path, query, fragment, credentials or a bad host (the
    SDK would build ``https://<value>/ga4gh/...`` from it)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("commons URL must be a non-empty string")
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"commons URL {url!r}: scheme must be https (or http)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"commons URL {url!r}: gen3 drs-pull needs a bare host (it adds https:// and /ga4gh/drs/v1)")
    host = parts.hostname or ""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"commons URL {url!r}: bad host") from None
        shown = f"[{host}]"
    elif _HOSTNAME.fullmatch(host):
        shown = host
    else:
        raise ValueError(f"commons URL {url!r}: bad host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"commons URL {url!r}: bad port") from exc
    return f"{shown}:{port}" if port is not None else shown


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One file of a manifest. ``commons_url`` is normalised with :func:`commons_host`; ``md5sum`` lower-cased."""

    object_id: str
    commons_url: str | None = None
    file_name: str | None = None
    file_size: int | None = None
    md5sum: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.object_id, str) or not self.object_id:
            raise ValueError(f"object_id {self.object_id!r} is not a non-empty string")
        if self.commons_url is not None:
            object.__setattr__(self, "commons_url", commons_host(self.commons_url))
        if self.file_name is not None and not isinstance(self.file_name, str):
            raise ValueError(f"{self.object_id}: file_name {self.file_name!r} is not a string")
        if self.file_size is not None and (
            not isinstance(self.file_size, int) or isinstance(self.file_size, bool) or self.file_size < 0
        ):
            raise ValueError(f"{self.object_id}: file_size {self.file_size!r} is not a byte count")
        if self.md5sum is not None:
            md5 = self.md5sum.lower() if isinstance(self.md5sum, str) else ""
            if not _MD5.fullmatch(md5):
                raise ValueError(f"{self.object_id}: md5sum {self.md5sum!r} is not 32 hex digits")
            object.__setattr__(self, "md5sum", md5)

    def as_json(self) -> dict[str, str | int]:
        """The manifest object: ``object_id`` then the fields that are set, in the SDK's order."""
        out: dict[str, str | int] = {"object_id": self.object_id}
        for key in ("commons_url", "file_name", "file_size", "md5sum"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def manifest_chunks(entries: Iterable[ManifestEntry], chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """The manifest as UTF-8 JSON in chunks of at least ``chunk_size`` bytes (but the last), pulling ``entries``
    one at a time: ``[``, the objects separated by ``,``, ``]``."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    return _chunks(entries, chunk_size)


def _chunks(entries: Iterable[ManifestEntry], chunk_size: int) -> Iterator[bytes]:
    parts: list[bytes] = [b"["]
    size = 1
    separator = b""
    for entry in entries:
        if not isinstance(entry, ManifestEntry):
            raise TypeError(f"not a ManifestEntry: {entry!r}")
        item = separator + orjson.dumps(entry.as_json())
        separator = b","
        parts.append(item)
        size += len(item)
        if size >= chunk_size:
            yield b"".join(parts)
            parts.clear()
            size = 0
    parts.append(b"]")
    yield b"".join(parts)


def encode_manifest(entries: Iterable[ManifestEntry]) -> bytes:
    """The whole manifest at once (small manifests, tests)."""
    return b"".join(manifest_chunks(entries))
