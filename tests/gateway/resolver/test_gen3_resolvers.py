"""The gen3 SDK's own DRS resolvers (what `gen3 drs-pull` chains) pointed at the gateway, unmodified:
dataguids_dist (`/index/_dist`), the dataguids global lookup (`/index/{id}`) and the aggregate MDS
(`/mds/aggregate/info/{prefix}`) each name the member commons that holds the object."""

from __future__ import annotations

import asyncio

from gen3.tools.download.drs_resolvers import (
    resolve_compact_drs_using_indexd_dist,
    resolve_compact_drs_using_official_resolver,
    resolve_drs_using_metadata_service,
)
from test_ecosystem import PREFIXES, a_record, ecosystem


async def test_gen3_sdk_resolvers_find_each_member_through_the_gateway(tmp_path):
    async with ecosystem(tmp_path) as (gateway, members, _):
        for commons, prefix in zip(members, PREFIXES):
            guid = a_record(commons).guid
            by_dist = await asyncio.to_thread(
                resolve_compact_drs_using_indexd_dist, prefix, cache_results=False, resolver_hostname=gateway.base_url
            )
            by_index = await asyncio.to_thread(
                resolve_compact_drs_using_official_resolver, prefix, guid, cache_results=False,
                resolver_hostname=gateway.base_url,
            )
            by_mds = await asyncio.to_thread(
                resolve_drs_using_metadata_service, prefix, gateway.base_url + "/mds/aggregate/info",
                cache_results=False,
            )
            assert by_dist == by_index == by_mds == commons.hostname, (prefix, by_dist, by_index, by_mds)
        unknown = await asyncio.to_thread(
            resolve_compact_drs_using_indexd_dist, "dg.NONE", cache_results=False, resolver_hostname=gateway.base_url
        )
        assert unknown is None
