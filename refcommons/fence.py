"""STUB (helper B replaces): fence subset (policy, tokens, API keys, signed URLs)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.store import Store
from refcommons.model import Dataset
from refcommons.settings import CommonsSettings


@dataclass(frozen=True)
class Principal:
    user: str | None

    def allows(self, method: str, resources: Iterable[str], service: str = "*") -> bool:
        return True


class Fence:
    def __init__(self, store: Store, settings: CommonsSettings, dataset: Dataset) -> None:
        self.settings = settings

    @classmethod
    async def open(cls, store: Store, settings: CommonsSettings, dataset: Dataset) -> Fence:
        return cls(store, settings, dataset)

    async def principal(self, authorization: str | None) -> Principal:
        return Principal(None)

    async def require(
        self, authorization: str | None, resources: Iterable[str], method: str = "read-storage", service: str = "fence"
    ) -> Principal:
        return Principal(None)

    def signed_url(self, guid: str, protocol: str, expires_in: int | None = None, user: str | None = None) -> str:
        return f"{self.settings.base_url}/storage/{guid}?protocol={protocol}"
