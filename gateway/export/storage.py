"""Where export job files live, so that any replica can serve them: the shared cache or a directory.

* :class:`CacheFiles`: the file as blobs of :data:`BLOB_SIZE` bytes under ``export:{id}:{n}`` in the configured
  cache (Redis in production), plus ``export:{id}:meta`` (``{blobs, size, sha256}``) written last. Every key
  carries a TTL (``max_duration + job_ttl``), so what a crashed replica left behind goes away on its own.
* :class:`DirectoryFiles`: ``{directory}/{id}``, written as ``{id}.part`` and renamed when complete. Replicas
  share it only if they share the directory (the embedded default, one host). :meth:`DirectoryFiles.sweep`
  removes files older than the longest a file may be needed.

Both write through :class:`FileWriter` (``write`` chunks, then ``commit`` → size and SHA-256, or ``abort``) and
read back in chunks; a missing or incomplete file is :class:`FileGone`. :func:`open_files` picks the backend
(``aggregate.export.storage``: ``auto`` is the cache when it is shared (Redis), else the directory: the
in-process memory cache never holds files).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

import orjson

from gateway.cache import Cache
from gateway.settings.aggregate import ExportSettings

BLOB_SIZE = 1024 * 1024
READ_SIZE = 256 * 1024


class FileGone(Exception):
    """The job's file is not (or no longer, or not completely) there."""


class FileWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> tuple[int, str]:
        """Make the file complete and readable; its size and SHA-256 (hex)."""

    async def abort(self) -> None:
        """Forget what was written."""


class ExportFiles(Protocol):
    kind: str

    def writer(self, job_id: str) -> FileWriter: ...

    def read(self, job_id: str) -> AsyncIterator[bytes]:
        """The file in chunks; :class:`FileGone` (before or between chunks) when it is missing or incomplete."""

    async def delete(self, job_id: str) -> None: ...

    async def sweep(self, now: float) -> int:
        """Remove leftovers no job can need any more; how many."""


class _CacheWriter:
    def __init__(self, files: CacheFiles, job_id: str) -> None:
        self.files, self.job_id = files, job_id
        self.buffer = bytearray()
        self.blobs = 0
        self.size = 0
        self.digest = hashlib.sha256()

    async def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        self.size += len(chunk)
        self.digest.update(chunk)
        while len(self.buffer) >= BLOB_SIZE:
            await self._flush(bytes(self.buffer[:BLOB_SIZE]))
            del self.buffer[:BLOB_SIZE]

    async def _flush(self, blob: bytes) -> None:
        await self.files.cache.set(self.files.blob_key(self.job_id, self.blobs), blob, ttl=self.files.ttl)
        self.blobs += 1

    async def commit(self) -> tuple[int, str]:
        if self.buffer:
            await self._flush(bytes(self.buffer))
            self.buffer.clear()
        sha256 = self.digest.hexdigest()
        meta = {"blobs": self.blobs, "size": self.size, "sha256": sha256}
        await self.files.cache.set(self.files.meta_key(self.job_id), orjson.dumps(meta), ttl=self.files.ttl)
        return self.size, sha256

    async def abort(self) -> None:
        for n in range(self.blobs):
            await self.files.cache.delete(self.files.blob_key(self.job_id, n))


