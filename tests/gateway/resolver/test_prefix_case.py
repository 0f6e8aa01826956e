"""Gen3's indexd is case-sensitive about GUIDs while prefixes route case-insensitively: an id typed with
another case than the commons' own (conventional upper-case) spelling must still be found."""

from __future__ import annotations

from aiohttp import web
from servers import free_port, start_gateway

UUID = "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
DID = f"dg.CASE1/{UUID}"


async def _strict_indexd() -> tuple[web.AppRunner, str, list[str]]:
    asked: list[str] = []

    async def status(_):
        return web.Response(text="Healthy")

    async def record(request):
        did = request.match_info["did"]
        asked.append(did)
        if did != DID:  # exactly like indexd: no case folding
            return web.json_response({"error": "no record found"}, status=404)
        return web.json_response({"did": DID, "size": 3, "file_name": "x.txt", "hashes": {"md5": "0" * 32}})

    app = web.Application()
    app.router.add_get("/index/_status", status)
    app.router.add_get("/index/index/{did:.+}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", asked


async def test_any_case_of_the_prefix_finds_a_case_sensitive_commons(tmp_path):
    runner, url, asked = await _strict_indexd()
    gateway = await start_gateway(
        store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, refcommons={"enabled": False},
        registry={"members": [{"id": "strict", "name": "Strict", "base_url": url, "kind": "gen3",
                               "prefixes": ["dg.CASE1"]}]},
    )
    try:
        for typed in (DID, f"dg.case1/{UUID}", f"drs://dg.Case1:{UUID}"):
            r = await gateway.client.get("/resolver/v1/resolve", params={"id": typed})
            assert r.status_code == 200, (typed, r.text)
            assert r.json()["record"]["did"] == DID
        assert asked[0] == DID  # the conventional spelling is asked as given first: one call, no retry
        r = await gateway.client.get("/resolver/v1/resolve", params={"id": "dg.case1/not-there"})
        assert r.status_code == 404
    finally:
        await gateway.stop()
        await runner.cleanup()
