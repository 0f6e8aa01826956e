"""The reference commons in each deployment layout (:mod:`refcommons.layout`), over real HTTP: what each layout
serves and what it answers 404 for, indexd alone answering DRS access calls as uc-cdis/indexd does without fence,
and one commons split over several ports whose tokens and signed URLs work across them."""

from __future__ import annotations

import argparse
import hashlib
from urllib.parse import quote, urlsplit

import httpx
import jwt
import pytest
from servers import Deployment, running, start_layout

from refcommons import cli
from refcommons.authz.default_policy import ADMIN_USER
from refcommons.commons import ReferenceCommons
from refcommons.layout import GEN3, INDEXD, SPLIT, Mount, service_urls
from refcommons.settings import CommonsSettings

INDEXD_NO_POST = {"msg": "Passport-authenticated DRS object retrieval is not yet supported."}
"""uc-cdis/indexd 6.3's answer (405, no status_code) to a POST on /ga4gh/drs/v1/objects/<path>."""


# --- the layouts as data ------------------------------------------------------------------------


def test_a_mount_replaces_the_services_own_prefix():
    assert Mount("indexd", "/index").path("/_status") == "/index/_status"
    assert Mount("arborist", "/authz", "/auth").path("/auth/mapping") == "/authz/mapping"
    assert Mount("indexd").path("/{guid:.+}") == "/{guid:.+}"
    with pytest.raises(ValueError, match="not under"):
        Mount("arborist", "/authz", "/auth").path("/mapping")


def test_service_urls_of_each_layout():
    base = "http://h:1"
    assert service_urls(GEN3, {"commons": base}) == {
        "indexd": f"{base}/index", "drs": base, "fence": f"{base}/user", "authz": f"{base}/authz",
        "mds": f"{base}/mds", "guppy": f"{base}/guppy", "sheepdog": f"{base}/api",
    }
    assert service_urls(INDEXD, {"indexd": base}) == {"indexd": base, "drs": base}
    split = {name: f"http://h:{i}" for i, name in enumerate(("indexd", "fence", "guppy", "mds", "arborist",
                                                             "sheepdog"))}
    assert service_urls(SPLIT, split) == {
        "indexd": "http://h:0", "drs": "http://h:0", "fence": "http://h:1", "authz": "http://h:4/auth",
        "mds": "http://h:3", "guppy": "http://h:2", "sheepdog": "http://h:5",
    }


def test_settings_refuse_a_server_the_layout_does_not_run():
    with pytest.raises(ValueError, match="layout"):
        CommonsSettings(layout="proxy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has no server fence"):
        CommonsSettings(layout=INDEXD, server_urls={"fence": "http://h:2"})


def test_where_tokens_signed_urls_and_drs_ids_point_in_each_layout():
    gen3 = CommonsSettings(base_url="http://h:1")
    assert (gen3.fence_url, gen3.storage_url, gen3.hostname, gen3.serves_fence) == (
        "http://h:1/user", "http://h:1", "h:1", True)
    alone = CommonsSettings(base_url="http://h:1", layout=INDEXD)
    assert (alone.hostname, alone.serves_fence) == ("h:1", False)
    split = CommonsSettings(base_url="http://h:1", layout=SPLIT, server_urls={"indexd": "http://i:1/",
                                                                              "fence": "http://f:2"})
    assert (split.fence_url, split.storage_url, split.hostname) == ("http://f:2", "http://f:2", "i:1")
    assert split.urls["guppy"] == "http://h:1"  # a server not named is at base_url


# --- the CLI -------------------------------------------------------------------------------------------


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["refcommons", "serve", "--port", "8790", *argv])


