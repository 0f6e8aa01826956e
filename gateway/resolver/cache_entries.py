"""The resolution cache's keys and entries (pure): what is remembered of an answer, and how it reads back.

A key holds the registry's version and the cache generation (:mod:`.generations`), so any registry change and
any admin purge (on any replica) retires every entry. A hit is stored as the member's id, the record, the route,
whether the member was established as the id's only holder (an entry without that mark reads as not established)
and **when the record was fetched** from its member (wall-clock seconds, comparable across replicas; an entry
without it reads as fetched at 0, i.e. too old for any access decision, see
:attr:`~.outcomes.Resolution.fetched_at`); a miss (any 404) as its message; an ambiguous id (409) as its message and
candidates. An entry naming a member that is no longer active (or an upstream dist list's
pseudo-member, never in the registry) reads as nothing: the id is resolved afresh.

A hit's entry may also hold its **finished answer** (:func:`gateway.resolver.answers.finished`), after a newline
(orjson never writes one): the entry and the bytes ``GET /resolver/v1/resolve`` answers for it live and die
together (same key, same TTL, same purge, rewritten together on a revalidation). It is written only for a member
of the registry snapshot the key names (never for an upstream dist list's pseudo-member, whose entry reads as
nothing), so a key whose entry holds one always answers with it. An entry without one (written by an older
version) is read as before.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.resolver.identifiers import Identifier
from gateway.resolver.outcomes import Candidate, Outcome, Resolution, ResolutionError


def cache_key(version: int, ident: Identifier, generation: int = 0) -> str:
    # object_id keeps the prefix as the user spelled it: Gen3 GUIDs are case-sensitive upstream
    return f"resolve:v{version}.{generation}:{ident.kind}:{ident.hostname or ''}:{ident.object_id}"


def hit_entry(resolution: Resolution, fetched_at: float | None = None, answer: bytes | None = None) -> bytes:
    """``fetched_at``: when the record was fetched (default: the resolution's own time, else now); ``answer``: its
    finished answer, kept with it."""
    r = resolution.record
    at = fetched_at if fetched_at is not None else resolution.fetched_at
    entry = orjson.dumps({"m": resolution.member.id, "id": r.id, "f": r.format, "d": r.document,
                          "r": resolution.route, "e": resolution.established,
                          "t": at if at is not None else time.time()})
    return entry if answer is None else entry + b"\n" + answer


def finished_answer(entry: bytes) -> bytes | None:
    """The finished answer an entry holds (see the module docstring), or ``None``."""
    _, newline, answer = entry.partition(b"\n")
    return answer if newline else None


def miss_entry(error: ResolutionError) -> bytes:
    """A 404, or an ambiguous id's 409 with its candidates."""
    if error.candidates:
        return orjson.dumps({"ambiguous": error.message,
                             "c": [[c.member_id, c.id, c.drs_uri] for c in error.candidates]})
    return orjson.dumps({"miss": error.message})


def read_entry(ident: Identifier, entry: bytes, members: dict[str, Member]) -> Outcome | None:
    """The remembered answer for ``ident`` (a :class:`Resolution` marked ``cached``, the 404 or the 409 it was);
    ``None`` when it names a member not in ``members``."""
    end = entry.find(b"\n")
    doc: dict[str, Any] = orjson.loads(entry if end < 0 else memoryview(entry)[:end])
    if "miss" in doc:
        return ResolutionError(404, doc["miss"])
    if "ambiguous" in doc:
        return ResolutionError(409, doc["ambiguous"], candidates=tuple(Candidate(m, i, u) for m, i, u in doc["c"]))
    member = members.get(doc["m"])
    if member is None:
        return None
    record = MemberRecord(member.id, doc["id"], doc["f"], doc["d"])
    fetched = doc.get("t")
    return Resolution(ident, member, record, doc["r"], cached=True, established=doc.get("e") is True,
                      fetched_at=float(fetched) if isinstance(fetched, (int, float)) else 0.0)


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
