"""The default study-record mapping of a reference commons member (pure data).

A ``reference`` member without a mapping in ``aggregate.mappings.members`` is harvested with :func:`refcommons_mapping`
(its ``commons`` field is the member's name): the reference commons' ``discovery_metadata`` records
(:mod:`refcommons.mds.catalog`) carry the common schema's fields under their own names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.settings.discovery import MemberMappingSettings

REFCOMMONS_FIELD_MAPPINGS: Mapping[str, Any] = {
    "_unique_id": "path:project_id",
    "study_id": "path:study_id",
    "project_id": "path:project_id",
    "name": "path:name",
    "short_name": "path:short_name",
    "full_name": "path:full_name",
    "study_description": {"path": "description", "filters": ["strip_html", "trim"], "default": ""},
    "program": "path:program",
    "commons": "Reference Commons",
    "data_availability": "available",
    "dbgap_accession": "path:dbgap_accession",
    "access": "path:access",
    "authz": {"path": "authz", "default": []},
    "consent_groups": {"path": "consent_groups", "default": []},
    "data_types": {"path": "data_types", "default": []},
    "tags": {"path": "tags", "default": []},
    "_subjects_count": {"path": "subjects_count", "default": 0},
    "_samples_count": {"path": "samples_count", "default": 0},
    "_files_count": {"path": "files_count", "default": 0},
    "files_size": {"path": "files_size", "default": 0},
}
"""The reference commons' ``discovery_metadata`` records (:mod:`refcommons.mds.catalog`) → the common schema."""


def refcommons_mapping(commons: str = "Reference Commons") -> MemberMappingSettings:
    """The default mapping of a reference commons member; ``commons`` is its human name."""
    return MemberMappingSettings(field_mappings={**REFCOMMONS_FIELD_MAPPINGS, "commons": commons})