def test_split_ports_follow_the_first_unless_named():
    s = cli.settings_from_args(serve_args("--layout", "split", "--service-port", "mds=9000",
                                          "--service-url", "fence=https://fence.example/"))
    assert s.layout == SPLIT and s.base_url == "http://127.0.0.1:8790"
    assert s.urls == {"indexd": "http://127.0.0.1:8790", "fence": "https://fence.example",
                      "guppy": "http://127.0.0.1:8792", "mds": "http://127.0.0.1:9000",
                      "arborist": "http://127.0.0.1:8794", "sheepdog": "http://127.0.0.1:8795"}
    assert s.fence_url == "https://fence.example"
    assert cli.server_ports(SPLIT, 8790, [("mds", "9000")])["mds"] == 9000
    lines = cli.served_lines(s, cli.server_ports(SPLIT, 8790, [("mds", "9000")]), "127.0.0.1")
    assert any("http://127.0.0.1:9000 [mds, 127.0.0.1:9000]" in line for line in lines)
    assert any(line.split() == ["authz", "http://127.0.0.1:8794/auth"] for line in lines)
    alone = cli.served_lines(cli.settings_from_args(serve_args("--layout", "indexd")), {"indexd": 8790}, "h")
    assert any("no fence" in line for line in alone)


@pytest.mark.parametrize("argv", [
    ("--layout", "split", "--public-url", "http://x"),
    ("--service-port", "mds=9000"),
    ("--layout", "split", "--service-port", "fence=8790"),  # indexd's port already
    ("--layout", "split", "--service-port", "portal=9000"),
    ("--layout", "split", "--service-port", "mds=port"),
    ("--layout", "split", "--service-url", "portal=http://x"),
])
def test_bad_layout_flags_are_one_line_and_status_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.settings_from_args(serve_args(*argv))
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


async def test_the_descriptor_keeps_the_layout_so_cli_api_keys_match_the_server(tmp_path):
    settings = cli.settings_from_args(serve_args("--layout", "split", "--data-dir", str(tmp_path)))
    cli.write_descriptor(settings)
    again = cli.read_descriptor(tmp_path)
    assert (again.layout, dict(again.server_urls), again.fence_url) == (SPLIT, settings.urls, "http://127.0.0.1:8791")
    commons = await ReferenceCommons.open(again)
    try:
        creds = await commons.fence.create_api_key(ADMIN_USER)
    finally:
        await commons.close()
    assert jwt.decode(creds["api_key"], options={"verify_signature": False})["iss"] == "http://127.0.0.1:8791"


# --- what each layout serves -----------------------------------------------------------------------


async def _status(client: httpx.AsyncClient, method: str, url: str) -> int:
    body = {"query": "{ _aggregation { subject { _totalCount } } }"} if method == "POST" else None
    return (await client.request(method, url, json=body)).status_code


async def _assert_serves(dep: Deployment, served: dict[str, list[tuple[str, str, int]]]) -> None:
    """``served``: per server name, (method, path, expected status)."""
    async with httpx.AsyncClient(timeout=10) as client:
        failures = []
        for name, checks in served.items():
            base = dep.servers[name].base_url
            for method, path, expected in checks:
                got = await _status(client, method, base + path)
                if got != expected:
                    failures.append(f"{name} {method} {path}: {got}, expected {expected}")
        assert not failures, "\n".join(failures)


def _a_guid(dep: Deployment) -> str:
    return dep.commons.dataset.files[0].guid


def _controlled_guid(dep: Deployment) -> str:
    return next(f.guid for f in dep.commons.dataset.files if "/projects/" not in f.authz)


