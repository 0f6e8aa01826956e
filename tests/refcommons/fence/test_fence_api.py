"""The fence subset over real HTTP: API keys, token exchange, /user/user, signed download URLs and their bytes."""

from __future__ import annotations

import hashlib
import logging
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jwt
import pytest

from refcommons.authz.default_policy import ADMIN_USER, MEMBER_USER, RESEARCHER_USER
from refcommons.fence.apikeys import NAMESPACE
from refcommons.fence.service import DOWNLOADS_LOG
from refcommons.routes.fence import content_disposition

STRANGER = "stranger@example.org"


# --- helpers --------------------------------------------------------------------------------------


async def token_for(server, user: str) -> str:
    """Mint an API key the way the admin CLI does, and exchange it over HTTP."""
    creds = await server.commons.fence.create_api_key(user)
    r = await server.client.post("/user/credentials/api/access_token", json=creds)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer(token: str, scheme: str = "bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def files_under(server, predicate) -> list:
    files = [f for f in server.commons.dataset.files if predicate(f)]
    assert files, "the dataset should hold such files"
    return files


def open_file(server):
    return files_under(server, lambda f: "/projects/" in f.authz)[0]


def controlled_studies(server) -> list[list[str]]:
    """Each controlled study's resource paths, in dataset order (as the default policy sees them)."""
    studies: dict[str, list[str]] = {}
    for r in server.commons.dataset.authz_resources():
        if r.access == "controlled":
            studies.setdefault(r.path.rsplit("/", 1)[-1].split(".")[0], []).append(r.path)
    return list(studies.values())


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(q)))


async def download(server, guid: str, headers: dict[str, str] | None = None, **params: str):
    return await server.client.get(f"/user/data/download/{guid}", params=params, headers=headers or {})


async def fetch(server, url: str):
    """GET a signed URL as a client would: absolute, no credentials."""
    assert url.startswith(server.base_url + "/storage/")
    return await server.client.get(url)


# --- token exchange and API keys ------------------------------------------------------------------


async def test_exchange_on_both_paths_and_as_a_form(commons_server):
    fence = commons_server.commons.fence
    creds = await fence.create_api_key(MEMBER_USER)
    assert set(creds) == {"api_key", "key_id"}
    api_claims = jwt.decode(creds["api_key"], options={"verify_signature": False})
    assert api_claims["iss"] == f"{commons_server.base_url}/user"  # the SDK finds the commons from this
    assert api_claims["pur"] == "api_key" and api_claims["jti"] == creds["key_id"]
    for path in ("/user/credentials/api/access_token", "/user/credentials/cdis/access_token"):
        r = await commons_server.client.post(path, json=creds)
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
        assert claims["sub"] == MEMBER_USER and claims["pur"] == "access"
        assert claims["exp"] - time.time() > 300  # the SDK re-exchanges when fewer than 300 s remain
    r = await commons_server.client.post("/user/credentials/api/access_token", data={"api_key": creds["api_key"]})
    assert r.status_code == 200 and "access_token" in r.json()


async def test_exchange_refuses_bad_keys(commons_server):
    fence = commons_server.commons.fence
    client = commons_server.client
    creds = await fence.create_api_key(RESEARCHER_USER)
    assert await fence.revoke_api_key(creds["key_id"])
    r = await client.post("/user/credentials/api/access_token", json=creds)
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    assert r.json()["status_code"] == 401

    now = int(time.time())
    unknown = fence.tokens.issue_api_key(RESEARCHER_USER, "no-such-key", issued_at=now, expires_at=now + 60)
    r = await client.post("/user/credentials/api/access_token", json={"api_key": unknown})
    assert r.status_code == 401 and "unknown" in r.json()["error"]

    expired = fence.tokens.issue_api_key(RESEARCHER_USER, creds["key_id"], issued_at=now - 100, expires_at=now - 10)
    r = await client.post("/user/credentials/api/access_token", json={"api_key": expired})
    assert r.status_code == 401 and "expired" in r.json()["error"]

    access = await token_for(commons_server, RESEARCHER_USER)  # an access token is not an API key
    r = await client.post("/user/credentials/cdis/access_token", json={"api_key": access})
    assert r.status_code == 401

    for body in ({"api_key": "garbage"}, {"api_key": creds["api_key"][:-5] + "AAAAA"}):
        assert (await client.post("/user/credentials/api/access_token", json=body)).status_code == 401
    assert (await client.post("/user/credentials/api/access_token", json={"key_id": "x"})).status_code == 400
    assert (await client.post("/user/credentials/api/access_token", data={"other": "x"})).status_code == 400
    assert (await client.post("/user/credentials/api/access_token", content=b"{nope", headers={
        "Content-Type": "application/json"})).status_code == 400