class CacheFiles:
    """Job files as blobs in the shared cache."""

    kind = "cache"

    def __init__(self, cache: Cache, ttl: float) -> None:
        self.cache, self.ttl = cache, ttl

    @staticmethod
    def meta_key(job_id: str) -> str:
        return f"export:{job_id}:meta"

    @staticmethod
    def blob_key(job_id: str, n: int) -> str:
        return f"export:{job_id}:{n}"

    def writer(self, job_id: str) -> FileWriter:
        return _CacheWriter(self, job_id)

    async def _meta(self, job_id: str) -> dict[str, int | str] | None:
        raw = await self.cache.get(self.meta_key(job_id))
        return orjson.loads(raw) if raw is not None else None

    async def read(self, job_id: str) -> AsyncIterator[bytes]:
        meta = await self._meta(job_id)
        if meta is None:
            raise FileGone(job_id)
        for n in range(int(meta["blobs"])):
            blob = await self.cache.get(self.blob_key(job_id, n))
            if blob is None:
                raise FileGone(job_id)
            for i in range(0, len(blob), READ_SIZE):
                yield blob[i:i + READ_SIZE]

    async def delete(self, job_id: str) -> None:
        meta = await self._meta(job_id)
        if meta is not None:
            for n in range(int(meta["blobs"])):
                await self.cache.delete(self.blob_key(job_id, n))
            await self.cache.delete(self.meta_key(job_id))

    async def sweep(self, now: float) -> int:
        return 0  # every key carries its TTL


class _DirectoryWriter:
    def __init__(self, files: DirectoryFiles, job_id: str) -> None:
        self.final = files.path(job_id)
        self.part = self.final.with_name(self.final.name + ".part")
        self.handle: BinaryIO | None = None
        self.size = 0
        self.digest = hashlib.sha256()

    def _append(self, chunk: bytes) -> None:
        if self.handle is None:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.part.open("wb")
        self.handle.write(chunk)

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.digest.update(chunk)
        await asyncio.to_thread(self._append, chunk)

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _commit(self) -> None:
        self._append(b"")  # an empty file still gets written
        self._close()
        os.replace(self.part, self.final)

    async def commit(self) -> tuple[int, str]:
        await asyncio.to_thread(self._commit)
        return self.size, self.digest.hexdigest()

    def _abort(self) -> None:
        self._close()
        self.part.unlink(missing_ok=True)

    async def abort(self) -> None:
        await asyncio.to_thread(self._abort)


class DirectoryFiles:
    """Job files in a directory; ``max_age``: seconds after which any file there is a leftover."""

    kind = "directory"

    def __init__(self, directory: Path, max_age: float) -> None:
        self.directory, self.max_age = directory, max_age

    def path(self, job_id: str) -> Path:
        return self.directory / job_id

    def writer(self, job_id: str) -> FileWriter:
        return _DirectoryWriter(self, job_id)

    async def read(self, job_id: str) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(self.path(job_id).open, "rb")
        except FileNotFoundError:
            raise FileGone(job_id) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, READ_SIZE):
                yield chunk
        finally:
            handle.close()

    async def delete(self, job_id: str) -> None:
        def remove() -> None:
            for path in (self.path(job_id), self.path(job_id).with_name(job_id + ".part")):
                path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def sweep(self, now: float) -> int:
        def remove_old() -> int:
            removed = 0
            try:
                entries = list(os.scandir(self.directory))
            except FileNotFoundError:
                return 0
            for entry in entries:
                try:
                    if entry.is_file() and now - entry.stat().st_mtime > self.max_age:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
            return removed

        return await asyncio.to_thread(remove_old)


def _is_redis(cache: Cache) -> bool:
    """Whether ``cache`` is the shared Redis cache. :mod:`gateway.cache.redis` (and redis with it) is loaded only
    when a Redis cache is opened, so a cache made while it is not loaded is not one."""
    module = sys.modules.get("gateway.cache.redis")
    return module is not None and isinstance(cache, module.RedisCache)


def open_files(settings: ExportSettings, cache: Cache) -> ExportFiles:
    """The backend ``settings.storage`` names; ``cache`` needs a shared (Redis) cache."""
    retention = settings.max_duration + settings.job_ttl
    shared = _is_redis(cache)
    if settings.storage == "cache" and not shared:
        raise ValueError("aggregate.export.storage: cache needs a shared cache (cache.url: redis://…); the "
                         "in-process cache does not hold export files")
    if settings.storage == "cache" or (settings.storage == "auto" and shared):
        return CacheFiles(cache, retention)
    return DirectoryFiles(settings.directory, retention)


__all__ = ["CacheFiles", "DirectoryFiles", "ExportFiles", "FileGone", "FileWriter", "open_files"]
