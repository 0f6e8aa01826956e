"""Upstream resolvers for prefixes no member owns: dataguids-style ``/index/_dist`` lists fetched only
from the configured URLs and cached (24 h by default). A prefix found there resolves against the host
that list names, through a Gen3 adapter; no other host is ever contacted.

A list is fetched with :func:`gateway.core.http_client.build_client`'s client (no redirects followed, no cookies
kept, the gateway's egress policy handed in: a list inside a denied network is never fetched) and read up to
:data:`MAX_LIST_BYTES`. The hosts a list names are reached through the app's adapters like any member, under the
egress policy without its exceptions (a list is not the operator's word).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.cache import Cache
from gateway.core.deadline import Deadline
from gateway.core.egress import EgressDenied, EgressPolicy
from gateway.core.http_client import BodyTooLarge, build_client, read_capped
from gateway.core.member import Member, Status
from gateway.core.metrics import current
from gateway.resolver.dist import DistEntry, match, parse_dist

log = logging.getLogger("gateway.resolver.upstream")
MAX_LIST_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(5.0)
"""httpx's own default; each fetch is also capped by the caller's deadline."""


@dataclass
class UpstreamDist:
    urls: list[str]
    cache: Cache
    ttl: float
    egress: EgressPolicy
    client: httpx.AsyncClient = field(init=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.client = build_client(egress=self.egress, timeout=DEFAULT_TIMEOUT)

    async def entries(self, url: str, deadline: Deadline) -> list[DistEntry]:
        """The list at ``url`` (cached; an unreachable or malformed list counts as empty, and is logged)."""
        key = f"dist:{url}"
        raw = await self.cache.get(key)
        current().cache_lookup("dist_lists", raw is not None)
        if raw is None:
            async with self._locks.setdefault(url, asyncio.Lock()):
                raw = await self.cache.get(key)
                if raw is None:
                    raw = await self._fetch(url, deadline)
                    if raw is None:
                        return []
                    await self.cache.set(key, raw, ttl=self.ttl)
        try:
            return parse_dist(orjson.loads(raw), source=url)
        except (orjson.JSONDecodeError, ValueError) as exc:
            log.warning("upstream dist list unusable", extra={"url": url, "error": str(exc)})
            return []

    async def _fetch(self, url: str, deadline: Deadline) -> bytes | None:
        try:
            async with self.client.stream("GET", url, timeout=deadline.cap(10.0)) as response:
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                return await read_capped(response, MAX_LIST_BYTES)
        except (httpx.HTTPError, EgressDenied, BodyTooLarge, ValueError) as exc:
            log.warning("upstream dist list unreachable", extra={"url": url, "error": str(exc)})
            return None

    async def member_for(self, prefix: str, deadline: Deadline) -> Member | None:
        """A transient Gen3 member for the first configured list naming ``prefix``."""
        for url in self.urls:
            entry = match(await self.entries(url, deadline), prefix)
            if entry is not None:
                host = urlsplit(entry.root_url).netloc
                return Member(
                    id=f"upstream-{host.replace(':', '-').replace('.', '-')}"[:63], name=entry.name,
                    base_url=entry.root_url, kind="gen3", prefixes=(prefix.lower(),), hostnames=(),
                    status=Status.active, source="config",
                )
        return None

    async def close(self) -> None:
        await self.client.aclose()
