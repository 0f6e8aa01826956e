"""Slot leases: "who does this duty for this interval?" agreed through the shared store, so a background duty
(a member's health probe, a member's harvest, the declared-member re-assert) runs once per interval per
*deployment*, whatever the number of replicas and of worker processes in each (``gateway serve --workers N``).

A lease is one document ``{slot, holder, at}`` per duty (``namespace``, ``key``). :func:`claim_slot` moves its
``slot`` forward with a conditional write (``expect_rev``): of everyone claiming the same slot, exactly one write
succeeds; a claim for a slot the lease already reached fails. Slots are wall-clock interval numbers
(:func:`gateway.core.concurrency.every_slot`), so every process agrees on them. A holder that dies mid-duty
simply misses that slot; nothing expires or needs releasing.

Why the store and not the cache (``Cache.add``): the store is shared by every process of a deployment by
construction, while the cache may be the in-process one (``memory://``), with which each worker would hold its
own lease and the duty would run once per process.
"""

from __future__ import annotations

from gateway.store.base import ABSENT, Conflict, Store


async def claim_slot(store: Store, namespace: str, key: str, slot: int, *, holder: str, at: float) -> bool:
    """Take the lease ``namespace``/``key`` for ``slot``; ``False`` when someone already holds it (or a later
    slot). ``holder`` and ``at`` are recorded for operators (who ran it, when). Store errors propagate."""
    found = await store.get(namespace, key)
    if found is not None and int(found.doc.get("slot", -1)) >= slot:
        return False
    try:
        await store.put(namespace, key, {"slot": slot, "holder": holder, "at": at},
                        expect_rev=found.rev if found is not None else ABSENT)
    except Conflict:
        return False
    return True
