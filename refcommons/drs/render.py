"""indexd records as GA4GH DRS 1.5 objects, and the commons' DRS service-info (pure functions).

Unlike indexd's own DRS view, the output is spec-clean: a hostname-based, percent-encoded
``self_uri``; ``created_time`` always set; IANA checksum names (``sha-256``); one access method per
storage protocol whose ``access_id`` is the protocol (``s3``, ``gs``), as fence expects.
"""

from __future__ import annotations

from gateway.wire.drs import DrsObject, DrsServiceStats, Organization, ServiceInfo, ServiceType
from gateway.wire.indexd import access_ids as indexd_access_ids
from gateway.wire.indexd import drs_from_indexd
from refcommons.indexd.records import IndexRecord
from refcommons.settings import CommonsSettings

SERVICE_VERSION = "0.1.0"


def access_ids(record: IndexRecord) -> dict[str, str]:
    """``access_id`` → URL: the first URL of each known scheme (the scheme is the access id)."""
    return indexd_access_ids(record.urls)


def drs_object(record: IndexRecord, settings: CommonsSettings) -> DrsObject:
    """The DRS object of an indexd record, ``self_uri`` on the commons' own host (the mapping is the
    gateway's, :func:`gateway.wire.indexd.drs_from_indexd`, so a commons and the gateway agree)."""
    return drs_from_indexd(record.to_json(), settings.hostname)


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
