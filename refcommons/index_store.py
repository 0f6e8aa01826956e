"""STUB (helper A replaces): indexd records over the store."""
from __future__ import annotations

from typing import Any

from gateway.store import Store
from refcommons.model import Dataset


class IndexStore:
    def __init__(self, store: Store, dataset: Dataset) -> None:
        self._store = store
        self._dataset = dataset

    @classmethod
    async def open(cls, store: Store, dataset: Dataset) -> IndexStore:
        return cls(store, dataset)

    async def get(self, guid: str) -> Any | None:
        return None

    async def content(self, guid: str) -> bytes | None:
        return None
