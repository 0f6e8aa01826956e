"""drsclient 0.3.2 (Gen3's DRS client library, httpx) against the gateway, over HTTP and HTTPS.

Per scheme: ``get`` (``?expand=false``) and ``download`` (``/access/<access_id>``) of an open object of member B
without a token and of a controlled object of member A with A's token (the URL's bytes checked against the
member's md5), ``async_get``/``async_download`` of B's controlled object with B's token, and the refusal of A's
controlled object's access without a token. Ids keep their raw ``/`` (drsclient joins paths unencoded).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import check, driver_main, md5

CLIENT = "drsclient"


def run(fed, workdir: Path) -> str:  # type: ignore[no-untyped-def]
    from common import run_driver

    a, b = fed.commons["a"], fed.commons["b"]
    gw = fed.gateways["1.5"]
    ids = {"open_b": b.open_ids[0], "controlled_a": a.controlled_ids[0], "controlled_b": b.controlled_ids[0]}
    payload = {"bases": [gw.http, gw.https], "ids": ids, "tokens": {"a": a.token, "b": b.token},
               "expected": {d: fed.expected(d) for d in ids.values()}}
    result = run_driver(CLIENT, Path(__file__), payload, env=fed.client_env(workdir / "home"),
                        log=workdir / "client.log")
    return (f"drsclient {result['version']}: over http and https get + download (access URL bytes, md5 ok) of an "
            f"open {b.prefix} object anonymously, a controlled {a.prefix} object with its member's token, "
            f"async_get/async_download of a controlled {b.prefix} object; anonymous access to controlled refused "
            f"({result['refused']})")


# ---------------------------------------------------------------------------- driver (drsclient venv)


def _drive(p: dict) -> dict:
    import asyncio
    from importlib.metadata import version

    import httpx
    from drsclient.client import DrsClient

    ids, tokens, expected = p["ids"], p["tokens"], p["expected"]
    refused = set()

    def verify(scheme: str, how: str, did: str, obj_resp, access_call) -> None:  # type: ignore[no-untyped-def]
        check(obj_resp.status_code == 200, f"{scheme}: get({did}) {how}: HTTP {obj_resp.status_code} "
              f"{obj_resp.text[:200]}")
        obj = obj_resp.json()
        check(obj.get("size") == expected[did]["size"], f"{scheme}: get({did}): size {obj.get('size')}")
        check({"type": "md5", "checksum": expected[did]["md5"]} in obj.get("checksums", []),
              f"{scheme}: get({did}): no md5 {expected[did]['md5']} in checksums {obj.get('checksums')}")
        methods = obj.get("access_methods") or []
        check(methods and methods[0].get("access_id"), f"{scheme}: get({did}): no access_id in {methods}")
        access = access_call(methods[0]["access_id"])
        check(access.status_code == 200, f"{scheme}: download({did}, {methods[0]['access_id']}) {how}: "
              f"HTTP {access.status_code} {access.text[:200]}")
        url = access.json().get("url")
        check(url, f"{scheme}: download({did}) gave no url: {access.text[:200]}")
        data = httpx.get(url, timeout=30)
        check(data.status_code == 200 and md5(data.content) == expected[did]["md5"],
              f"{scheme}: bytes of {did} from {url}: HTTP {data.status_code}, md5 {md5(data.content)}")

    for base in p["bases"]:
        scheme = base.split(":", 1)[0]
        anonymous, with_a, with_b = DrsClient(baseurl=base), DrsClient(base, token=tokens["a"]), \
            DrsClient(base, token=tokens["b"])

        did = ids["open_b"]
        verify(scheme, "anonymously", did, anonymous.get(did), lambda aid, d=did, c=anonymous: c.download(d, aid))
        did = ids["controlled_a"]
        verify(scheme, "with its member's token", did, with_a.get(did), lambda aid, d=did, c=with_a: c.download(d, aid))

        did = ids["controlled_b"]

        async def both(d: str = did, client: DrsClient = with_b):  # type: ignore[no-untyped-def]
            obj = await client.async_get(d)
            aid = (obj.json().get("access_methods") or [{}])[0].get("access_id", "s3") if obj.status_code == 200 \
                else "s3"
            return obj, await client.async_download(d, aid)

        obj, access = asyncio.run(both())
        verify(scheme, "with its member's token (async)", did, obj, lambda aid, a=access: a)

        did = ids["controlled_a"]
        aid = anonymous.get(did).json()["access_methods"][0]["access_id"]
        denied = anonymous.download(did, aid)
        check(denied.status_code in (401, 403), f"{scheme}: anonymous download({did}, {aid}): HTTP "
              f"{denied.status_code}, expected 401/403: {denied.text[:200]}")
        body = denied.json()
        check(isinstance(body, dict) and body.get("status_code") == denied.status_code and body.get("msg"),
              f"{scheme}: a DRS error body is {{msg, status_code}}, got {body}")
        refused.add(f"HTTP {denied.status_code}")
    return {"version": version("drsclient"), "refused": ", ".join(sorted(refused))}


if __name__ == "__main__":
    driver_main(_drive)
