"""The GA4GH DRS 1.5 wire format as pydantic v2 models.

Key names follow the specification exactly (including the bulk response's singular
``resolved_drs_object``). Models ignore unknown keys when parsing (upstream servers add extras such as
indexd's ``form``) and are written with :func:`dump`, which never emits ``null``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON form of a DRS model: no ``null`` anywhere, dates as RFC 3339 with ``Z``."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def dump_json(model: BaseModel) -> bytes:
    """:func:`dump` written as JSON in one step (pydantic's serializer, no dict in between): the bytes
    ``orjson.dumps(dump(model))`` gives."""
    return model.__pydantic_serializer__.to_json(model, exclude_none=True, by_alias=True)


class AccessMethodType(StrEnum):
    s3 = "s3"
    gs = "gs"
    ftp = "ftp"
    gsiftp = "gsiftp"
    globus = "globus"
    htsget = "htsget"
    https = "https"
    file = "file"


class AuthorizationType(StrEnum):
    none = "None"
    basic = "BasicAuth"
    bearer = "BearerAuth"
    passport = "PassportAuth"


class Authorizations(_Model):
    """How to authorize ``/access`` for an object (DRS 1.3+; ``OPTIONS /objects/{id}``)."""

    drs_object_id: str | None = None
    supported_types: list[AuthorizationType] | None = None
    passport_auth_issuers: list[str] | None = None
    bearer_auth_issuers: list[str] | None = None


class AccessURL(_Model):
    url: str
    headers: list[str] | None = None
    """Each ``"Name: value"``, e.g. ``"Authorization: Basic Z2E0Z2g6ZHJz"``."""


class AccessMethod(_Model):
    type: AccessMethodType
    access_url: AccessURL | None = None
    access_id: str | None = None
    region: str | None = None
    cloud: str | None = None
    """``aws``, ``gcp``, ``azure``… (DRS 1.5)."""
    available: bool | None = None
    """``False`` when the bytes are in cold storage (DRS 1.5)."""
    authorizations: Authorizations | None = None
    """DRS 1.3+."""

    @model_validator(mode="after")
    def _url_or_id(self) -> AccessMethod:
        if self.access_url is None and self.access_id is None:
            raise ValueError("an access method needs access_url or access_id")
        return self


class Checksum(_Model):
    checksum: str
    type: str
    """An IANA hash name such as ``sha-256``, or ``md5``, ``etag``, ``crc32c``, ``trunc512``, ``sha1``."""


class ContentsObject(_Model):
    name: str
    id: str | None = None
    drs_uri: list[str] | None = None
    contents: list[ContentsObject] | None = None


def _utc(value: datetime) -> datetime:
    """Naive times are UTC; others are converted to UTC (so every date is written with ``Z``)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A DRS date: read as pydantic reads a datetime, kept in UTC, written RFC 3339 with ``Z``."""


class DrsObject(_Model):
    id: str
    name: str | None = None
    self_uri: str
    size: int = Field(ge=0)
    created_time: UtcDatetime
    updated_time: UtcDatetime | None = None
    version: str | None = None
    mime_type: str | None = None
    checksums: list[Checksum] = Field(min_length=1)
    access_methods: list[AccessMethod] | None = Field(default=None, min_length=1)
    contents: list[ContentsObject] | None = None
    description: str | None = None
    aliases: list[str] | None = None


_AS_WRITTEN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?!000000)[0-9]{6})?(Z?)")
"""A date the model writes as it is (``Z`` added when absent): whole seconds, or six digits of a fraction that is not
zero (the model drops a zero fraction), naive (UTC) or ``Z``: what indexd (``isoformat()`` of a naive UTC time) and
the reference commons write."""
_DATE = TypeAdapter(UtcDatetime)


def written_time(value: str) -> str | None:
    """``value`` as :class:`DrsObject` writes a date (the same type, read and written by pydantic alone: a naive
    indexd date ``2019-08-22T19:05:27.443385`` → ``2019-08-22T19:05:27.443385Z``), or ``None`` when it is not a date
    the model takes. A date already in one of the forms the model writes (:data:`_AS_WRITTEN`) is only checked to be
    a real date and given back with its ``Z``; pydantic reads and writes any other."""
    match = _AS_WRITTEN.fullmatch(value)
    if match is not None:
        try:
            datetime.fromisoformat(value)
            return value if match.group(1) else value + "Z"
        except ValueError:
            pass  # not a real date in that form (2024-02-30): pydantic decides, as the model would
    try:
        written: str = _DATE.dump_python(_DATE.validate_python(value), mode="json")
    except ValidationError:
        return None
    return written


class DrsObjectList(_Model):
    """indexd's (non-GA4GH) ``GET /ga4gh/drs/v1/objects`` listing, used by drsclient's ``get_all``."""

    drs_objects: list[DrsObject]


class Error(_Model):
    msg: str
    status_code: int


class ObjectRequest(_Model):
    """Body of ``POST /objects/{id}``."""

    expand: bool | None = None
    passports: list[str] | None = None


class AccessRequest(_Model):
    """Body of ``POST /objects/{id}/access/{access_id}``."""

    passports: list[str] | None = None


class BulkObjectsRequest(_Model):
    """Body of ``POST /objects`` and ``OPTIONS /objects``."""

    bulk_object_ids: list[str] = Field(min_length=1)
    passports: list[str] | None = None


class BulkAccessIds(_Model):
    bulk_object_id: str
    bulk_access_ids: list[str] = Field(min_length=1)


class BulkAccessRequest(_Model):
    """Body of ``POST /objects/access``."""

    bulk_object_access_ids: list[BulkAccessIds] = Field(min_length=1)
    passports: list[str] | None = None


class Summary(_Model):
    requested: int
    resolved: int
    unresolved: int


class Unresolved(_Model):
    error_code: int
    object_ids: list[str]


class BulkObjectsResponse(_Model):
    summary: Summary
    unresolved_drs_objects: list[Unresolved]
    resolved_drs_object: list[DrsObject]


class BulkAuthorizationsResponse(_Model):
    summary: Summary
    unresolved_drs_objects: list[Unresolved]
    resolved_drs_object: list[Authorizations]


class BulkAccessURL(_Model):
    drs_object_id: str
    drs_access_id: str
    url: str
    headers: list[str] | None = None


class BulkAccessResponse(_Model):
    summary: Summary
    unresolved_drs_objects: list[Unresolved]
    resolved_drs_object_access_urls: list[BulkAccessURL]


class ServiceType(_Model):
    group: str = "org.ga4gh"
    artifact: str = "drs"
    version: str = "1.5.0"


class Organization(_Model):
    name: str
    url: str


class DrsServiceStats(_Model):
    maxBulkRequestLength: int
    objectCount: int | None = None
    totalObjectSize: int | None = None


class ServiceInfo(_Model):
    """GA4GH service-info v1 plus DRS's ``maxBulkRequestLength`` (deprecated root copy) and ``drs``."""

    id: str
    name: str
    type: ServiceType
    description: str | None = None
    organization: Organization
    contactUrl: str | None = None
    documentationUrl: str | None = None
    createdAt: datetime | None = None
    updatedAt: datetime | None = None
    environment: str | None = None
    version: str
    maxBulkRequestLength: int | None = None
    drs: DrsServiceStats | None = None


def group_unresolved(failures: list[tuple[int, str]]) -> list[Unresolved]:
    """``(status, id)`` pairs grouped by status (ids once each, request order), lowest status first."""
    groups: dict[int, list[str]] = {}
    for status, object_id in failures:
        ids = groups.setdefault(status, [])
        if object_id not in ids:
            ids.append(object_id)
    return [Unresolved(error_code=code, object_ids=ids) for code, ids in sorted(groups.items())]
