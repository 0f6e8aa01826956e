"""indexd's list query (``GET /index/index``) as plain data: the filters a listing is asked with, how they go on
the wire to a member, and how they are echoed in the answer (pure).

indexd's parameters: ``hash=<type>:<hex>`` (repeatable: every one must match), ``url=`` (repeatable: the record
carries every one), ``file_name=``, ``version=``, ``size=``, ``acl=`` and ``authz=`` (comma-separated: the record
carries every one; the literal ``null`` means "records with none"), ``limit`` (0 to :data:`MAX_LIMIT`, default
:data:`DEFAULT_LIMIT`) and ``start`` (records whose ``did`` sorts after it). Records come back in ascending ``did``
order. The answer is ``{"ids", "records", "limit", "start", "page", "size", "file_name", "version", "urls", "acl",
"authz", "hashes", "metadata"}``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

DEFAULT_LIMIT = 100
"""indexd's page size when ``limit`` is not given."""
MAX_LIMIT = 1024
"""indexd's largest ``limit``."""


@dataclass(frozen=True, slots=True)
class ListFilters:
    """What records a listing keeps; a ``None`` (or empty ``hashes``/``urls``) filter is not applied."""

    hashes: tuple[tuple[str, str], ...] = ()
    """``(type, hex)`` pairs, every one required."""
    urls: tuple[str, ...] = ()
    file_name: str | None = None
    version: str | None = None
    size: int | None = None
    acl: tuple[str, ...] | None = None
    """Every one required; ``()`` is indexd's ``acl=null`` (records with no acl)."""
    authz: tuple[str, ...] | None = None
    """Every one required; ``()`` is indexd's ``authz=null`` (records with no authz)."""

    def params(self) -> list[tuple[str, str]]:
        """The filters as indexd's query parameters, in a fixed order (repeated ``hash``/``url``)."""
        out = [("hash", f"{kind}:{value}") for kind, value in self.hashes]
        out += [("url", url) for url in self.urls]
        for name, value in (("file_name", self.file_name), ("version", self.version)):
            if value is not None:
                out.append((name, value))
        if self.size is not None:
            out.append(("size", str(self.size)))
        for name, values in (("acl", self.acl), ("authz", self.authz)):
            if values is not None:
                out.append((name, ",".join(values) if values else "null"))
        return out

    def digest(self) -> str:
        """A short digest of the filters (what a cursor is tied to)."""
        return hashlib.sha256(orjson.dumps(self.params())).hexdigest()[:16]

    def echo(self) -> dict[str, Any]:
        """The filter fields of indexd's list answer, as indexd echoes them."""
        return {
            "size": self.size, "file_name": self.file_name, "version": self.version, "urls": list(self.urls),
            "acl": None if self.acl is None else list(self.acl),
            "authz": None if self.authz is None else list(self.authz),
            "hashes": dict(self.hashes) or None, "metadata": {},
        }
