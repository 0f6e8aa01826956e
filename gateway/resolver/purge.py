"""An admin purge of cached resolutions: one or more ids (in any spelling) or a whole member, from every cache on
every replica (the route is ``POST /registry/v1/cache/purge``, :mod:`gateway.web.routes.registry`).

Two steps, both needed:

1. the cache keys of the ids' common spellings (:func:`spellings`: as given, the bare accession, the Gen3 GUID,
   the compact ``drs://<prefix>:<accession>``) are **deleted** under the current registry version and generation:
   in a shared (Redis) cache every replica misses them at once, before it re-reads the generation;
2. the **cache generation** is bumped (:mod:`.generations`): every key every replica makes changes, so every entry
   in any cache, shared or in-process, in every other spelling and of every member, is retired — here at once, on
   the other replicas within the registry's ``recheck`` interval (1 s by default).

A member purge is step 2 alone (its entries cannot be listed by id). The next lookup of a purged id asks its member
again. Cost: one purge retires the whole resolution cache, not only the ids named (the next lookup of every id asks
its member once more); purges are rare admin actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from gateway.registry.directory import Routes
from gateway.resolver.cache_entries import cache_key
from gateway.resolver.identifiers import Identifier, parse_identifier
from gateway.resolver.service import Resolver


def spellings(ident: Identifier) -> list[str]:
    """The common texts naming ``ident``'s record: as given, the bare accession, the Gen3 GUID and the compact
    ``drs://<prefix>:<accession>`` (distinct, in that order)."""
    out = [ident.raw, ident.accession]
    if ident.gen3_id is not None:
        out += [ident.gen3_id, f"drs://{ident.prefix_as_given}:{ident.accession}"]
    return list(dict.fromkeys(out))


def parsed(raws: Sequence[str]) -> dict[str, Identifier]:
    """Every spelling of every id in ``raws`` → its identifier (``InvalidIdentifier`` for one that is not an id)."""
    out: dict[str, Identifier] = {}
    for raw in raws:
        for text in spellings(parse_identifier(raw)):
            if text not in out:
                out[text] = parse_identifier(text)
    return out


async def forget(resolver: Resolver, idents: dict[str, Identifier], routes: Routes, generation: int) -> None:
    """Step 1 for the resolution cache: delete the keys of ``idents`` under ``routes``' version and ``generation``."""
    keys: Iterable[str] = dict.fromkeys(cache_key(routes.version, i, generation) for i in idents.values())
    await asyncio.gather(*(resolver.cache.delete(key) for key in keys))


async def retire_all(resolver: Resolver, reason: str) -> int:
    """Step 2: a new cache generation (returned)."""
    return await resolver.generation.bump(reason)
