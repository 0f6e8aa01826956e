"""Where a member's services are, as the gateway advertises them (``/index/_dist``, ``/services``) (pure).

Read from the member's endpoints (:attr:`gateway.core.member.Member.endpoints`: the kind's defaults at its base URL,
with what it declared over them): indexd at its ``indexd`` endpoint, DRS at ``<drs>/ga4gh/drs/v1``. A member with
no indexd (a DRS server, a commons that declared none) has no indexd entry.
"""

from __future__ import annotations

from gateway.core.member import Member

DRS_PATH = "/ga4gh/drs/v1"


def indexd_endpoint(member: Member) -> str | None:
    """The member's indexd root (ending in ``/``), or ``None`` when it has none (a DRS server)."""
    root = member.endpoints.indexd
    return None if root is None else root.rstrip("/") + "/"


def drs_endpoint(member: Member) -> str:
    """The member's DRS API root (no trailing ``/``); its base URL's when it declared no DRS service."""
    return (member.endpoints.drs or member.base_url).rstrip("/") + DRS_PATH
