"""indexd records as GA4GH DRS 1.5 objects, and the commons' DRS service-info (pure functions).

Unlike indexd's own DRS view, the output is spec-clean: a hostname-based, percent-encoded
``self_uri``; ``created_time`` always set; IANA checksum names (``sha-256``); one access method per
storage protocol whose ``access_id`` is the protocol (``s3``, ``gs``), as fence expects.
"""

from __future__ import annotations

from urllib.parse import quote

from gateway.drs.models import (
    AccessMethod,
    AccessMethodType,
    Checksum,
    DrsObject,
    DrsServiceStats,
    Organization,
    ServiceInfo,
    ServiceType,
)
from refcommons.records import IndexRecord, parse_date
from refcommons.settings import CommonsSettings

SERVICE_VERSION = "0.1.0"
CHECKSUM_NAMES = {"md5": "md5", "sha1": "sha1", "sha256": "sha-256", "sha512": "sha-512", "crc": "crc32",
                  "etag": "etag"}
"""indexd hash name → DRS checksum type (IANA names where one exists)."""
SCHEMES = {
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
    ".vcf": "text/plain",
    ".json": "application/json",
    ".txt": "text/plain",
}


def self_uri(did: str, settings: CommonsSettings) -> str:
    """``drs://<host[:port]>/<did percent-encoded>`` (``/`` → ``%2F``)."""
    return f"drs://{settings.hostname}/{quote(did, safe='')}"


def access_ids(record: IndexRecord) -> dict[str, str]:
    """``access_id`` → URL: the first URL of each known scheme (the scheme is the access id)."""
    out: dict[str, str] = {}
    for url in record.urls:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme in SCHEMES:
            out.setdefault(scheme, url)
    return out


def mime_type(file_name: str | None) -> str:
    name = (file_name or "").lower()
    return next((t for ext, t in MIME_TYPES.items() if name.endswith(ext)), "application/octet-stream")


def drs_object(record: IndexRecord, settings: CommonsSettings) -> DrsObject:
    """The DRS object of an indexd record."""
    methods = []
    for access_id, url in access_ids(record).items():
        kind, cloud = SCHEMES[access_id]
        region = (record.urls_metadata.get(url) or {}).get("region")
        methods.append(AccessMethod(
            type=kind, access_id=access_id, cloud=cloud, region=region if isinstance(region, str) else None,
            available=True,
        ))
    created = record.content_created_date or record.created_date
    updated = record.content_updated_date or record.updated_date
    head, sep, tail = record.did.partition("/")
    return DrsObject(
        id=record.did,
        name=record.file_name or None,
        self_uri=self_uri(record.did, settings),
        size=record.size,
        created_time=parse_date(created),
        updated_time=parse_date(updated) if updated else None,
        version=record.version or record.rev,
        mime_type=mime_type(record.file_name),
        checksums=[Checksum(checksum=v, type=CHECKSUM_NAMES.get(k, k)) for k, v in sorted(record.hashes.items())],
        access_methods=methods or None,
        description=record.description or None,
        aliases=[tail] if sep and head == settings.prefix else None,
    )


def service_info(settings: CommonsSettings, stats: tuple[int, int]) -> ServiceInfo:
    """The DRS service-info of the commons; ``stats`` is ``(object_count, total_size)``."""
    count, total = stats
    return ServiceInfo(
        id=f"org.gen3.refcommons.{settings.prefix.lower()}",
        name=f"{settings.display_name} DRS",
        type=ServiceType(),
        description=f"GA4GH DRS over the indexd records of {settings.display_name}.",
        organization=Organization(name=settings.display_name, url=settings.base_url),
        environment="test",
        version=SERVICE_VERSION,
        maxBulkRequestLength=settings.max_bulk_request_length,
        drs=DrsServiceStats(
            maxBulkRequestLength=settings.max_bulk_request_length, objectCount=count, totalObjectSize=total,
        ),
    )
