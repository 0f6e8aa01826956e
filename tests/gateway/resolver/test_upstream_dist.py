"""Prefixes no member owns resolve through configured upstream dist lists (here: another gateway's
``/index/_dist``), cached, and only ever against hosts those lists name."""

from __future__ import annotations

from aiohttp import web
from servers import free_port, start_gateway
from test_ecosystem import PREFIXES, a_record, ecosystem


async def test_a_gateway_resolves_through_another_gateways_dist_list(tmp_path):
    async with ecosystem(tmp_path) as (upstream_gateway, members, _):
        downstream = await start_gateway(
            store={"url": f"sqlite:///{tmp_path / 'down.sqlite3'}"}, refcommons={"enabled": False},
            resolver={"dist_urls": [upstream_gateway.base_url + "/index/_dist"], "deadline": 2.0},
        )
        try:
            guid = a_record(members[1]).guid
            r = await downstream.client.get("/resolver/v1/resolve", params={"id": guid})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["route"] == "upstream" and body["record"]["did"] == guid
            assert body["member"]["base_url"] == members[1].base_url
            # an upstream pseudo-member's hit is never answered from the cache (no finished answer is kept for it)
            again = await downstream.client.get("/resolver/v1/resolve", params={"id": guid})
            assert again.status_code == 200 and again.json() == body and body["cached"] is False
            # the list is cached: the upstream gateway can go away and resolution goes on
            await upstream_gateway.stop()
            other = a_record(members[2]).guid
            r = await downstream.client.get("/resolver/v1/resolve", params={"id": other})
            assert r.status_code == 200 and r.json()["member"]["base_url"] == members[2].base_url
            r = await downstream.client.get("/resolver/v1/resolve", params={"id": "dg.NOTLISTED/1"})
            assert r.status_code == 404
        finally:
            await downstream.stop()


async def test_an_unreachable_or_hostile_dist_list_is_simply_no_answer(tmp_path):
    hits: list[str] = []

    async def dist(_):  # hints that are regexes meant to hurt, and a host we must not call for other prefixes
        return web.json_response([{"name": "evil", "host": "http://127.0.0.1:1/index/", "type": "indexd",
                                   "hints": ["(a+)+$", ".*dg\\.EVIL.*"]}])

    async def record(request):
        hits.append(request.path)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/index/_dist", dist)
    app.router.add_get("/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    dead = f"http://127.0.0.1:{free_port()}/index/_dist"
    gateway = await start_gateway(
        store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, refcommons={"enabled": False},
        resolver={"dist_urls": [dead, f"http://127.0.0.1:{port}/index/_dist"], "deadline": 2.0},
    )
    try:
        r = await gateway.client.get("/resolver/v1/resolve", params={"id": f"{PREFIXES[0]}/x"})
        assert r.status_code == 404  # listed nowhere: no host is asked
        r = await gateway.client.get("/resolver/v1/resolve", params={"id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"})
        assert r.status_code in (400, 404)
        r = await gateway.client.get("/resolver/v1/resolve", params={"id": "dg.EVIL/123"})
        assert r.status_code == 502  # the listed host (port 1) refuses: a clean upstream error
        assert hits == []  # the list server itself is never used as a record host
    finally:
        await gateway.stop()
        await runner.cleanup()


async def test_dist_lists_and_the_hosts_they_name_are_reached_only_outside_denied_networks(tmp_path):
    """An operator's dist URL pointing inside the gateway's network (127.0.0.2 plays it) is never fetched; a list
    outside it naming a record host inside it gets no call to that host: both under the one egress policy."""
    from faults import recording_app, serve

    async def answer(_):
        return web.json_response({})

    internal_app = recording_app([web.get("/{tail:.*}", answer)])
    async with serve(internal_app, host="127.0.0.2") as internal:
        async def naming_inside(_):
            return web.json_response([{"name": "inside", "host": internal.url + "/index/", "type": "indexd",
                                       "hints": [".*dg\\.LISTED.*"]}])

        lister = recording_app([web.get("/index/_dist", naming_inside)])
        async with serve(lister) as outside:
            gateway = await start_gateway(
                store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, refcommons={"enabled": False},
                egress={"deny_networks": ["127.0.0.2/32"]},
                resolver={"dist_urls": [internal.url + "/index/_dist", outside.url + "/index/_dist"],
                          "deadline": 2.0},
            )
            try:
                r = await gateway.client.get("/resolver/v1/resolve", params={"id": "dg.INSIDE/1"})
                assert r.status_code == 404, r.text  # the list inside the network was never read
                r = await gateway.client.get("/resolver/v1/resolve", params={"id": "dg.LISTED/2"})
                assert r.status_code == 502, r.text  # named by a list, refused by the policy
                assert "127.0.0.2" not in r.text
                r = await gateway.client.get("/ga4gh/drs/v1/objects/dg.LISTED/3")
                assert r.status_code == 502 and "127.0.0.2" not in r.text, r.text
            finally:
                await gateway.stop()
            assert outside.count("/index/_dist") == 1
        assert internal.hits == [], "nothing inside the network was fetched"
