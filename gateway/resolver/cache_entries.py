"""The resolution cache's keys and entries (pure): what is remembered of an answer, and how it reads back.

A key holds the registry's version, so any registry change (on any replica) retires every entry. A hit is
stored as the member's id, the record and the route; a miss (any 404) as its message. An entry naming a
member that is no longer active (or an upstream dist list's pseudo-member, never in the registry) reads as
nothing: the id is resolved afresh.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.resolver.identifiers import Identifier
from gateway.resolver.outcomes import Outcome, Resolution, ResolutionError


def cache_key(version: int, ident: Identifier) -> str:
    # object_id keeps the prefix as the user spelled it: Gen3 GUIDs are case-sensitive upstream
    return f"resolve:v{version}:{ident.kind}:{ident.hostname or ''}:{ident.object_id}"


def hit_entry(resolution: Resolution) -> bytes:
    r = resolution.record
    return orjson.dumps({"m": resolution.member.id, "id": r.id, "f": r.format, "d": r.document,
                         "r": resolution.route})


def miss_entry(error: ResolutionError) -> bytes:
    return orjson.dumps({"miss": error.message})


def read_entry(ident: Identifier, entry: bytes, members: dict[str, Member]) -> Outcome | None:
    """The remembered answer for ``ident`` (a :class:`Resolution` marked ``cached``, or the 404 it was);
    ``None`` when it names a member not in ``members``."""
    doc: dict[str, Any] = orjson.loads(entry)
    if "miss" in doc:
        return ResolutionError(404, doc["miss"])
    member = members.get(doc["m"])
    if member is None:
        return None
    record = MemberRecord(member.id, doc["id"], doc["f"], doc["d"])
    return Resolution(ident, member, record, doc["r"], cached=True)


def recalled(
    batch: dict[str, Identifier], keys: dict[str, str], entries: dict[str, bytes], members: dict[str, Member]
) -> dict[str, Outcome]:
    """The answers ``entries`` (cache key → entry, as read) hold for ``batch`` (text given → identifier), whose
    keys are ``keys``."""
    out: dict[str, Outcome] = {}
    for raw, key in keys.items():
        entry = entries.get(key)
        if entry is not None and (outcome := read_entry(batch[raw], entry, members)) is not None:
            out[raw] = outcome
    return out
