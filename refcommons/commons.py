"""One running reference commons: its dataset, indexd records, metadata, and fence (auth + signing).

This object is what the HTTP layer (``refcommons.app``) serves and what the gateway's in-process
``reference`` adapter calls directly, without HTTP. It holds no global state: everything lives here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.cache.memory import MemoryCache
from gateway.store import Store, open_store
from refcommons.fence.service import Fence
from refcommons.indexd.store import IndexStore
from refcommons.mds.catalog import MetadataCatalog
from refcommons.model import Dataset
from refcommons.settings import CommonsSettings
from refcommons.synth import generate_dataset

RENDER_CACHE_ENTRIES = 20_000
RENDER_CACHE_TTL = 3600.0


@dataclass
class ReferenceCommons:
    settings: CommonsSettings
    store: Store
    dataset: Dataset
    index: IndexStore
    metadata: MetadataCatalog
    fence: Fence
    rendered: MemoryCache
    """Rendered DRS objects (JSON bytes) keyed by ``did`` and ``rev``: the hot read path skips re-rendering."""

    @classmethod
    async def open(cls, settings: CommonsSettings) -> ReferenceCommons:
        if settings.data_dir is not None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = await open_store(f"sqlite:///{settings.data_dir.resolve() / 'commons.sqlite3'}")
        else:
            store = await open_store("sqlite:///:memory:")
        try:
            dataset = generate_dataset(prefix=settings.prefix, seed=settings.seed, subjects=settings.subjects)
            index = await IndexStore.open(store, dataset)
            metadata = MetadataCatalog.build(dataset)
            fence = await Fence.open(store, settings, dataset)  # ValueError: unusable passports/gateway trust
        except BaseException:
            await store.close()
            raise
        rendered = MemoryCache(max_entries=RENDER_CACHE_ENTRIES, default_ttl=RENDER_CACHE_TTL)
        return cls(settings, store, dataset, index, metadata, fence, rendered)

    async def close(self) -> None:
        await self.fence.close()  # flushes pending download-log writes before the store goes
        await self.store.close()
