"""`make run`'s federation of one: the in-process reference commons is an active member, reached without
HTTP, and the gateway's own DRS hostname stays the gateway's."""

from __future__ import annotations

from urllib.parse import quote

from servers import start_gateway


async def test_in_process_commons_resolves_and_claims_no_hostname(tmp_path):
    gateway = await start_gateway(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"},
                                  refcommons={"subjects": 10, "data_dir": tmp_path / "rc"})
    try:
        member = (await gateway.client.get("/registry/v1/commons/refcommons")).json()
        assert member["status"] == "active" and member["kind"] == "reference"
        assert member["prefixes"] == ["dg.ref0"] and member["hostnames"] == []
        guid = (await gateway.client.get("/refcommons/index/index", params={"limit": 1})).json()["records"][0]["did"]
        uuid = guid.split("/", 1)[1]
        for form in (guid, f"drs://dg.REF0:{uuid}", f"drs://{gateway.hostname}/{quote(guid, safe='')}"):
            r = await gateway.client.get("/resolver/v1/resolve", params={"id": form})
            assert r.status_code == 200, (form, r.text)
            assert r.json()["member"]["id"] == "refcommons" and r.json()["record"]["did"] == guid
        r = await gateway.client.get("/resolver/v1/resolve", params={"id": f"drs://{gateway.hostname}/nothing-here"})
        assert r.status_code == 404
    finally:
        await gateway.stop()
