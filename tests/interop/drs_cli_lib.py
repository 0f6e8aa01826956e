"""drs-cli 0.2.3 (ELIXIR's DRS client library, requests + pydantic models) against the gateway, over HTTP and
HTTPS.

Per scheme: ``get_object`` (validated into its pydantic ``DrsObject``: RFC 3339 times, access method types from
the spec's closed list) and ``get_access_url`` (``AccessURL``) of an open object of member A without a token and
of a controlled object of member B with B's token, the URL's bytes checked against the member's md5; an unknown id
and anonymous access to the controlled object come back as the client's ``Error{msg, status_code}``. drs-cli
percent-encodes ids (``dg.TST1%2F<uuid>``), the other clients send the ``/`` raw.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import check, driver_main, md5

CLIENT = "drs-cli"


def run(fed, workdir: Path) -> str:  # type: ignore[no-untyped-def]
    from common import run_driver

    a, b = fed.commons["a"], fed.commons["b"]
    gw = fed.gateways["1.5"]
    ids = {"open_a": a.open_ids[0], "controlled_b": b.controlled_ids[0]}
    payload = {"targets": [["http", gw.port], ["https", gw.tls_port]], "ids": ids, "token_b": b.token,
               "unknown": f"{b.prefix}/00000000-0000-4000-8000-000000000000",
               "expected": {d: fed.expected(d) for d in ids.values()}}
    result = run_driver(CLIENT, Path(__file__), payload, env=fed.client_env(workdir / "home"),
                        log=workdir / "client.log")
    return (f"drs-cli {result['version']}: over http and https get_object (pydantic DrsObject) + get_access_url "
            f"(AccessURL; bytes md5 ok) with %2F-encoded ids: open {a.prefix} object anonymously, controlled "
            f"{b.prefix} object with its member's token; Error model for an unknown id ({result['unknown']}) and "
            f"anonymous access to controlled ({result['refused']})")


# ------------------------------------------------------------------------------ driver (drs-cli venv)


def _drive(p: dict) -> dict:
    import logging
    from importlib.metadata import version

    import requests
    from drs_cli.client import DRSClient
    from drs_cli.models import AccessURL, DrsObject, Error

    logging.basicConfig(level=logging.INFO)
    ids, expected = p["ids"], p["expected"]
    unknown, refused = set(), set()

    def fetch(scheme: str, client, did: str, how: str) -> str:  # type: ignore[no-untyped-def]
        obj = client.get_object(did)
        check(isinstance(obj, DrsObject), f"{scheme}: get_object({did}) {how}: {obj!r}")
        check(obj.id == did, f"{scheme}: get_object({did}): id {obj.id!r}")
        check(obj.size == expected[did]["size"], f"{scheme}: get_object({did}): size {obj.size}")
        check(any(c.type == "md5" and c.checksum == expected[did]["md5"] for c in obj.checksums),
              f"{scheme}: get_object({did}): md5 missing from {obj.checksums}")
        check(obj.access_methods and obj.access_methods[0].access_id,
              f"{scheme}: get_object({did}): no access_id in {obj.access_methods}")
        aid = obj.access_methods[0].access_id
        access = client.get_access_url(did, aid)
        check(isinstance(access, AccessURL), f"{scheme}: get_access_url({did}, {aid}) {how}: {access!r}")
        headers = dict(h.split(": ", 1) for h in access.headers or [])
        data = requests.get(access.url, headers=headers, timeout=30)
        check(data.status_code == 200 and md5(data.content) == expected[did]["md5"],
              f"{scheme}: bytes of {did} from {access.url}: HTTP {data.status_code}, md5 {md5(data.content)}")
        return aid

    for scheme, port in p["targets"]:
        anonymous = DRSClient(uri=f"{scheme}://127.0.0.1", port=port)
        with_b = DRSClient(uri=f"{scheme}://127.0.0.1", port=port, token=p["token_b"])
        fetch(scheme, anonymous, ids["open_a"], "anonymously")
        aid = fetch(scheme, with_b, ids["controlled_b"], "with its member's token")

        missing = anonymous.get_object(p["unknown"])
        check(isinstance(missing, Error) and missing.status_code == 404,
              f"{scheme}: get_object(unknown id): {missing!r}, expected Error 404")
        unknown.add(f"Error {missing.status_code}")
        denied = anonymous.get_access_url(ids["controlled_b"], aid)
        check(isinstance(denied, Error) and denied.status_code in (401, 403),
              f"{scheme}: anonymous get_access_url(controlled {ids['controlled_b']}): {denied!r}, "
              "expected Error 401/403")
        refused.add(f"Error {denied.status_code}")
    return {"version": version("drs-cli"), "unknown": ", ".join(sorted(unknown)), "refused": ", ".join(sorted(refused))}


if __name__ == "__main__":
    driver_main(_drive)