async def test_gen3_layout_serves_gens3_proxy_paths_under_one_host():
    async with running(start_layout("dg.LAY1", seed=3, subjects=6)) as dep:
        assert list(dep.servers) == ["commons"]
        assert dep.server("mds") is dep.server("drs") is dep.servers["commons"]
        assert dep.urls["indexd"] == dep.base_url + "/index" and dep.urls["authz"] == dep.base_url + "/authz"
        guid = _a_guid(dep)
        await _assert_serves(dep, {"commons": [
            ("GET", "/index/_status", 200), ("GET", "/index/_stats", 200), ("GET", "/index/index?limit=1", 200),
            ("GET", f"/index/{guid}", 200), ("GET", f"/index/index/{guid}", 200),
            ("GET", f"/ga4gh/drs/v1/objects/{guid}", 200), ("GET", "/ga4gh/drs/v1/service-info", 200),
            ("GET", "/user/jwt/keys", 200), ("GET", "/user/user", 401), ("GET", "/authz/mapping", 200),
            ("GET", "/mds/metadata", 200), ("POST", "/guppy/graphql", 200), ("GET", "/guppy/_status", 200),
            ("GET", "/api/v0/submission/_dictionary", 200), ("GET", "/wts/external_oidc/", 200),
            # the services' own root paths are the proxy's business, not served at the host's root
            ("GET", "/_status", 404), ("GET", "/metadata", 404), ("GET", "/auth/mapping", 404),
            ("GET", "/jwt/keys", 404), ("GET", "/v0/submission/_dictionary", 404), ("POST", "/graphql", 404),
        ]})
        obj = (await dep.servers["commons"].client.get(f"/ga4gh/drs/v1/objects/{guid}")).json()
        assert obj["self_uri"].startswith(f"drs://{dep.servers['commons'].hostname}/")


async def test_indexd_layout_is_indexd_alone_at_its_root():
    async with running(start_layout("dg.LAY2", seed=3, subjects=6, layout=INDEXD)) as dep:
        assert list(dep.servers) == ["indexd"]
        guid = _a_guid(dep)
        await _assert_serves(dep, {"indexd": [
            ("GET", "/_status", 200), ("GET", "/_version", 200), ("GET", "/_stats", 200),
            ("GET", "/index/?limit=2", 200), ("GET", "/index?limit=2", 200), ("GET", f"/index/{guid}", 200),
            ("GET", f"/{guid}", 200), ("GET", f"/ga4gh/drs/v1/objects/{guid}", 200),
            ("GET", "/ga4gh/drs/v1/objects?limit=1", 200), ("GET", "/ga4gh/drs/v1/service-info", 200),
            # no fence, Guppy, MDS, Arborist or sheepdog: their paths are ids indexd does not hold (GET)...
            ("GET", "/index/_status", 404), ("GET", "/user/user", 404), ("GET", "/user/jwt/keys", 404),
            ("GET", "/jwt/keys", 404), ("GET", f"/user/data/download/{guid}", 404),
            ("GET", f"/data/download/{guid}", 404), ("GET", f"/storage/{guid}", 404),
            ("GET", "/authz/mapping", 404), ("GET", "/auth/mapping", 404), ("GET", "/mds/metadata", 404),
            ("GET", "/metadata", 404), ("GET", "/guppy/_status", 404), ("GET", "/api/v0/submission/_dictionary", 404),
            ("GET", "/wts/external_oidc/", 404),
            # ...and a POST there meets indexd's GET-only global lookup
            ("POST", "/guppy/graphql", 405), ("POST", "/graphql", 405),
        ]})
        r = await dep.servers["indexd"].client.get("/_status")
        assert r.text == "Healthy"
        listed = (await dep.servers["indexd"].client.get("/index/", params={"limit": 3})).json()
        assert len(listed["records"]) == 3
        bulk = await dep.servers["indexd"].client.post("/bulk/documents", json=[guid, "dg.LAY2/nope"])
        assert bulk.status_code == 200 and [r["did"] for r in bulk.json()] == [guid]
        obj = (await dep.servers["indexd"].client.get(f"/ga4gh/drs/v1/objects/{guid}")).json()
        assert obj["self_uri"].startswith(f"drs://{dep.servers['indexd'].hostname}/")


