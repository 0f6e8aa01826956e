"""IndexStore against a real SQLite store: lookups, indexd listing, writes with rev checks,
persistence across re-opens and concurrent writers (in one process and across two)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from gateway.core.errors import ApiError
from gateway.store import open_store
from refcommons.indexd.records import IndexCreate, IndexUpdate
from refcommons.indexd.store import IndexStore, ListQuery
from refcommons.synth import generate_dataset

MD5 = "0" * 31 + "1"
SHA = "ab" * 32


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(prefix="dg.TST1", seed=7, subjects=20)


@pytest.fixture
async def store(tmp_path):
    s = await open_store(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    yield s
    await s.close()


@pytest.fixture
async def index(store, dataset):
    return await IndexStore.open(store, dataset)


def _new(**extra) -> IndexCreate:
    body = {"form": "object", "size": 12, "hashes": {"md5": MD5, "sha256": SHA}, "urls": ["s3://b/k/f.txt"],
            "file_name": "f.txt", "authz": ["/programs/TST1/projects/OPEN"], **extra}
    return IndexCreate.model_validate(body)


async def test_lookup_by_did_bare_uuid_and_any_case_prefix(index, dataset):
    f = dataset.files[5]
    uid = f.guid.split("/", 1)[1]
    for key in (f.guid, uid, f"DG.tst1/{uid}", f"dg.TST1/{uid.upper()}"):
        record = await index.get(key)
        assert record is not None and record.did == f.guid, key
    assert await index.get("dg.OTHER/" + uid) is None
    assert await index.get("nope") is None
    record = await index.get(f.guid)
    assert record.size == f.size and record.hashes == {"md5": f.md5, "sha256": f.sha256}
    assert record.authz == [f.authz] and record.file_name == f.file_name
    assert len(record.rev) == 8 and int(record.rev, 16) >= 0


async def test_records_carry_indexd_storage_details(index, dataset):
    open_file = next(f for f in dataset.files if "/projects/" in f.authz)
    closed = next(f for f in dataset.files if "/projects/" not in f.authz)
    r = await index.get(open_file.guid)
    uid = open_file.guid.split("/", 1)[1]
    path = f"refcommons-tst1-open/{open_file.project_id}/{uid}/{open_file.file_name}"
    assert r.urls == [f"s3://{path}", f"gs://{path}"]
    assert r.urls_metadata[f"s3://{path}"] == {"region": "us-east-1"}
    assert r.acl == ["*"]
    c = await index.get(closed.guid)
    assert c.urls[0].startswith("s3://refcommons-tst1-controlled/")
    assert c.acl == [closed.authz.rsplit("/", 1)[1]] and c.acl[0].startswith("phs")


async def test_list_pages_by_did_with_start_and_page(index, dataset):
    dids = sorted(f.guid for f in dataset.files)
    assert [r.did for r in await index.list(limit=1024)] == dids
    assert [r.did for r in await index.list(limit=5)] == dids[:5]
    assert [r.did for r in await index.list(limit=5, start=dids[4])] == dids[5:10]
    assert [r.did for r in await index.list(limit=5, page=2)] == dids[10:15]
    assert [r.did for r in await index.list(limit=5, start=dids[0], page=1)] == dids[6:11]
    assert await index.list(limit=5, start=dids[-1]) == []
    with pytest.raises(ApiError) as err:
        await index.list(limit=1025)
    assert err.value.status == 400


async def test_list_filters(index, dataset):
    f = dataset.files[7]
    assert [r.did for r in await index.list(hashes={"md5": f.md5})] == [f.guid]
    assert [r.did for r in await index.list(hashes={"sha256": f.sha256, "md5": f.md5})] == [f.guid]
    assert [r.did for r in await index.list(hash=f"md5:{f.md5}", limit=1)] == [f.guid]
    assert await index.list(hashes={"md5": MD5}) == []
    in_scope = sorted(g.guid for g in dataset.files if g.authz == f.authz)
    assert [r.did for r in await index.list(authz=[f.authz], limit=1024)] == in_scope
    assert await index.list(authz=[f.authz, "/programs/none"]) == []
    assert [r.did for r in await index.list(file_name=f.file_name)] == [f.guid]
    assert [r.did for r in await index.list(size=f.size)] == sorted(g.guid for g in dataset.files if g.size == f.size)
    assert [r.did for r in await index.list(ListQuery(ids=[f.guid, "missing"]))] == [f.guid]


async def test_content_is_the_file_bytes_for_seeded_records_only(index, dataset):
    f = dataset.files[0]
    data = await index.content(f.guid)
    assert data is not None and hashlib.md5(data).hexdigest() == f.md5
    created = await index.create(_new())
    assert await index.content(created.did) is None
    assert await index.content("nope") is None


async def test_create_update_delete_with_rev_checks(index, dataset):
    count, total = index.stats()
    assert (count, total) == (len(dataset.files), sum(f.size for f in dataset.files))
    created = await index.create(_new(did="dg.TST1/11111111-2222-4333-8444-555555555555"))
    assert created.did == "dg.TST1/11111111-2222-4333-8444-555555555555"
    assert index.stats() == (count + 1, total + 12)
    with pytest.raises(ApiError) as dup:
        await index.create(_new(did=created.did))
    assert dup.value.status == 409

    with pytest.raises(ApiError) as stale:
        await index.update(created.did, "deadbeef", IndexUpdate(file_name="g.txt"))
    assert stale.value.status == 409
    updated = await index.update(created.did, created.rev, IndexUpdate(file_name="g.txt", version="2"))
    assert updated.rev != created.rev and updated.file_name == "g.txt" and updated.version == "2"
    assert updated.urls == created.urls and updated.baseid == created.baseid
    assert (await index.get(created.did)).file_name == "g.txt"

    with pytest.raises(ApiError) as old:
        await index.delete(created.did, created.rev)
    assert old.value.status == 409
    with pytest.raises(ApiError) as norev:
        await index.delete(created.did, None)
    assert norev.value.status == 400
    await index.delete(created.did, updated.rev)
    assert await index.get(created.did) is None
    with pytest.raises(ApiError) as gone:
        await index.delete(created.did, updated.rev)
    assert gone.value.status == 404


async def test_new_dids_get_the_prefix_and_content_dates_are_checked(index):
    created = await index.create(_new(content_created_date="2024-01-01T00:00:00Z"))
    assert created.did.startswith("dg.TST1/")
    assert created.content_updated_date == "2024-01-01T00:00:00Z"
    with pytest.raises(ApiError) as err:
        await index.update(created.did, created.rev, IndexUpdate(content_updated_date="2023-01-01T00:00:00Z"))
    assert err.value.status == 400


async def test_writes_survive_reopening_the_store(store, index, dataset):
    seeded = dataset.files[3]
    victim = await index.get(seeded.guid)
    await index.delete(seeded.guid, victim.rev)
    changed = await index.get(dataset.files[4].guid)
    changed = await index.update(changed.did, changed.rev, IndexUpdate(authz=["/programs/elsewhere"]))
    created = await index.create(_new())

    again = await IndexStore.open(store, dataset)
    assert await again.get(seeded.guid) is None
    assert (await again.get(changed.did)).authz == ["/programs/elsewhere"]
    assert (await again.get(changed.did)).rev == changed.rev
    assert (await again.get(created.did)).to_json() == created.to_json()
    assert again.stats()[0] == len(dataset.files)  # one deleted, one created
    # a deleted seeded did can be created again
    recreated = await again.create(_new(did=seeded.guid))
    assert (await again.get(seeded.guid)).rev == recreated.rev


async def test_concurrent_updates_with_one_rev_let_exactly_one_win(index, dataset):
    record = await index.get(dataset.files[1].guid)
    results = await asyncio.gather(
        *(index.update(record.did, record.rev, IndexUpdate(version=str(i))) for i in range(5)),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, ApiError)]
    assert len(wins) == 1 and len(losses) == 4 and all(e.status == 409 for e in losses)
    assert (await index.get(record.did)).version == wins[0].version


async def test_two_instances_on_one_store_never_overwrite_each_other(store, dataset):
    a = await IndexStore.open(store, dataset)
    b = await IndexStore.open(store, dataset)
    did = dataset.files[2].guid
    base = await a.get(did)
    await a.update(did, base.rev, IndexUpdate(version="from-a"))
    first = await a.get(did)
    second = await a.update(did, first.rev, IndexUpdate(version="from-a-2"))
    # b still holds the seeded record in memory; its write must not clobber a's
    with pytest.raises(ApiError) as err:
        await b.update(did, base.rev, IndexUpdate(version="from-b"))
    assert err.value.status == 409
    assert (await b.get(did)).rev == second.rev  # b caught up after the conflict
    done = await b.update(did, second.rev, IndexUpdate(version="from-b"))
    reopened = await IndexStore.open(store, dataset)
    assert (await reopened.get(did)).version == "from-b" and (await reopened.get(did)).rev == done.rev


def test_create_body_validation():
    with pytest.raises(ValueError, match="invalid hash"):
        IndexCreate.model_validate({"form": "object", "size": 1, "hashes": {"md5": "xyz"}, "urls": []})
    with pytest.raises(ValueError, match="invalid hash types"):
        IndexCreate.model_validate({"form": "object", "size": 1, "hashes": {"md6": MD5}, "urls": []})
    with pytest.raises(ValueError):
        IndexCreate.model_validate({"form": "object", "size": 1, "hashes": {}, "urls": []})
    with pytest.raises(ValueError):
        IndexCreate.model_validate({"form": "blob", "size": 1, "hashes": {"md5": MD5}, "urls": []})
    with pytest.raises(ValueError):
        IndexCreate.model_validate({"form": "object", "size": -1, "hashes": {"md5": MD5}, "urls": []})
    with pytest.raises(ValueError, match="content_updated_date"):
        IndexCreate.model_validate({"form": "object", "size": 1, "hashes": {"md5": MD5}, "urls": [],
                                    "content_updated_date": "2024-01-01T00:00:00"})
    ok = IndexCreate.model_validate({"form": "object", "size": 1, "urls": [],
                                     "hashes": {"md5": MD5, "crc": "0a1b2c3d", "etag": MD5 + "-3"}})
    assert ok.acl == [] and ok.authz == []
    assert IndexUpdate.model_validate({"acl": None, "version": None}).changes() == {"acl": [], "version": None}