async def test_a_key_expired_by_its_record_is_refused(commons_server):
    fence = commons_server.commons.fence
    # expiry is in whole seconds: a 1 s key can already be expired at its first use, so give it 2 s
    creds = await fence.create_api_key(MEMBER_USER, ttl_seconds=2)
    assert (await commons_server.client.post("/user/credentials/api/access_token", json=creds)).status_code == 200
    await _sleep(2.2)
    r = await commons_server.client.post("/user/credentials/api/access_token", json=creds)
    assert r.status_code == 401


async def test_a_key_whose_record_was_cut_short_is_refused(commons_server):
    fence = commons_server.commons.fence
    creds = await fence.create_api_key(MEMBER_USER)
    stored = await commons_server.commons.store.get(NAMESPACE, creds["key_id"])
    await commons_server.commons.store.put(NAMESPACE, creds["key_id"], {**stored.doc, "expires": int(time.time()) - 1})
    r = await commons_server.client.post("/user/credentials/api/access_token", json=creds)
    assert r.status_code == 401 and "expired" in r.json()["error"]


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def test_api_key_management_over_http(commons_server):
    client = commons_server.client
    member = await token_for(commons_server, MEMBER_USER)
    assert (await client.post("/user/credentials/api/")).status_code == 401
    r = await client.post("/user/credentials/api/", headers=bearer(member))
    assert r.status_code == 200, r.text
    mine = r.json()
    assert set(mine) == {"api_key", "key_id"}
    r = await client.post("/user/credentials/cdis/", headers=bearer(member), json={"expires_in": 120})
    short = r.json()
    assert jwt.decode(short["api_key"], options={"verify_signature": False})["exp"] <= time.time() + 121

    listing = (await client.get("/user/credentials/api/", headers=bearer(member))).json()["jwt_keys"]
    assert {mine["key_id"], short["key_id"]} <= {k["jti"] for k in listing}
    assert all(isinstance(k["exp"], int) for k in listing)
    researcher = await token_for(commons_server, RESEARCHER_USER)
    theirs = (await client.get("/user/credentials/api/", headers=bearer(researcher))).json()["jwt_keys"]
    assert mine["key_id"] not in {k["jti"] for k in theirs}

    r = await client.delete(f"/user/credentials/api/{mine['key_id']}", headers=bearer(researcher))
    assert r.status_code == 404  # not theirs
    assert (await client.post("/user/credentials/api/access_token", json=mine)).status_code == 200
    r = await client.delete(f"/user/credentials/api/{mine['key_id']}", headers=bearer(member))
    assert r.status_code == 204
    assert (await client.post("/user/credentials/api/access_token", json=mine)).status_code == 401
    listing = (await client.get("/user/credentials/api/", headers=bearer(member))).json()["jwt_keys"]
    assert mine["key_id"] not in {k["jti"] for k in listing}

    admin = await token_for(commons_server, ADMIN_USER)
    r = await client.delete(f"/user/credentials/cdis/{short['key_id']}", headers=bearer(admin))
    assert r.status_code == 204  # an admin may revoke anyone's key
    assert (await client.post("/user/credentials/api/access_token", json=short)).status_code == 401
    records = {k["key_id"]: k for k in await commons_server.commons.fence.list_api_keys(MEMBER_USER)}
    assert records[mine["key_id"]]["revoked"] and records[short["key_id"]]["revoked"]


# --- identity -------------------------------------------------------------------------------------


async def test_user_user(commons_server):
    client = commons_server.client
    r = await client.get("/user/user")
    assert r.status_code == 401 and r.json()["status_code"] == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    for header in ("Bearer not.a.token", "Basic dXNlcjpwYXNz", "Bearer"):
        assert (await client.get("/user/user", headers={"Authorization": header})).status_code == 401

    token = await token_for(commons_server, MEMBER_USER)
    for scheme in ("bearer", "Bearer", "BEARER"):
        r = await client.get("/user/user", headers=bearer(token, scheme))
        assert r.status_code == 200
    info = r.json()
    assert info["username"] == info["sub"] == info["user_id"] == MEMBER_USER
    assert info["is_admin"] is False
    assert info["groups"] == ["consortium"]
    expected = commons_server.commons.fence.policy.authz_map(MEMBER_USER)
    assert info["authz"] == expected
    second = controlled_studies(commons_server)[1]
    opened = [r.path for r in commons_server.commons.dataset.authz_resources() if r.access == "open"]
    assert set(info["authz"]) == set(second) | set(opened)
    assert info["resources"] == sorted(info["authz"])
    for grants in info["authz"].values():
        assert {"method": "read-storage", "service": "*"} in grants

    admin = (await client.get("/user/user", headers=bearer(await token_for(commons_server, ADMIN_USER)))).json()
    assert admin["is_admin"] is True and admin["authz"]["/"] == [{"method": "*", "service": "*"}]