async def test_indexd_alone_answers_drs_access_as_indexd_does_without_fence():
    """uc-cdis/indexd has no access route: a GET on …/access/<id> is its object lookup of that whole path (404,
    "no record found"), and any POST on an object path its 405 — for an object whose metadata it has just served."""
    async with running(start_layout("dg.LAY3", seed=3, subjects=6, layout=INDEXD)) as dep:
        client = dep.servers["indexd"].client
        for guid in (f.guid for f in dep.commons.dataset.files[:3]):  # open and controlled alike
            obj = await client.get(f"/ga4gh/drs/v1/objects/{guid}")
            assert obj.status_code == 200
            access_id = obj.json()["access_methods"][0]["access_id"]
            for object_id in (guid, quote(guid, safe="")):
                got = await client.get(f"/ga4gh/drs/v1/objects/{object_id}/access/{access_id}")
                assert got.status_code == 404
                assert got.json() == {"msg": "no record found", "status_code": 404}
                posted = await client.post(f"/ga4gh/drs/v1/objects/{object_id}/access/{access_id}", json={})
                assert posted.status_code == 405 and posted.json() == INDEXD_NO_POST
        posted = await client.post(f"/ga4gh/drs/v1/objects/{_a_guid(dep)}", json={"passports": ["x.y.z"]})
        assert posted.status_code == 405 and posted.json() == INDEXD_NO_POST
        bulk_objects = await client.post("/ga4gh/drs/v1/objects", json={"bulk_object_ids": [_a_guid(dep)]})
        assert bulk_objects.status_code == 200 and bulk_objects.json()["summary"]["resolved"] == 1
        bulk = await client.post("/ga4gh/drs/v1/objects/access", json={"bulk_object_access_ids": [
            {"bulk_object_id": _a_guid(dep), "bulk_access_ids": ["s3"]}]})
        assert bulk.status_code == 405 and bulk.json() == INDEXD_NO_POST
        # nothing points at a fence that is not there
        options = (await client.options(f"/ga4gh/drs/v1/objects/{_controlled_guid(dep)}")).json()
        assert options["supported_types"] == ["BearerAuth"] and options.get("bearer_auth_issuers") is None


async def test_split_layout_serves_each_service_at_its_own_root():
    async with running(start_layout("dg.LAY4", seed=3, subjects=6, layout=SPLIT)) as dep:
        assert list(dep.servers) == ["indexd", "fence", "guppy", "mds", "arborist", "sheepdog"]
        assert len({s.port for s in dep.servers.values()}) == 6
        assert dep.server("authz") is dep.servers["arborist"] and dep.server("drs") is dep.servers["indexd"]
        assert dep.urls["authz"] == dep.servers["arborist"].base_url + "/auth" and dep.base_url == dep.urls["indexd"]
        guid = _a_guid(dep)
        elsewhere = [("GET", "/index/_status", 404), ("GET", "/user/jwt/keys", 404), ("GET", "/mds/metadata", 404),
                     ("GET", "/authz/mapping", 404), ("GET", "/api/v0/submission/_dictionary", 404)]
        await _assert_serves(dep, {
            "indexd": [("GET", "/_status", 200), ("GET", f"/index/{guid}", 200), ("GET", f"/{guid}", 200),
                       ("GET", f"/ga4gh/drs/v1/objects/{guid}", 200), ("GET", "/jwt/keys", 404),
                       ("GET", "/metadata", 404), ("GET", "/auth/mapping", 404), ("POST", "/graphql", 405),
                       ("GET", f"/ga4gh/drs/v1/objects/{guid}/access/s3", 404)],
            "fence": [("GET", "/jwt/keys", 200), ("GET", "/.well-known/jwks", 200), ("GET", "/user", 401),
                      ("GET", f"/data/download/{guid}", 200), ("GET", "/_status", 404),
                      ("GET", f"/index/{guid}", 404), ("GET", f"/ga4gh/drs/v1/objects/{guid}", 404),
                      ("GET", "/metadata", 404), *elsewhere],
            "guppy": [("POST", "/graphql", 200), ("GET", "/_status", 200), ("GET", "/_version", 200),
                      ("GET", "/metadata", 404), ("GET", "/jwt/keys", 404), *elsewhere],
            "mds": [("GET", "/metadata", 200), ("GET", "/_status", 200), ("GET", "/version", 200),
                    ("POST", "/graphql", 404), ("GET", "/index/", 404), *elsewhere],
            "arborist": [("GET", "/auth/mapping", 200), ("GET", "/_status", 404), ("GET", "/metadata", 404),
                         *elsewhere],
            "sheepdog": [("GET", "/v0/submission/_dictionary", 200), ("GET", "/v0/submission/_dictionary/_all", 200),
                         ("GET", "/auth/mapping", 404), *elsewhere],
        })
        links = (await dep.servers["sheepdog"].client.get("/v0/submission/_dictionary")).json()["links"]
        assert links[0].startswith("/v0/submission/_dictionary/")


