"""sheepdog's data dictionary routes on the reference commons: the listing, ``_all``, one entry, 404, the Gen3 SDK's
own calls, and the links under the gateway's mount prefix."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from gen3.submission import Gen3Submission
from servers import running, start_gateway

from refcommons.submission import dictionary

ROOT = "/api/v0/submission/_dictionary"


async def test_the_listing_links_every_node_then_all(commons_server):
    r = await commons_server.client.get(ROOT)
    assert r.status_code == 200
    assert r.json() == {"links": [f"{ROOT}/{n}" for n in (*dictionary.node_ids(), "_all")]}
    for link in r.json()["links"]:
        assert (await commons_server.client.get(link)).status_code == 200


async def test_all_one_node_and_the_non_node_entries(commons_server):
    client = commons_server.client
    everything = (await client.get(f"{ROOT}/_all")).json()
    assert everything == dictionary.document()
    subject = await client.get(f"{ROOT}/subject")
    assert subject.status_code == 200 and subject.headers["content-type"].startswith("application/json")
    assert subject.json() == everything["subject"]
    assert (await client.get(f"{ROOT}/_settings")).json() == everything["_settings"]
    missing = await client.get(f"{ROOT}/case")
    assert missing.status_code == 404
    assert "case" in missing.text


async def test_the_gen3_sdk_reads_the_dictionary(commons_server):
    sub = Gen3Submission(auth_provider=SimpleNamespace(endpoint=commons_server.base_url))  # no credential needed
    everything = await asyncio.to_thread(sub.get_dictionary_all)
    assert everything == dictionary.document()
    assert await asyncio.to_thread(sub.get_dictionary_node, "file") == dictionary.entry("file")


async def test_the_links_carry_the_mount_prefix_inside_the_gateway(tmp_path):
    gateway = start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 5, "data_dir": None},
                            aggregate={"harvest": {"enabled": False}})
    async with running(gateway) as g:
        r = await g.client.get(f"/refcommons{ROOT}")
        assert r.status_code == 200
        links = r.json()["links"]
        assert links[-1] == f"/refcommons{ROOT}/_all"
        assert (await g.client.get(links[0])).json()["id"] == dictionary.node_ids()[0]