async def test_jwks_endpoints_verify_issued_tokens(commons_server):
    client = commons_server.client
    token = await token_for(commons_server, RESEARCHER_USER)
    jwks = (await client.get("/user/.well-known/jwks")).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]].key
    issuer = f"{commons_server.base_url}/user"
    assert jwt.decode(token, key, algorithms=["RS256"], audience=issuer, issuer=issuer)["sub"] == RESEARCHER_USER
    legacy = (await client.get("/user/jwt/keys")).json()["keys"]
    [(kid, pem)] = legacy
    assert kid == jwks["keys"][0]["kid"]
    assert jwt.decode(token, pem, algorithms=["RS256"], audience=issuer)["sub"] == RESEARCHER_USER


async def test_wts_has_no_providers(commons_server):
    for path in ("/wts/external_oidc/", "/wts/external_oidc"):
        r = await commons_server.client.get(path)
        assert r.status_code == 200 and r.json() == {"providers": []}


# --- download URLs --------------------------------------------------------------------------------


async def test_open_file_downloads_without_a_token(commons_server):
    f = open_file(commons_server)
    record = await commons_server.commons.index.get(f.guid)
    r = await download(commons_server, f.guid)
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    protocols = [u.split("://", 1)[0] for u in record.urls]
    assert parse_qs(urlsplit(url).query)["protocol"] == [protocols[0]]
    got = await fetch(commons_server, url)
    assert got.status_code == 200
    assert hashlib.md5(got.content).hexdigest() == record.hashes["md5"] == f.md5
    assert int(got.headers["Content-Length"]) == len(got.content) == record.size
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"] == f'attachment; filename="{record.file_name}"'
    assert "Content-Encoding" not in got.headers
    head = await commons_server.client.head(url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == record.size and head.content == b""


async def test_controlled_file_needs_a_granted_user(commons_server):
    studies = controlled_studies(commons_server)
    first_c1 = next(p for p in studies[0] if p.endswith(".c1"))
    f = files_under(commons_server, lambda f: f.authz == first_c1)[0]
    r = await download(commons_server, f.guid)
    assert r.status_code == 401 and r.json()["error"]
    stranger = await token_for(commons_server, STRANGER)
    assert (await download(commons_server, f.guid, bearer(stranger))).status_code == 403
    member = await token_for(commons_server, MEMBER_USER)  # consortium holds the second study only
    assert (await download(commons_server, f.guid, bearer(member))).status_code == 403
    researcher = await token_for(commons_server, RESEARCHER_USER)
    assert (await download(commons_server, f.guid, {"Authorization": "Bearer broken"})).status_code == 401
    r = await download(commons_server, f.guid, bearer(researcher, "Bearer"), protocol="gs")
    assert r.status_code == 200, r.text
    got = await fetch(commons_server, r.json()["url"])
    assert got.status_code == 200 and hashlib.md5(got.content).hexdigest() == f.md5
    assert parse_qs(urlsplit(r.json()["url"]).query)["user"] == [RESEARCHER_USER]

    other_consent = [p for p in studies[0] if p != first_c1]
    if other_consent:
        c2 = files_under(commons_server, lambda x: x.authz in other_consent)[0]
        assert (await download(commons_server, c2.guid, bearer(researcher))).status_code == 403


async def test_group_members_reach_their_groups_data(commons_server):
    second = controlled_studies(commons_server)[1]
    member = await token_for(commons_server, MEMBER_USER)
    for path in second:
        f = files_under(commons_server, lambda f, path=path: f.authz == path)[0]
        r = await download(commons_server, f.guid, bearer(member))
        assert r.status_code == 200, r.text
        got = await fetch(commons_server, r.json()["url"])
        assert got.status_code == 200 and int(got.headers["Content-Length"]) == f.size
        assert hashlib.md5(got.content).hexdigest() == f.md5


async def test_download_parameter_errors(commons_server):
    f = open_file(commons_server)
    assert (await download(commons_server, "dg.TST1/00000000-0000-0000-0000-000000000000")).status_code == 404
    r = await download(commons_server, f.guid, protocol="ftp")
    assert r.status_code == 400 and "s3" in r.json()["error"]
    for bad in ("0", "-5", "abc", "1.5"):
        r = await download(commons_server, f.guid, expires_in=bad)
        assert r.status_code == 400, bad
    # an empty value is the parameter absent (issue 14, contract drift): the default expiry
    assert (await download(commons_server, f.guid, expires_in="")).status_code == 200


async def test_expires_in_is_honoured_and_capped(commons_server):
    f = open_file(commons_server)
    cap = commons_server.commons.settings.signed_url_max_ttl_seconds
    before = int(time.time())
    short = (await download(commons_server, f.guid, expires_in="60")).json()["url"]
    expires = int(parse_qs(urlsplit(short).query)["expires"][0])
    assert before + 60 <= expires <= int(time.time()) + 60
    long = (await download(commons_server, f.guid, expires_in=str(10 * cap))).json()["url"]
    expires = int(parse_qs(urlsplit(long).query)["expires"][0])
    assert before + cap <= expires <= int(time.time()) + cap


async def test_tampered_and_expired_urls_are_refused(commons_server):
    f = open_file(commons_server)
    other = files_under(commons_server, lambda x: x.guid != f.guid)[0]
    url = (await download(commons_server, f.guid)).json()["url"]
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    bad = [
        with_query(url, sig=sig[:-1] + ("0" if sig[-1] != "0" else "1")),
        with_query(url, expires=str(int(time.time()) + 10**6)),
        with_query(url, protocol="gs"),
        with_query(url, user=ADMIN_USER),
        url.replace(f.guid, other.guid),
        url.split("?", 1)[0],
    ]
    for tampered in bad:
        r = await commons_server.client.get(tampered)
        assert r.status_code == 403, tampered
        assert r.json()["status_code"] == 403
    fence = commons_server.commons.fence
    expired = fence.signer.sign(commons_server.base_url, f.guid, "s3", int(time.time()) - 1, None)
    r = await commons_server.client.get(expired)
    assert r.status_code == 403 and "expired" in r.json()["error"]
    assert (await commons_server.client.get(url)).status_code == 200  # the genuine one still works


async def test_downloads_are_logged_without_signatures(commons_server, caplog):
    caplog.set_level(logging.INFO, logger="refcommons.fence")
    store = commons_server.commons.store
    seen = {e.seq for e in await store.read_log(DOWNLOADS_LOG, limit=1000)}
    f = open_file(commons_server)
    researcher = await token_for(commons_server, RESEARCHER_USER)
    url = (await download(commons_server, f.guid, bearer(researcher), expires_in="120")).json()["url"]
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    entries = [e.doc for e in await store.read_log(DOWNLOADS_LOG, limit=1000) if e.seq not in seen]
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["guid"], entry["user"], entry["expires"]) == (f.guid, RESEARCHER_USER, expires)
    assert entry["protocol"] in ("s3", "gs")
    assert sig not in repr(entry)
    records = [r for r in caplog.records if r.name == "refcommons.fence" and getattr(r, "guid", None) == f.guid]
    assert records and records[-1].user == RESEARCHER_USER and records[-1].expires == expires
    assert all(sig not in repr(r.__dict__) and researcher not in repr(r.__dict__) for r in caplog.records)

    commons_server.commons.fence.signed_url(f.guid, "gs", 30, None)  # the synchronous path (DRS)
    await commons_server.commons.fence.flush()
    latest = (await store.read_log(DOWNLOADS_LOG, limit=1000))[-1].doc
    assert (latest["guid"], latest["user"], latest["protocol"]) == (f.guid, None, "gs")


@pytest.mark.parametrize("user", [MEMBER_USER, STRANGER])
async def test_principal_from_a_token(commons_server, user):
    fence = commons_server.commons.fence
    token = await token_for(commons_server, user)
    principal = await fence.principal(f"Bearer {token}")
    assert principal.user == user
    assert (await fence.principal(None)).anonymous and (await fence.principal("  ")).anonymous
    opened = [r.path for r in commons_server.commons.dataset.authz_resources() if r.access == "open"]
    assert principal.allows("read-storage", opened, "fence")
    assert not principal.allows("read-storage", [], "fence")


def test_content_disposition_is_safe_for_any_file_name():
    assert content_disposition("a.cram") == 'attachment; filename="a.cram"'
    assert content_disposition('we"ird\\name\n.vcf') == 'attachment; filename="we_ird_name_.vcf"; ' + (
        "filename*=UTF-8''we%22ird%5Cname%0A.vcf"
    )
    assert content_disposition("données.tsv").endswith("filename*=UTF-8''donn%C3%A9es.tsv")
