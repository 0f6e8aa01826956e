"""Expiring, bounded caches behind one contract: in-process LRU and Redis."""

from gateway.cache.base import Cache, Write
from gateway.cache.factory import open_cache

__all__ = ["Cache", "Write", "open_cache"]