async def test_split_layout_is_one_commons_across_its_ports():
    """A record indexd lists on one port is downloaded through fence on another: the signed URL points at fence's
    server and serves the bytes; a token from fence's port is honoured by Arborist's and by indexd's writes; DRS
    objects name indexd's host."""
    async with running(start_layout("dg.LAY5", seed=3, subjects=6, layout=SPLIT)) as dep:
        indexd, fence = dep.servers["indexd"], dep.servers["fence"]
        listed = (await indexd.client.get("/index/", params={"limit": 1000})).json()["records"]
        open_guids = {f.guid for f in dep.commons.dataset.files if "/projects/" in f.authz}
        record = next(r for r in listed if r["did"] in open_guids)
        signed = await fence.client.get(f"/data/download/{record['did']}")
        assert signed.status_code == 200, signed.text
        url = signed.json()["url"]
        assert url.startswith(fence.base_url + "/storage/")
        async with httpx.AsyncClient(timeout=10) as client:
            got = await client.get(url)
            assert got.status_code == 200
            assert hashlib.md5(got.content).hexdigest() == record["hashes"]["md5"]
            assert len(got.content) == record["size"]
            assert (await client.get(indexd.base_url + urlsplit(url).path + "?" + urlsplit(url).query)
                    ).status_code == 404  # the bytes live behind fence's server only
            # DRS access is fence's, at the same GA4GH path
            drs = (await indexd.client.get(f"/ga4gh/drs/v1/objects/{record['did']}")).json()
            assert drs["self_uri"].startswith(f"drs://{indexd.hostname}/")
            access_id = drs["access_methods"][0]["access_id"]
            access = await fence.client.get(f"/ga4gh/drs/v1/objects/{record['did']}/access/{access_id}")
            assert access.status_code == 200, access.text
            assert (await client.get(access.json()["url"])).content == got.content

        # one key set: fence's token (iss = fence's own URL) works at Arborist's and indexd's ports
        creds = await dep.commons.fence.create_api_key(ADMIN_USER)
        exchanged = await fence.client.post("/credentials/api/access_token", json=creds)
        assert exchanged.status_code == 200, exchanged.text
        token = exchanged.json()["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == fence.base_url
        auth = {"Authorization": f"Bearer {token}"}
        anonymous = (await dep.servers["arborist"].client.get("/auth/mapping")).json()
        admin = await dep.servers["arborist"].client.get("/auth/mapping", headers=auth)
        assert admin.status_code == 200 and len(admin.json()) > len(anonymous)
        created = await indexd.client.post("/index/", headers=auth, json={
            "form": "object", "size": 3, "hashes": {"md5": hashlib.md5(b"abc").hexdigest()},
            "urls": ["s3://bucket/abc"], "authz": ["/programs/LAY5"], "file_name": "abc.txt"})
        assert created.status_code == 200, created.text
        assert (await indexd.client.get(f"/index/{created.json()['did']}")).status_code == 200
        options = (await indexd.client.options(f"/ga4gh/drs/v1/objects/{_controlled_guid(dep)}")).json()
        assert options["bearer_auth_issuers"] == [fence.base_url]
