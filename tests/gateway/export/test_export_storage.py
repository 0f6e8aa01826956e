"""Export job files: the directory backend and the cache backend (on a real Redis, several blobs per file) write,
read back, abort, delete and sweep; which backend ``aggregate.export.storage`` picks."""

from __future__ import annotations

import hashlib
import os
import secrets
import time

import pytest
import redis.asyncio as aioredis

from gateway.cache import open_cache
from gateway.export import storage as export_storage
from gateway.export.storage import CacheFiles, DirectoryFiles, FileGone, open_files
from gateway.settings.aggregate import ExportSettings

DATA = bytes(range(256)) * 1000 + b"tail"  # 256,004 bytes


async def write(files, job_id: str, data: bytes, size: int = 10_000) -> tuple[int, str]:
    writer = files.writer(job_id)
    for i in range(0, len(data), size):
        await writer.write(data[i:i + size])
    return await writer.commit()


async def read_all(files, job_id: str) -> bytes:
    return b"".join([chunk async for chunk in files.read(job_id)])


@pytest.fixture
async def redis_cache(redis_url, redis_key_prefix):
    cache = await open_cache(redis_url, key_prefix=redis_key_prefix)
    yield cache
    await cache.close()


@pytest.fixture(params=["directory", "cache"])
async def files(request, tmp_path, monkeypatch):
    if request.param == "directory":
        yield DirectoryFiles(tmp_path / "exports", 3600.0)
        return
    monkeypatch.setattr(export_storage, "BLOB_SIZE", 50_000)  # several blobs, a short last one
    cache = await open_cache(request.getfixturevalue("redis_url"),
                             key_prefix=request.getfixturevalue("redis_key_prefix"))
    yield CacheFiles(cache, 3600.0)
    await cache.close()


async def test_a_committed_file_reads_back_whole_with_its_size_and_digest(files):
    job_id = secrets.token_urlsafe(32)
    size, sha256 = await write(files, job_id, DATA)
    assert (size, sha256) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert await read_all(files, job_id) == DATA
    await files.delete(job_id)
    with pytest.raises(FileGone):
        await read_all(files, job_id)


async def test_an_empty_file_is_a_file(files):
    job_id = secrets.token_urlsafe(32)
    assert await write(files, job_id, b"") == (0, hashlib.sha256(b"").hexdigest())
    assert await read_all(files, job_id) == b""


async def test_an_unfinished_or_aborted_file_cannot_be_read(files):
    job_id = secrets.token_urlsafe(32)
    writer = files.writer(job_id)
    await writer.write(DATA)
    with pytest.raises(FileGone):
        await read_all(files, job_id)  # not committed yet
    await writer.abort()
    with pytest.raises(FileGone):
        await read_all(files, job_id)
    await files.delete(job_id)  # deleting what is not there is fine


async def test_cache_blobs_carry_a_ttl_and_a_lost_blob_is_a_gone_file(redis_url, redis_key_prefix, redis_cache,
                                                                       monkeypatch):
    monkeypatch.setattr(export_storage, "BLOB_SIZE", 50_000)
    files = CacheFiles(redis_cache, 120.0)
    job_id = secrets.token_urlsafe(32)
    await write(files, job_id, DATA)
    client = aioredis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in client.scan_iter(match=f"{redis_key_prefix}export:{job_id}:*")]
        assert len(keys) == 6 + 1  # ceil(256,004 / 50,000) blobs and the meta
        assert all(0 < ttl <= 120_000 for ttl in [await client.pttl(k) for k in keys])
        await client.delete(f"{redis_key_prefix}{files.blob_key(job_id, 3)}")  # evicted
    finally:
        await client.aclose()
    with pytest.raises(FileGone):
        await read_all(files, job_id)


async def test_the_directory_is_made_on_first_write_and_old_leftovers_are_swept(tmp_path):
    files = DirectoryFiles(tmp_path / "exports", 100.0)
    assert await files.sweep(time.time()) == 0 and not (tmp_path / "exports").exists()
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await write(files, old, DATA)
    partial = files.writer(new)
    await partial.write(b"partial")  # a crashed writer's .part
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == sorted([old, new + ".part"])
    now = time.time()
    assert await files.sweep(now) == 0  # both young
    os.utime(tmp_path / "exports" / old, (now - 101, now - 101))
    assert await files.sweep(now) == 1
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [new + ".part"]
    assert await files.sweep(now + 101) == 1
    await partial.abort()


async def test_storage_choice(tmp_path, redis_cache):
    memory = await open_cache("memory://")
    directory = {"directory": tmp_path}
    assert isinstance(open_files(ExportSettings(**directory), memory), DirectoryFiles)
    assert isinstance(open_files(ExportSettings(**directory), redis_cache), CacheFiles)
    assert isinstance(open_files(ExportSettings(storage="directory", **directory), redis_cache), DirectoryFiles)
    assert isinstance(open_files(ExportSettings(storage="cache"), redis_cache), CacheFiles)
    with pytest.raises(ValueError, match="shared cache"):
        open_files(ExportSettings(storage="cache"), memory)  # the in-process cache never holds files
    with pytest.raises(ValueError, match="lost_after"):
        ExportSettings(heartbeat=5.0, lost_after=5.0)
