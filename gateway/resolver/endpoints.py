"""Where a member's services are, as the gateway advertises them (``/index/_dist``, ``/services``) (pure).

Derived from the member's kind and base URL: a ``gen3`` (or in-process ``reference``) member has Gen3's
reverse-proxy layout, indexd at ``<base>/index/`` and DRS at ``<base>/ga4gh/drs/v1``; a ``drs`` member is a DRS
server at ``<base>/ga4gh/drs/v1`` and has no indexd. This is the one place to read per-service endpoints from once
a member's record carries them.
"""

from __future__ import annotations

from gateway.core.member import Member

DRS_PATH = "/ga4gh/drs/v1"


def indexd_endpoint(member: Member) -> str | None:
    """The member's indexd root (ending in ``/``), or ``None`` when it has none (a DRS server)."""
    if member.kind == "drs":
        return None
    return member.base_url.rstrip("/") + "/index/"


def drs_endpoint(member: Member) -> str:
    """The member's DRS API root (no trailing ``/``)."""
    return member.base_url.rstrip("/") + DRS_PATH
