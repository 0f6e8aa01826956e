"""The commons' indexd: seeded records in memory, every write persisted through the :class:`Store`.

Seeded records come from the dataset (one per file, sorted by ``did``). Writes (create, update,
delete) are stored as documents in namespace :data:`NAMESPACE`, one per ``did``: ``{"record": …}``
or a tombstone ``{"deleted": true}``. On :meth:`IndexStore.open` the persisted documents are laid
over the seeded records, so writes survive a restart with the same ``data_dir``. Every write is
conditional on the document's store revision (``expect_rev``), so concurrent writers (even in other
processes sharing the store) never overwrite each other: the loser gets a 409, like indexd's stale
``rev``.
"""

from __future__ import annotations

import asyncio
import bisect
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gateway.core.errors import ApiError, bad_request, conflict, not_found
from gateway.store import ABSENT, Conflict, Document, Store
from refcommons.blobs import file_bytes
from refcommons.indexd.records import IndexCreate, IndexRecord, IndexUpdate, check_content_dates
from refcommons.model import Dataset

NAMESPACE = "index.records"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1024
_SCAN_PAGE = 500


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_rev() -> str:
    """A fresh 8-hex-character revision, as indexd mints them."""
    return uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class ListQuery:
    """indexd's ``GET /index/index`` parameters; a ``None`` filter is not applied."""

    limit: int = DEFAULT_LIMIT
    start: str | None = None
    page: int | None = None
    hashes: dict[str, str] | None = None
    authz: list[str] | None = None
    """Records carrying every one of these; ``[]`` means records with no authz (indexd's ``authz=null``)."""
    acl: list[str] | None = None
    size: int | None = None
    file_name: str | None = None
    version: str | None = None
    uploader: str | None = None
    urls: list[str] | None = None
    metadata: dict[str, str] | None = None
    ids: list[str] | None = None

    def matches(self, r: IndexRecord) -> bool:
        if self.hashes and any(r.hashes.get(k) != v for k, v in self.hashes.items()):
            return False
        for wanted, have in ((self.authz, r.authz), (self.acl, r.acl)):
            if wanted is not None and (not set(wanted) <= set(have) if wanted else have):
                return False
        if self.urls and not set(self.urls) <= set(r.urls):
            return False
        if self.metadata and any(str(r.metadata.get(k)) != v for k, v in self.metadata.items()):
            return False
        return all(
            want is None or want == have
            for want, have in (
                (self.size, r.size), (self.file_name, r.file_name), (self.version, r.version),
                (self.uploader, r.uploader),
            )
        )


