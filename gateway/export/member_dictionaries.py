"""The members' own data dictionaries for PFB exports: asked for, bounded and cached (I/O), then chosen among.

:meth:`MemberDictionaries.choose` asks every member contributing to an export what dictionary it offers (all at
once, under one deadline) and applies the rule of :func:`~gateway.export.dictionary_choice.choose` with the
default dictionary the app handed over (the reference commons', which is package data there). A member's offer:

* ``none`` when its adapter has no :class:`OffersDictionary` capability (a plain DRS member), when its cohort
  answers pass through a cohort mapping (its rows then come in the gateway's field names, not its dictionary's),
  or when it answers that it has no submission service (404, 405, 501: :meth:`OffersDictionary.data_dictionary`
  returns ``None``);
* ``refused`` when it failed (timeout, 5xx, 401…: the reason is recorded and the default is used, never a 500),
  when the dictionary's JSON is larger than :data:`MAX_DICTIONARY_BYTES`, or when it does not pass
  :func:`~gateway.export.dictionary_choice.read_offered`;
* ``offered`` otherwise, with the dictionary read.

Members are asked without any caller's credentials (sheepdog serves its dictionary to anyone; one answer then
serves every caller). What a member answered is cached in the gateway cache (shared by replicas), keyed by the
member's id and base URL: its dictionary's JSON, or that it has none, for :data:`DICTIONARY_TTL` seconds; a failure
for :data:`FAILURE_TTL` seconds, so that a member that is down is not asked again by every export. A dictionary is
read (and vetted) again from its cached JSON for each export.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol, runtime_checkable

import orjson

from gateway.cache import Cache
from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.member import Member
from gateway.core.metrics import current
from gateway.export.dictionary import Dictionary
from gateway.export.dictionary_choice import DictionaryChoice, Offer, Refused, choose, read_offered

log = logging.getLogger("gateway.export.member_dictionaries")

MAX_DICTIONARY_BYTES = 8 * 1024 * 1024
"""The largest dictionary (as JSON) an export uses; a large Gen3 dictionary's ``_all`` is one or two MiB."""
DICTIONARY_TTL = 3600.0
"""Seconds a member's dictionary (or its having none) is cached."""
FAILURE_TTL = 60.0
"""Seconds a member's failure to answer is cached."""
CACHE_PREFIX = "export-dictionary:v1:"
JSON, NONE, FAILED = b"J", b"N", b"F"
"""The first byte of a cached outcome: the dictionary's JSON follows, or the reason there is none / it failed."""
MAPPED = "its cohort answers are translated into the gateway's field names by a cohort mapping"
NO_CAPABILITY = "the member offers no data dictionary"
NO_SERVICE = "the member has no submission service"


@runtime_checkable
class OffersDictionary(Protocol):
    """A member adapter that can hand over its data dictionary."""

    async def data_dictionary(self, deadline: Deadline) -> dict[str, Any] | None:
        """The member's whole dictionary in sheepdog's ``_dictionary/_all`` form (node schemas keyed by node id,
        ``$ref`` s resolved); ``None`` when it has none."""
        ...


def cache_key(member: Member) -> str:
    digest = hashlib.sha256(f"{member.id}\n{member.base_url}".encode()).hexdigest()[:32]
    return CACHE_PREFIX + digest


def _offer_of(outcome: bytes) -> Offer:
    """The offer a (cached) outcome makes: :data:`JSON` + the dictionary's JSON, :data:`NONE` or :data:`FAILED` +
    the reason."""
    tag, body = outcome[:1], outcome[1:]
    if tag == NONE:
        return Offer("none", body.decode(errors="replace"))
    if tag != JSON:
        return Offer("refused", body.decode(errors="replace"))
    if len(body) > MAX_DICTIONARY_BYTES:
        return Offer("refused", f"its dictionary is larger than {MAX_DICTIONARY_BYTES} bytes")
    try:
        return Offer.of(read_offered(orjson.loads(body)))
    except orjson.JSONDecodeError:
        return Offer("refused", "its dictionary is not JSON")
    except Refused as exc:
        return Offer("refused", str(exc))


class MemberDictionaries:
    """Asks members for their dictionaries, through ``adapter_of`` (the directory's adapter for a member), with
    ``cache``; chooses with ``default`` for the export."""

    def __init__(self, default: Dictionary, cache: Cache, adapter_of: Callable[[Member], Any], *,
                 mapped: Collection[str] = ()) -> None:
        self.default, self.cache, self.adapter_of = default, cache, adapter_of
        self.mapped = frozenset(mapped)
        """Members whose cohort answers pass through a cohort mapping."""

    async def choose(self, members: Sequence[Member], index: str, deadline: Deadline) -> DictionaryChoice:
        """The dictionary for an export of ``index`` rows from ``members`` (the contributing ones)."""
        offers = await asyncio.gather(*(self.offer(m, deadline) for m in members))
        return choose(self.default, {m.id: o for m, o in zip(members, offers)}, index)

    async def offer(self, member: Member, deadline: Deadline) -> Offer:
        """What ``member`` offers (never raises but for cancellation)."""
        if member.id in self.mapped:
            return Offer("none", MAPPED)
        adapter = self.adapter_of(member)
        if not isinstance(adapter, OffersDictionary):
            return Offer("none", NO_CAPABILITY)
        return _offer_of(await self._outcome(member, adapter, deadline))

    async def _outcome(self, member: Member, adapter: OffersDictionary, deadline: Deadline) -> bytes:
        key = cache_key(member)
        cached = await self.cache.get(key)
        hit = cached is not None and cached[:1] in (JSON, NONE, FAILED)
        current().cache_lookup("export_dictionaries", hit)
        if cached is not None and hit:
            return cached
        outcome, ttl = await self._fetch(member, adapter, deadline)
        await self.cache.set(key, outcome, ttl=ttl)
        return outcome

    async def _fetch(self, member: Member, adapter: OffersDictionary, deadline: Deadline) -> tuple[bytes, float]:
        """What the member answered, tagged, and how long to keep it."""
        try:
            async with asyncio.timeout(deadline.remaining()):
                doc = await adapter.data_dictionary(deadline)
        except asyncio.CancelledError:
            raise
        except UpstreamError as exc:
            return _failed(f"asking for its dictionary failed: {exc.message}"), FAILURE_TTL
        except TimeoutError:
            return _failed("asking for its dictionary: no answer before the deadline"), FAILURE_TTL
        except Exception:
            log.warning("data dictionary: unexpected failure", extra={"member": member.id}, exc_info=True)
            return _failed("asking for its dictionary failed: unexpected failure"), FAILURE_TTL
        if doc is None:
            return NONE + NO_SERVICE.encode(), DICTIONARY_TTL
        try:
            text = orjson.dumps(doc)
        except TypeError as exc:
            return _failed(f"its dictionary is not plain JSON: {exc}"), DICTIONARY_TTL
        if len(text) > MAX_DICTIONARY_BYTES:
            return _failed(f"its dictionary is larger than {MAX_DICTIONARY_BYTES} bytes"), DICTIONARY_TTL
        return JSON + text, DICTIONARY_TTL


def _failed(reason: str) -> bytes:
    return FAILED + reason[:300].encode()
