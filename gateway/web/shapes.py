"""The JSON shapes of answers that handlers build as plain dicts, declared for ``/openapi.json`` only.

Handlers render records and registry entries from dicts (``indexd_view``, ``Member.public``, the resolver's
``render``); these models describe what those dicts hold so every main route's 200 has a schema. They validate
nothing at run time: schemathesis' response-schema check (tests/test_contract.py) keeps them honest. Unknown
fields are allowed (a member's indexd record passes through unchanged), so a shape states what a client can rely
on, not everything it may receive.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class IndexdRecordShape(_Open):
    """An indexd record: the member's own (indexd members) or one built from its DRS object."""

    did: str
    rev: str | None = None
    form: str | None = None
    size: int | None = None
    file_name: str | None = None
    urls: list[str] = []
    acl: list[str] = []
    authz: list[str] = []
    hashes: dict[str, str] = {}


class IndexdRecordsShape(RootModel[list[IndexdRecordShape]]):
    """The records found, in the order asked (ids found nowhere are left out)."""


class ResolvedMemberShape(_Open):
    id: str
    name: str
    base_url: str
    kind: str


class ResolutionShape(_Open):
    """Which member holds an id, how it was found, and the member's record (its own format)."""

    id: str
    normalized: str
    kind: str
    member: ResolvedMemberShape
    route: str
    established: bool
    cached: bool
    format: str
    record: dict[str, Any]


class BulkOutcomeShape(_Open):
    """One id of a bulk resolution: ``status`` 200 with the resolution's fields, or the error status with
    ``error`` (and ``candidates`` for 409)."""

    id: str
    status: int
    error: str | None = None


class BulkResolutionShape(BaseModel):
    results: list[BulkOutcomeShape]


class MemberShape(_Open):
    """A member commons as clients see it (credentials never: ``auth`` names the type only)."""

    id: str
    name: str
    base_url: str
    kind: str
    prefixes: list[str]
    hostnames: list[str]
    status: str
    auth: dict[str, Any]
    endpoints: dict[str, str | None]
    """Where each service is (``null``: the member has none)."""
    capabilities: dict[str, Any]
    """``offers``, ``missing`` (capability → why) and ``checked``."""


class MemberListShape(_Open):
    commons: list[MemberShape]


__all__ = [
    "BulkOutcomeShape", "BulkResolutionShape", "IndexdRecordShape", "IndexdRecordsShape", "MemberListShape",
    "MemberShape", "ResolutionShape", "ResolvedMemberShape",
]
