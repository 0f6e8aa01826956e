"""indexd records: the :class:`IndexRecord` with every field indexd serves, and the write bodies.

:meth:`IndexRecord.from_data_file` turns a synthetic :class:`~refcommons.model.DataFile` into the
record a Gen3 indexd would hold for it (``s3://`` and ``gs://`` copies, acl/authz, md5+sha256);
:class:`IndexCreate` and :class:`IndexUpdate` validate ``POST``/``PUT /index/index`` bodies the way
indexd's JSON schemas do (hash names and hex formats, ``form`` values, content dates).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.wire.checksums import INDEXD_HASH_FORMATS
from refcommons.model import DataFile
from refcommons.synth import program_name

S3_REGION = "us-east-1"


def short_rev(*parts: object) -> str:
    """An 8-hex-character indexd ``rev`` (deterministic from ``parts``)."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:8]


def bucket_for(prefix: str, authz: str) -> str:
    """``refcommons-<p>-open`` or ``refcommons-<p>-controlled``: the bucket a file of ``authz`` lives in."""
    kind = "open" if "/projects/" in authz else "controlled"
    return f"refcommons-{program_name(prefix).lower()}-{kind}"


@dataclass(frozen=True, slots=True)
class IndexRecord:
    """One indexd record (``form`` object). Treat as immutable: updates make a new record."""

    did: str
    baseid: str
    rev: str
    size: int
    hashes: dict[str, str]
    urls: list[str]
    form: str = "object"
    file_name: str | None = None
    version: str | None = None
    uploader: str | None = None
    urls_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    acl: list[str] = field(default_factory=list)
    authz: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_date: str = ""
    updated_date: str = ""
    description: str | None = None
    content_created_date: str | None = None
    content_updated_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as indexd's ``GET /index/{guid}`` returns it (every key present, nulls allowed)."""
        return {
            "did": self.did,
            "baseid": self.baseid,
            "rev": self.rev,
            "size": self.size,
            "file_name": self.file_name,
            "version": self.version,
            "uploader": self.uploader,
            "urls": list(self.urls),
            "urls_metadata": {u: dict(m) for u, m in self.urls_metadata.items()},
            "acl": list(self.acl),
            "authz": list(self.authz),
            "hashes": dict(self.hashes),
            "metadata": dict(self.metadata),
            "form": self.form,
            "created_date": self.created_date,
            "updated_date": self.updated_date,
            "description": self.description,
            "content_created_date": self.content_created_date,
            "content_updated_date": self.content_updated_date,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> IndexRecord:
        """The inverse of :meth:`to_json` (used to read persisted writes back)."""
        return cls(
            did=doc["did"], baseid=doc["baseid"], rev=doc["rev"], size=doc["size"], hashes=dict(doc["hashes"]),
            urls=list(doc["urls"]), form=doc.get("form", "object"), file_name=doc.get("file_name"),
            version=doc.get("version"), uploader=doc.get("uploader"),
            urls_metadata=dict(doc.get("urls_metadata") or {}), acl=list(doc.get("acl") or []),
            authz=list(doc.get("authz") or []), metadata=dict(doc.get("metadata") or {}),
            created_date=doc.get("created_date", ""), updated_date=doc.get("updated_date", ""),
            description=doc.get("description"), content_created_date=doc.get("content_created_date"),
            content_updated_date=doc.get("content_updated_date"),
        )

    @classmethod
    def from_data_file(cls, f: DataFile, prefix: str) -> IndexRecord:
        """The record indexd would hold for a synthetic file of the commons with GUID ``prefix``."""
        key = f.guid.split("/", 1)[-1]
        path = f"{bucket_for(prefix, f.authz)}/{f.project_id}/{key}/{f.file_name}"
        s3, gs = f"s3://{path}", f"gs://{path}"
        open_access = "/projects/" in f.authz
        return cls(
            did=f.guid,
            baseid=str(uuid.UUID(bytes=hashlib.sha256(f"baseid\x1f{f.guid}".encode()).digest()[:16], version=4)),
            rev=short_rev("rev", f.guid),
            size=f.size,
            hashes={"md5": f.md5, "sha256": f.sha256},
            urls=[s3, gs],
            file_name=f.file_name,
            urls_metadata={s3: {"region": S3_REGION}, gs: {}},
            acl=["*"] if open_access else [f.authz.rsplit("/", 1)[-1]],
            authz=[f.authz],
            created_date=f.created_date,
            updated_date=f.created_date,
        )


def _check_hashes(hashes: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(hashes) - set(INDEXD_HASH_FORMATS))
    if unknown:
        raise ValueError(f"invalid hash types specified: {', '.join(unknown)}")
    bad = sorted(name for name, value in hashes.items() if not INDEXD_HASH_FORMATS[name].match(value))
    if bad:
        raise ValueError(f"invalid hash values specified for {', '.join(bad)}")
    return hashes


def parse_date(value: str) -> datetime:
    """An ISO 8601 / RFC 3339 date-time; one without an offset is taken as UTC."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_date(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_date(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None
    return value


def check_content_dates(created: str | None, updated: str | None) -> None:
    """indexd's rules: no ``content_updated_date`` without a created one, and never before it."""
    if updated is not None and created is None:
        raise ValueError("Cannot set content_updated_date without content_created_date")
    if created is not None and updated is not None and parse_date(updated) < parse_date(created):
        raise ValueError("content_updated_date cannot come before content_created_date")


class IndexCreate(BaseModel):
    """Body of ``POST /index/index``: a new record (``form``, ``size``, ``hashes`` and ``urls`` required)."""

    model_config = ConfigDict(extra="forbid")

    did: str | None = Field(default=None, min_length=1)
    form: Literal["object", "container", "multipart"]
    size: int = Field(ge=0)
    hashes: dict[str, str] = Field(min_length=1)
    urls: list[str]
    file_name: str | None = None
    acl: list[str] = Field(default_factory=list)
    authz: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    urls_metadata: dict[str, dict[str, Any]] = Field(default_factory=dict)
    version: str | None = None
    description: str | None = None
    content_created_date: str | None = None
    content_updated_date: str | None = None
    uploader: str | None = None
    baseid: str | None = None

    _hashes = field_validator("hashes")(_check_hashes)
    _dates = field_validator("content_created_date", "content_updated_date")(_check_date)

    @model_validator(mode="after")
    def _dates_in_order(self) -> IndexCreate:
        check_content_dates(self.content_created_date, self.content_updated_date)
        return self


class IndexUpdate(BaseModel):
    """Body of ``PUT /index/index/{guid}?rev=``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] | None = None
    file_name: str | None = None
    version: str | None = None
    metadata: dict[str, Any] | None = None
    acl: list[str] | None = None
    authz: list[str] | None = None
    urls_metadata: dict[str, dict[str, Any]] | None = None
    description: str | None = None
    content_created_date: str | None = None
    content_updated_date: str | None = None

    _dates = field_validator("content_created_date", "content_updated_date")(_check_date)

    def changes(self) -> dict[str, Any]:
        """The fields the client sent; a ``null`` list or map becomes empty, like indexd clearing it."""
        empty: dict[str, Any] = {"urls": [], "acl": [], "authz": [], "metadata": {}, "urls_metadata": {}}
        out = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            out[name] = empty[name] if value is None and name in empty else value
        return out


class WriteResult(BaseModel):
    """What indexd answers to a create or update."""

    did: str
    rev: str
    baseid: str


class IndexStats(BaseModel):
    """``GET /index/_stats``."""

    fileCount: int
    totalFileSize: int
