"""DRS output profiles: the same documents shaped for the DRS version a client expects.

``"1.5"`` (default) passes documents through. ``"1.2"`` removes what DRS 1.3+ added, so closed 1.2.0
schemas (the GA4GH drs-compliance-suite's) accept the output: ``cloud``, ``available`` and
``authorizations`` on access methods; ``maxBulkRequestLength`` and ``drs`` on service-info (whose
``type.version`` becomes ``1.2.0``). Pure functions over JSON dicts; inputs are never modified.
"""

from __future__ import annotations

from typing import Any

PROFILES = ("1.5", "1.2")
ACCESS_METHOD_KEYS_1_3 = ("cloud", "available", "authorizations")
SERVICE_INFO_KEYS_1_4 = ("maxBulkRequestLength", "drs")


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown DRS profile {profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def to_profile(obj: dict[str, Any], profile: str) -> dict[str, Any]:
    """A DRS object (JSON dict) for ``profile``."""
    if check_profile(profile) == "1.5" or "access_methods" not in obj:
        return obj
    methods = [{k: v for k, v in m.items() if k not in ACCESS_METHOD_KEYS_1_3} for m in obj["access_methods"]]
    return {**obj, "access_methods": methods}


def service_info_profile(info: dict[str, Any], profile: str) -> dict[str, Any]:
    """A service-info document (JSON dict) for ``profile``."""
    if check_profile(profile) == "1.5":
        return info
    out = {k: v for k, v in info.items() if k not in SERVICE_INFO_KEYS_1_4}
    if isinstance(out.get("type"), dict):
        out["type"] = {**out["type"], "version": "1.2.0"}
    return out
