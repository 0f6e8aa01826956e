"""A Gen3 data commons as a member: indexd for records, fence for signed URLs.

* ``get_record``: ``GET /index/index/{id}`` (raw ``/`` in the id) → an indexd record; 404 → ``None``.
* ``get_records``: ``POST /index/bulk/documents`` with a JSON list of ids, :data:`BULK_CHUNK` at a time
  (a read: retried like a GET), answers mapped back to the ids as asked.
* ``access_url``: ``GET /user/data/download/{id}?protocol={access_id}`` → ``{"url"}``, with the caller's
  ``Authorization`` or else the gateway's own credentials for the member (:class:`MemberCredentials`).
* ``probe``: ``GET /index/_status``.

Gen3 accepts ``dg.XXXX/uuid`` or a bare uuid but not the compact ``dg.XXXX:uuid`` (drs-resolver.md §2.7.8),
so compact ids are translated before any call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from adapters.access_each import access_each
from adapters.base import AccessURL, Deadline, MemberRecord, MemberUnavailable, NotFoundUpstream, Probe, UpstreamError
from adapters.http import error_for, gather_chunked, quote_id
from adapters.remote import RemoteMember

BULK_CHUNK = 100
"""Most ids per ``/index/bulk/documents`` call (indexd's advertised limit)."""


def gen3_id(object_id: str) -> str:
    """Compact ``dg.XXXX:acc`` → ``dg.XXXX/acc``; anything else unchanged."""
    head, sep, tail = object_id.partition(":")
    if sep and head and tail and "/" not in head:
        return f"{head}/{tail}"
    return object_id


def match_back(
    asked: Sequence[str], records: list[MemberRecord], aliases: Callable[[MemberRecord], Iterable[str]] = lambda r: ()
) -> dict[str, MemberRecord]:
    """``records`` keyed by the ids as ``asked``, compared case-insensitively: an id matches its record's id
    or one of its ``aliases``, a compact ``prefix:acc`` matches ``prefix/acc``, and a bare id also matches
    the part after the prefix (a bare uuid may come back as ``dg.XXXX/uuid``)."""
    by_id: dict[str, MemberRecord] = {}
    by_tail: dict[str, MemberRecord] = {}
    for record in records:
        for key in (record.id, *aliases(record)):
            by_id.setdefault(key.lower(), record)
        by_tail.setdefault(record.id.lower().partition("/")[2] or record.id.lower(), record)
    out: dict[str, MemberRecord] = {}
    for original in asked:
        key = gen3_id(original).lower()
        hit = by_id.get(original.lower()) or by_id.get(key) or (by_tail.get(key) if "/" not in key else None)
        if hit is not None:
            out[original] = hit
    return out


class Gen3Adapter(RemoteMember):
    """A member speaking Gen3's indexd and fence APIs at ``member.base_url``."""

    async def get_record(self, object_id: str, deadline: Deadline) -> MemberRecord | None:
        path_id = quote_id(gen3_id(object_id), keep_slash=True)
        if path_id is None:
            return None
        doc = await self.http.get_object(f"/index/index/{path_id}", deadline, "indexd record")
        return None if doc is None else self._record(doc)

    async def get_records(self, object_ids: Sequence[str], deadline: Deadline) -> dict[str, MemberRecord]:
        asked = list(dict.fromkeys(object_ids))
        if not asked:
            return {}
        return await gather_chunked(
            asked, BULK_CHUNK, partial(self._bulk, deadline=deadline), self.config.bulk_concurrency
        )

    async def _bulk(self, asked: list[str], deadline: Deadline) -> dict[str, MemberRecord]:
        wire = [gen3_id(i) for i in asked]
        response = await self.http.request("POST", "/index/bulk/documents", deadline, idempotent=True, json=wire)
        if response.status != 200:
            raise error_for(response, "indexd bulk lookup")
        docs = response.json()
        if not isinstance(docs, list) or not all(isinstance(d, dict) and isinstance(d.get("did"), str) for d in docs):
            raise MemberUnavailable(self.member_id, "indexd bulk lookup: expected a JSON list of records")
        return match_back(asked, [self._record(doc) for doc in docs])

    async def access_url(
        self, object_id: str, access_id: str, deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> AccessURL:
        path_id = quote_id(gen3_id(object_id), keep_slash=True)
        if path_id is None:
            raise NotFoundUpstream(self.member_id, f"no object {object_id!r}", upstream_status=404)
        if passports is not None:
            return await self._passport_access(path_id, access_id, deadline, passports, expires_in)
        own = authorization is None
        auth = authorization if not own else await self.credentials.authorization(deadline)
        params = {"protocol": access_id}
        if expires_in is not None:
            params["expires_in"] = str(expires_in)
        response = await self.http.request(
            "GET", f"/user/data/download/{path_id}", deadline, idempotent=True,
            params=params, headers={"Authorization": auth} if auth else None,
        )
        if response.status == 200:
            url = response.json_object("signed URL").get("url")
            if not isinstance(url, str) or not url:
                raise MemberUnavailable(self.member_id, "signed URL: no url in the answer")
            return AccessURL(url=url)
        if own and response.status == 401:
            self.credentials.invalidate()
        if response.status == 400:  # fence: the protocol is not one of the object's; DRS calls that a 404
            raise NotFoundUpstream(self.member_id, f"signed URL: {response.message() or 'unknown access method'}",
                                   upstream_status=400)
        raise error_for(response, "signed URL")

    async def _passport_access(
        self, path_id: str, access_id: str, deadline: Deadline, passports: Sequence[str], expires_in: int | None
    ) -> AccessURL:
        """fence's DRS access route with the Passports in the body (no other credential: rule 2)."""
        path_access = quote_id(access_id, keep_slash=False)
        if path_access is None:
            raise NotFoundUpstream(self.member_id, f"no access method {access_id!r}", upstream_status=404)
        response = await self.http.request(
            "POST", f"/ga4gh/drs/v1/objects/{path_id}/access/{path_access}", deadline, idempotent=True,
            params={"expires_in": str(expires_in)} if expires_in is not None else None,
            json={"passports": list(passports)},
        )
        if response.status == 200:
            url = response.json_object("DRS access URL").get("url")
            if not isinstance(url, str) or not url:
                raise MemberUnavailable(self.member_id, "DRS access URL: no url in the answer")
            return AccessURL(url=url)
        raise error_for(response, "DRS access URL (passports)")

    async def access_urls(
        self, pairs: Sequence[tuple[str, str]], deadline: Deadline, *, authorization: str | None = None,
        expires_in: int | None = None, passports: Sequence[str] | None = None,
    ) -> dict[tuple[str, str], AccessURL | UpstreamError]:
        """fence signs one URL per call: the pairs go out :attr:`UpstreamConfig.bulk_concurrency` at a time."""
        return await access_each(self.access_url, pairs, self.config.bulk_concurrency, deadline,
                                 authorization=authorization, expires_in=expires_in, passports=passports)

    async def probe(self, timeout: float) -> Probe:
        start = time.perf_counter()
        try:  # one attempt: a probe measures the member as it is
            response = await self.http.request("GET", "/index/_status", Deadline.after(timeout), idempotent=False)
        except UpstreamError as exc:
            return Probe(False, _ms(start), exc.message, exc.upstream_status)
        except Exception as exc:  # noqa: BLE001 - a probe never raises
            return Probe(False, _ms(start), f"probe failed: {type(exc).__name__}")
        body = response.text.strip()[:200]
        info: dict[str, Any] = {"status": body}
        return Probe(response.status == 200, _ms(start), body or f"HTTP {response.status}", response.status, info)

    def _record(self, doc: dict[str, Any]) -> MemberRecord:
        did = doc.get("did")
        if not isinstance(did, str) or not did:
            raise MemberUnavailable(self.member_id, "indexd record without a did")
        return MemberRecord(member_id=self.member_id, id=did, format="indexd", document=doc)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
