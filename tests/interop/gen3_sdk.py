"""The Gen3 SDK and CLI (``gen3`` from PyPI; 5.x on Python 3.13+, else 4.28.x) against the gateway.

Credentials are an admin API key of member A (``gateway refcommons api-key create``); its ``iss`` names member A,
so the SDK exchanges it there. Two parts:

* the SDK (this file run as a driver in the gen3 venv), over HTTP and HTTPS: ``Gen3Index`` ``is_healthy``,
  ``get_record`` (both members), ``get_records`` (bulk, both members), an unknown id → ``None``; ``Gen3File``
  ``get_presigned_url`` and ``download_single`` of a controlled object of A with A's token, of an open object of
  B anonymously and with A's token (passthrough must not show A's token to B), and refusals: A's controlled object
  anonymously, B's controlled object with A's token;
* ``gen3 drs-pull objects`` over HTTPS (``https://`` is hard-coded): A's controlled object and B's open object.

The SDK takes every service URL from ``auth.endpoint`` (``Gen3Index``/``Gen3File`` ignore their ``endpoint``
argument when given a ``Gen3Auth``), so the driver points ``auth.endpoint`` at the gateway after building it;
the token exchange keeps going to the key's ``iss``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Failure, check, driver_main, md5

CLIENT = "gen3"


# ------------------------------------------------------------------------------------- harness side


def run(fed, workdir: Path) -> str:  # type: ignore[no-untyped-def]
    from common import run_driver

    a, b = fed.commons["a"], fed.commons["b"]
    gw = fed.gateways["1.5"]
    ids = {"open_a": a.open_ids[0], "open_b": b.open_ids[0], "controlled_a": a.controlled_ids[0],
           "controlled_b": b.controlled_ids[0]}
    payload = {
        "creds": str(a.creds), "member_a": a.base, "endpoints": [gw.http, gw.https], "ids": ids,
        "expected": {d: {**fed.expected(d), "record": fed.commons[fed.expected(d)["member"]].records[d]}
                     for d in ids.values()},
        "unknown": f"{a.prefix}/00000000-0000-4000-8000-000000000000", "out": str(workdir / "sdk"),
    }
    env = fed.client_env(workdir / "home")
    log = workdir / "client.log"
    # own tokens first, then member A's token for member B's objects (so a FAIL says which part broke)
    result = run_driver(CLIENT, Path(__file__), {**payload, "phase": "own"}, env=env, log=log)
    _drs_pull(fed, workdir, 0, [ids["controlled_a"]], log)
    foreign = run_driver(CLIENT, Path(__file__), {**payload, "phase": "foreign"}, env=env, log=log)
    _drs_pull(fed, workdir, 1, [ids["controlled_a"], ids["open_b"]], log)
    result["refusals"] = sorted(set(result["refusals"] + foreign["refusals"]))
    return (f"gen3 {result['version']}: over http and https Gen3Index is_healthy/get_record/get_records "
            f"({a.prefix}+{b.prefix}), unknown id → None; Gen3File presigned URL + download_single (md5 ok) of a "
            f"controlled {a.prefix} object with its member's token and of an open {b.prefix} object with no token "
            f"and with {a.prefix}'s token; controlled refused ({', '.join(result['refusals'])}); "
            f"`gen3 drs-pull objects` over https: controlled {a.prefix} alone, then with open {b.prefix}, md5 ok")


def _drs_pull(fed, workdir: Path, n: int, wanted: list[str], log: Path) -> None:  # type: ignore[no-untyped-def]
    from common import client_bin, run_logged

    a, gw = fed.commons["a"], fed.gateways["1.5"]
    out = workdir / f"drs-pull-{n}"
    out.mkdir()
    done = run_logged(
        [str(client_bin(CLIENT, "gen3")), "--auth", str(a.creds), "--endpoint", gw.tls_host,
         "--commons_url", gw.tls_host, "drs-pull", "objects", "--no-progress", "--output-dir", str(out), *wanted],
        env=fed.client_env(workdir / f"home-drs-pull-{n}", DRS_RESOLUTION_ORDER="cache_file"), log=log, timeout=300,
    )
    summary = None
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{") and '"succeeded"' in line:
            summary = json.loads(line)
            break
    check(summary is not None, f"drs-pull printed no summary (exit {done.returncode}; log: {log})")
    check(sorted(summary["succeeded"]) == sorted(wanted),
          f"drs-pull objects {' '.join(wanted)} over https with {a.prefix}'s key: succeeded {summary['succeeded']}, "
          f"failed {summary['failed']} (log: {log})")
    for did in wanted:
        exp = fed.expected(did)
        path = out / exp["file_name"]
        check(path.is_file(), f"drs-pull reported {did} downloaded but {path} is missing")
        check(md5(path.read_bytes()) == exp["md5"], f"drs-pull: {path} has the wrong md5")


# --------------------------------------------------------------------------------- driver (gen3 venv)

INDEXD_FIELDS = ("did", "baseid", "rev", "form", "size", "file_name", "version", "uploader", "urls",
                 "urls_metadata", "acl", "authz", "hashes", "metadata", "created_date", "updated_date",
                 "description", "content_created_date", "content_updated_date")


def _drive(p: dict) -> dict:
    from importlib.metadata import version

    import requests
    from gen3.auth import Gen3Auth
    from gen3.file import Gen3File
    from gen3.index import Gen3Index

    class Anonymous(Gen3Auth):
        """A Gen3Auth that adds no credentials (the SDK has no anonymous mode; Gen3File needs an auth)."""

        def __init__(self, endpoint: str) -> None:
            self.endpoint = endpoint

        def __call__(self, request):  # type: ignore[no-untyped-def]
            return request

    ids, expected = p["ids"], p["expected"]
    auth = Gen3Auth(refresh_file=p["creds"])
    check(auth.endpoint == p["member_a"], f"Gen3Auth endpoint {auth.endpoint}, expected the key's iss {p['member_a']}")
    refusals = []

    def download(scheme: str, client, did: str, how: str, n: int) -> None:  # type: ignore[no-untyped-def]
        out = Path(p["out"]) / scheme / str(n)
        if client.download_single(did, str(out)) is not True:
            why = "see the log"
            try:  # the SDK logs its reason; ask once more to name it here
                client.get_presigned_url(did)
            except requests.HTTPError as exc:
                if exc.response is not None:
                    why = f"GET {exc.response.request.path_url} → HTTP {exc.response.status_code} {exc.response.text}"
            raise Failure(f"{scheme}: download_single({did}) with {how} returned False: {why}")
        path = out / expected[did]["file_name"]
        check(path.is_file() and md5(path.read_bytes()) == expected[did]["md5"],
              f"{scheme}: download_single({did}) with {how}: {path} missing or wrong md5")

    def refused(scheme: str, client, did: str, how: str) -> None:  # type: ignore[no-untyped-def]
        try:
            got = client.get_presigned_url(did)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            check(status in (401, 403), f"{scheme}: controlled {did} with {how}: HTTP {status}, expected 401/403")
            refusals.append(f"{how} → {status}")
            return
        raise Failure(f"{scheme}: controlled {did} with {how} was not refused: {got}")

    # phase "own": each member's objects with that member's own token, or none
    for endpoint in p["endpoints"] if p["phase"] == "own" else []:
        scheme = endpoint.split(":", 1)[0]
        auth.endpoint = endpoint  # service calls to the gateway; the key is still exchanged at its iss

        index = Gen3Index(auth_provider=auth)
        check(index.is_healthy(), f"{scheme}: Gen3Index.is_healthy() is False (GET /index/_status must say Healthy)")
        for key in ("open_a", "controlled_b"):
            did = ids[key]
            record = index.get_record(did)
            check(record is not None, f"{scheme}: Gen3Index.get_record({did}) is None")
            missing = [f for f in INDEXD_FIELDS if f not in record]
            check(not missing, f"{scheme}: get_record({did}) lacks indexd fields {missing}")
            want = expected[did]["record"]
            diff = [f for f in ("did", "size", "file_name", "hashes", "authz", "urls") if record.get(f) != want.get(f)]
            check(not diff, f"{scheme}: get_record({did}) differs from the member's record in {diff}")
        check(index.get_record(p["unknown"]) is None, f"{scheme}: get_record(unknown id) is not None")
        wanted = [ids["open_a"], ids["open_b"], ids["controlled_a"], ids["controlled_b"]]
        got = index.get_records(wanted)
        check(isinstance(got, list) and sorted(r.get("did") for r in got) == sorted(wanted),
              f"{scheme}: get_records({wanted}) gave {[r.get('did') for r in got] if isinstance(got, list) else got}")

        files, anonymous = Gen3File(auth_provider=auth), Gen3File(auth_provider=Anonymous(endpoint))
        did = ids["controlled_a"]
        url = files.get_presigned_url(did)
        check(isinstance(url, dict) and str(url.get("url", "")).startswith("http"),
              f"{scheme}: get_presigned_url({did}) gave {url}")
        download(scheme, files, ids["controlled_a"], "its member's token", 0)
        download(scheme, anonymous, ids["open_b"], "no token", 1)
        refused(scheme, anonymous, ids["controlled_a"], "no token")

    # phase "foreign": member A's token for member B's objects opens nothing controlled, and must not turn
    # open data into a 401 (the gateway should not hand A's token to B)
    for endpoint in p["endpoints"] if p["phase"] == "foreign" else []:
        scheme = endpoint.split(":", 1)[0]
        auth.endpoint = endpoint
        files = Gen3File(auth_provider=auth)
        refused(scheme, files, ids["controlled_b"], "the other member's token")
        download(scheme, files, ids["open_b"], "the other member's token (open data)", 2)
    return {"version": version("gen3"), "refusals": sorted(set(refusals))}


if __name__ == "__main__":
    driver_main(_drive)
