"""Slot leases (:func:`gateway.store.claim_slot`) over a real SQLite file opened twice (two processes' handles):
one claimant per slot, never an older slot after a newer one, and racing claimants get exactly one winner."""

from __future__ import annotations

import asyncio

from gateway.store import claim_slot, open_store


async def test_one_claimant_per_slot_across_handles(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    a, b = await open_store(url), await open_store(url)
    try:
        assert await claim_slot(a, "leases", "probe", 7, holder="a", at=1.0)
        assert not await claim_slot(b, "leases", "probe", 7, holder="b", at=1.0)  # taken this slot
        assert not await claim_slot(b, "leases", "probe", 6, holder="b", at=1.0)  # an older slot: never
        assert await claim_slot(b, "leases", "probe", 8, holder="b", at=2.0)
        assert (await a.get("leases", "probe")).doc == {"slot": 8, "holder": "b", "at": 2.0}
        assert await claim_slot(a, "leases", "other", 8, holder="a", at=2.0)  # leases are per key
        wins = await asyncio.gather(*(claim_slot(s, "leases", "race", 1, holder=str(i), at=0.0)
                                      for i, s in enumerate([a, b] * 4)))
        assert sum(wins) == 1
    finally:
        await a.close()
        await b.close()