class IndexStore:
    """indexd semantics over the dataset's records plus persisted writes."""

    def __init__(self, store: Store, dataset: Dataset) -> None:
        self._store = store
        self._dataset = dataset
        self.prefix = dataset.prefix
        self._records: dict[str, IndexRecord] = {
            f.guid: IndexRecord.from_data_file(f, dataset.prefix) for f in dataset.files
        }
        self._dids: list[str] = sorted(self._records)
        self._store_revs: dict[str, int] = {}
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, store: Store, dataset: Dataset) -> IndexStore:
        """The index of ``dataset`` with every write persisted in ``store`` applied."""
        index = cls(store, dataset)
        after = ""
        while True:
            page = await store.scan(NAMESPACE, after=after, limit=_SCAN_PAGE)
            for stored in page:
                index._apply(stored.key, stored.doc, stored.rev)
            if len(page) < _SCAN_PAGE:
                return index
            after = page[-1].key

    # --- reads -------------------------------------------------------------------------------

    def _resolve(self, guid: str) -> IndexRecord | None:
        """Exact ``did``, else (like indexd's ``get_with_nonstrict_prefix``) ``prefix/uuid`` with the
        prefix in any case, or a bare id with this commons' prefix added."""
        if (hit := self._records.get(guid)) is not None:
            return hit
        head, sep, tail = guid.partition("/")
        if sep and head.lower() != self.prefix.lower():
            return None
        key = tail if sep else guid
        return self._records.get(f"{self.prefix}/{key}") or self._records.get(f"{self.prefix}/{key.lower()}")

    async def get(self, guid: str) -> IndexRecord | None:
        return self._resolve(guid)

    async def get_many(self, ids: Iterable[str]) -> list[IndexRecord]:
        """The records found among ``ids``, in request order, each once."""
        out: dict[str, IndexRecord] = {}
        for guid in ids:
            if (r := self._resolve(guid)) is not None:
                out.setdefault(r.did, r)
        return list(out.values())

    async def list(self, query: ListQuery | None = None, **params: Any) -> list[IndexRecord]:
        """Records by ascending ``did`` after ``start``, filtered, page ``page`` of ``limit`` (indexd's list).

        Takes a :class:`ListQuery` or its fields as keywords; ``hash="md5:<hex>"`` (or a list of such)
        is accepted as indexd spells it, alongside ``hashes={"md5": "<hex>"}``.
        """
        if "hash" in params:
            raw = params.pop("hash")
            pairs = [raw] if isinstance(raw, str) else list(raw or [])
            params["hashes"] = {**dict(p.split(":", 1) for p in pairs), **(params.get("hashes") or {})} or None
        q = query or ListQuery(**params)
        if not 0 <= q.limit <= MAX_LIMIT:
            raise bad_request(f"limit must be between 0 and {MAX_LIMIT}")
        if q.page is not None and q.page < 0:
            raise bad_request("page must be >= 0")
        if q.ids is not None:
            return [r for r in await self.get_many(q.ids) if q.matches(r)]
        skip = (q.page or 0) * q.limit
        out: list[IndexRecord] = []
        for record in self._iter_after(q.start):
            if not q.matches(record):
                continue
            if skip:
                skip -= 1
                continue
            if len(out) >= q.limit:
                break
            out.append(record)
        return out

    def _iter_after(self, start: str | None) -> Iterator[IndexRecord]:
        i = bisect.bisect_right(self._dids, start) if start else 0
        for did in self._dids[i:]:
            yield self._records[did]

    async def content(self, guid: str) -> bytes | None:
        """The bytes of a seeded file still in the index; ``None`` for unknown or client-created records."""
        record = self._resolve(guid)
        file = self._dataset.file(record.did) if record else None
        return file_bytes(file) if file else None

    def stats(self) -> tuple[int, int]:
        """``(file_count, total_size)`` over the current records."""
        return len(self._records), sum(r.size for r in self._records.values())

    # --- writes ------------------------------------------------------------------------------

    async def create(self, body: IndexCreate) -> IndexRecord:
        """A new record (``did`` minted as ``<prefix>/<uuid4>`` unless given); 409 if the did exists."""
        async with self._write_lock:
            did = body.did or f"{self.prefix}/{uuid.uuid4()}"
            if did in self._records:
                raise conflict(f"did {did} already exists")
            now = now_rfc3339()
            record = IndexRecord(
                did=did, baseid=body.baseid or str(uuid.uuid4()), rev=new_rev(), size=body.size,
                hashes=dict(body.hashes), urls=list(body.urls), form=body.form, file_name=body.file_name,
                version=body.version, uploader=body.uploader, urls_metadata=dict(body.urls_metadata),
                acl=list(body.acl), authz=list(body.authz), metadata=dict(body.metadata), created_date=now,
                updated_date=now, description=body.description, content_created_date=body.content_created_date,
                content_updated_date=body.content_updated_date or body.content_created_date,
            )
            await self._write(did, {"record": record.to_json()})
            return record

    async def update(self, guid: str, rev: str | None, body: IndexUpdate) -> IndexRecord:
        """The record with ``body``'s fields changed and a new ``rev``; 404 unknown, 409 stale ``rev``."""
        async with self._write_lock:
            current = self._current(guid, rev)
            changes = body.changes()
            try:
                check_content_dates(
                    changes.get("content_created_date", current.content_created_date),
                    changes.get("content_updated_date", current.content_updated_date),
                )
            except ValueError as exc:
                raise bad_request(str(exc)) from None
            record = replace(current, **changes, rev=new_rev(), updated_date=now_rfc3339())
            await self._write(record.did, {"record": record.to_json()})
            return record

    async def delete(self, guid: str, rev: str | None) -> None:
        """Remove the record (a tombstone in the store); 404 unknown, 409 stale ``rev``."""
        async with self._write_lock:
            current = self._current(guid, rev)
            await self._write(current.did, {"deleted": True, "did": current.did, "deleted_at": now_rfc3339()})

    def _current(self, guid: str, rev: str | None) -> IndexRecord:
        if rev is None or rev == "":
            raise bad_request("no revision specified")
        current = self._resolve(guid)
        if current is None:
            raise not_found(f"no record found: {guid}")
        if current.rev != rev:
            raise conflict(f"revision mismatch: {guid} is at rev {current.rev}, not {rev}")
        return current

    async def _write(self, did: str, doc: Document) -> None:
        try:
            store_rev = await self._store.put(NAMESPACE, did, doc, expect_rev=self._store_revs.get(did, ABSENT))
        except Conflict:
            await self._refresh(did)  # another process wrote it: catch up, let the client retry
            raise ApiError(409, f"{did} was changed concurrently; fetch it again and retry") from None
        self._apply(did, doc, store_rev)

    async def _refresh(self, did: str) -> None:
        stored = await self._store.get(NAMESPACE, did)
        if stored is not None:
            self._apply(did, stored.doc, stored.rev)

    def _apply(self, did: str, doc: Document, store_rev: int) -> None:
        """Lay one persisted document over memory (ignoring one older than what is applied)."""
        if store_rev <= self._store_revs.get(did, ABSENT):
            return
        self._store_revs[did] = store_rev
        present = did in self._records
        if doc.get("deleted"):
            if present:
                del self._records[did]
                self._dids.pop(bisect.bisect_left(self._dids, did))
            return
        self._records[did] = IndexRecord.from_json(doc["record"])
        if not present:
            bisect.insort(self._dids, did)
