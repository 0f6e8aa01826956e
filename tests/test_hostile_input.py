"""Hostile input against every route, over real HTTP: never a 500 or a hang, always a JSON error in
the route family's shape, and nothing already stored is lost.

The routes come from :func:`gateway.web.openapi.iter_routes` on the running app, so a new route is
probed the day it is added. Each probe checks the project promise:

* the status is below 500, and the request does not hang (httpx timeout of a few seconds);
* every 4xx is ``application/json`` with exactly ``{"msg", "status_code"}`` on routes with a
  ``/ga4gh/`` segment, DRSHub's ``{"message", "statusCode"}`` under ``/api/v4/`` and
  ``{"error", "status_code"}`` elsewhere, the status code in the body equal to the status;
* after the onslaught, what was stored before (index records, metadata, an API key) is unchanged.

Dimensions: nasty path parameters, hostile bodies (absent, malformed, wrong JSON type, deep nesting,
wrong content type, just over ``max_body_bytes``, invalid UTF-8, broken gzip), bad query values and
garbage ``Authorization`` headers; hypothesis drives the id and body dimensions. The same property is
checked, more briefly, against a standalone reference commons.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.settings.gateway import Settings
from gateway.web.keys import STATE
from gateway.web.openapi import RouteInfo, iter_routes
from refcommons.app import build_app
from refcommons.authz.default_policy import ADMIN_USER
from refcommons.commons import ReferenceCommons
from refcommons.settings import CommonsSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_BODY = 4096
TIMEOUT = 5.0
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DRS_SHAPE = {"msg", "status_code"}
PLAIN_SHAPE = {"error", "status_code"}
DRSHUB_SHAPE = {"message", "statusCode"}
FAKE_KEY_ID = "no-such-key-id"  # never a real key: a DELETE on a real key id would revoke it

HYPOTHESIS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- targets: a running gateway (with its in-process commons) and a standalone commons -----------------


class Target:
    """One server under attack (a plain class: hypothesis prints test arguments, keep that short)."""

    def __init__(self, name: str, app: web.Application, client: httpx.AsyncClient, commons: ReferenceCommons,
                 mount: str) -> None:
        self.name = name
        self.app = app
        self.client = client
        self.commons = commons
        self.mount = mount  # where the commons' routes live ("" standalone, "/refcommons" in the gateway)
        self.routes: list[RouteInfo] = []
        self.real: dict[str, str] = {}  # path parameter name -> a value that exists
        self.admin = ""  # "Bearer <admin access token>"
        self.api_key: dict[str, str] = {}
        self.before: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Target {self.name}>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _prepare(target: Target) -> Target:
    """Enumerate routes, pick real ids, mint an admin token and an API key, snapshot what is stored."""
    target.routes = list(iter_routes(target.app))
    assert target.routes, "iter_routes found no routes"
    fence = target.commons.fence
    target.admin = f"Bearer {fence.tokens.issue_access_token(ADMIN_USER)}"
    r = await target.client.post(f"{target.mount}/user/credentials/api/", headers={"Authorization": target.admin})
    assert r.status_code == 200, r.text
    target.api_key = r.json()
    listing = (await target.client.get(f"{target.mount}/index/index", params={"limit": 5})).json()
    dids = [rec["did"] for rec in listing["records"]]
    assert dids, "the commons lists no records"
    drs = (await target.client.get(f"{target.mount}/ga4gh/drs/v1/objects/{dids[0]}")).json()
    access = [m["access_id"] for m in drs.get("access_methods", []) if m.get("access_id")]
    target.real = {"guid": dids[0], "object_id": dids[0], "access_id": access[0] if access else "s3",
                   "key_id": FAKE_KEY_ID}
    target.before = await _snapshot(target, dids)
    return target


async def _snapshot(target: Target, dids: list[str]) -> dict[str, Any]:
    c, m = target.client, target.mount
    out: dict[str, Any] = {
        "listing": (await c.get(f"{m}/index/index", params={"limit": 5})).json(),
        "stats": (await c.get(f"{m}/index/_stats")).json(),
        "mds": (await c.get(f"{m}/mds/metadata", params={"limit": 5, "data": "true"})).json(),
    }
    for did in dids:
        out[f"record {did}"] = (await c.get(f"{m}/index/index/{did}")).json()
        out[f"drs {did}"] = (await c.get(f"{m}/ga4gh/drs/v1/objects/{did}")).json()
    return out


async def _assert_nothing_lost(target: Target) -> None:
    dids = [rec["did"] for rec in target.before["listing"]["records"]]
    after = await _snapshot(target, dids)
    for key, value in target.before.items():
        assert after[key] == value, f"{target.name}: {key} changed after the hostile requests"
    keys = await target.client.get(f"{target.mount}/user/credentials/api/", headers={"Authorization": target.admin})
    assert target.api_key["key_id"] in {k["jti"] for k in keys.json()["jwt_keys"]}, "the API key was revoked"
    r = await target.client.post(
        f"{target.mount}/user/credentials/api/access_token", json={"api_key": target.api_key["api_key"]}
    )
    assert r.status_code == 200 and r.json()["access_token"], "the API key no longer exchanges"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile_gateway(tmp_path_factory) -> AsyncIterator[Target]:
    tmp = tmp_path_factory.mktemp("hostile-gateway")
    port = _free_port()
    cfg = Settings(
        port=port,
        store={"url": f"sqlite:///{tmp / 'gateway.sqlite3'}"},
        refcommons={"subjects": 20, "data_dir": tmp / "refcommons"},
        max_body_bytes=MAX_BODY,
    )
    app = await create_app(cfg)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = httpx.AsyncClient(base_url=cfg.base_url, timeout=TIMEOUT)
    try:
        target = Target("gateway", app, client, app[STATE].refcommons, cfg.refcommons.mount)
        yield await _prepare(target)
    finally:
        await client.aclose()
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile_commons(tmp_path_factory) -> AsyncIterator[Target]:
    """A standalone commons (mirrors ``tests/refcommons/conftest.py``) with a small body limit."""
    tmp = tmp_path_factory.mktemp("hostile-commons")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    commons = await ReferenceCommons.open(
        CommonsSettings(prefix="dg.TST1", seed=7, subjects=40, data_dir=tmp / "commons", base_url=base)
    )
    app = build_app(commons, max_body=MAX_BODY)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = httpx.AsyncClient(base_url=base, timeout=TIMEOUT)
    try:
        yield await _prepare(Target("commons", app, client, commons, ""))
    finally:
        await client.aclose()
        await runner.cleanup()


# --- probing ------------------------------------------------------------------------------------------


def _params(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{") and part.endswith("}")]


def fill(target: Target, template: str, **values: str) -> str:
    """``template`` with each parameter set to ``values[name]`` (already URL-encoded) or a real value."""
    path = template
    for name in _params(template):
        path = path.replace("{" + name + "}", values.get(name, target.real.get(name, "x")))
    return path


def expected_shape(template: str) -> set[str]:
    if "/ga4gh/" in template:
        return DRS_SHAPE
    return DRSHUB_SHAPE if template.startswith("/api/v4/") else PLAIN_SHAPE


def _excerpt(r: httpx.Response) -> str:
    return r.text[:160].replace("\n", " ")


async def probe(
    target: Target,
    route: RouteInfo,
    path: str,
    what: str,
    *,
    query: Any = None,
    content: Any = None,
    headers: dict[str, Any] | None = None,
) -> str | None:
    """Send one hostile request; ``None`` if the promise held, else a line describing the failure."""
    where = f"{route.method} {route.path} [{what}] -> {path[:80]}"
    try:
        r = await target.client.request(route.method, path, params=query, content=content, headers=headers)
    except httpx.TimeoutException:
        return f"{where}: no answer within {TIMEOUT}s (hang)"
    except httpx.HTTPError as exc:
        return f"{where}: connection failed: {type(exc).__name__}: {exc}"
    ctype = r.headers.get("content-type", "")
    if r.status_code >= 500:
        return f"{where}: {r.status_code} {ctype} {_excerpt(r)}"
    if r.status_code >= 400:
        if not ctype.startswith("application/json"):
            return f"{where}: {r.status_code} non-JSON error ({ctype or 'no content-type'}): {_excerpt(r)}"
        try:
            body = r.json()
        except ValueError:
            return f"{where}: {r.status_code} unparseable JSON error: {_excerpt(r)}"
        shape = expected_shape(route.path)
        if not isinstance(body, dict) or set(body) != shape:
            got = sorted(body) if isinstance(body, dict) else repr(body)
            return f"{where}: {r.status_code} error shape {got}, want {sorted(shape)}"
        message = body["msg" if shape is DRS_SHAPE else "message" if shape is DRSHUB_SHAPE else "error"]
        status = body["statusCode" if shape is DRSHUB_SHAPE else "status_code"]
        if status != r.status_code or not isinstance(message, str) or not message:
            return f"{where}: {r.status_code} bad error body {body!r}"
    elif ctype.startswith("application/json"):
        try:
            r.json()
        except ValueError:
            return f"{where}: {r.status_code} JSON content-type but unparseable body: {_excerpt(r)}"
    return None


def report(failures: Iterable[str | None]) -> None:
    bad = [f for f in failures if f]
    assert not bad, f"{len(bad)} hostile request(s) broke the promise:\n" + "\n".join(bad[:60])


# --- hostile values -----------------------------------------------------------------------------------

NASTY_PATH_VALUES = {
    "nul": "%00",
    "traversal": "..%2F..%2Fetc%2Fpasswd",
    "raw traversal": "../../etc/passwd",
    "8KB id": "a" * 8192,
    "8KB encoded unicode": quote("é" * 1400, safe=""),
    "unicode": quote("ᚠ𝔘☃\u202e\ufeff名", safe=""),
    "bad escape": "%ZZ",
    "lone percent": "%",
    "space": "%20",
    "spaces": "a%20b%20%20c",
    "drs uri": "drs://x:y",
    "encoded drs uri": quote("drs://x:y", safe=""),
    "compact id": "dg.NOPE:1234",
    "dot": ".",
    "dotdot": "..",
    "encoded dotdot": "%2e%2e",
    "encoded slash": "%2F",
    "empty-looking": "%20%09",
    "null word": "null",
    "json": quote('{"a":[1]}', safe=""),
    "control chars": "%01%1B%7F",
    "invalid utf-8": "%FF%FE%C0%AF",
    "lone surrogate (cesu)": "%ED%A0%80",
    "sql-ish": quote("' OR 1=1; --", safe=""),
    "glob": "*",
    "like": "%25",
    "backslash": quote("..\\..\\win.ini", safe=""),
}

DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000

JSON = {"content-type": "application/json"}
HOSTILE_BODIES: dict[str, tuple[bytes | None, dict[str, str]]] = {
    "no body": (None, {}),
    "no body, json type": (None, JSON),
    "empty json": (b"", JSON),
    "whitespace": (b"  \r\n\t ", JSON),
    "malformed": (b"[not json", JSON),
    "truncated object": (b'{"bulk_object_ids": ["a"', JSON),
    "trailing garbage": (b"{}}", JSON),
    "array": (b"[]", JSON),
    "string": (b'"x"', JSON),
    "number": (b"1", JSON),
    "null": (b"null", JSON),
    "true": (b"true", JSON),
    "empty object": (b"{}", JSON),
    "float overflow": (b'{"size": 1e400, "expires_in": 1e400}', JSON),
    "int past 64 bits": (b'{"size": 99999999999999999999999, "expires_in": 99999999999999999999}', JSON),
    "negative size": (b'{"size": -1, "hashes": {"md5": "zz"}, "urls": [1], "form": "object"}', JSON),
    "nan": (b'{"size": NaN}', JSON),
    "lone surrogate escape": (b'{"api_key": "\\ud800", "bulk_object_ids": ["\\ud800"]}', JSON),
    "nul in strings": (b'{"api_key": "\\u0000", "bulk_object_ids": ["\\u0000"]}', JSON),
    "wrong field types": (
        (
            b'{"bulk_object_ids": "x", "bulk_object_access_ids": [{"bulk_object_id": 1}], "api_key": 1,'
            b' "expires_in": "soon", "scope": "x", "urls": "x", "authz": {}, "hashes": []}'
        ),
        JSON,
    ),
    "null items": (b'{"bulk_object_ids": [null], "bulk_object_access_ids": [null]}', JSON),
    "empty lists": (b'{"bulk_object_ids": [], "bulk_object_access_ids": []}', JSON),
    "nested 1000-deep array": (DEEP_ARRAY, JSON),
    "nested 1000-deep object": (DEEP_OBJECT, JSON),
    "nested 2000-deep unclosed": (b"[" * 2000, JSON),
    "invalid utf-8": (b'{"api_key": "\xff\xfe", "bulk_object_ids": ["\xc0\xaf"]}', JSON),
    "utf-8 bom": (b'\xef\xbb\xbf{"bulk_object_ids": ["x"]}', JSON),
    "utf-16": ('{"bulk_object_ids": ["x"]}'.encode("utf-16"), JSON),
    "just over max_body_bytes": (b'["' + b"x" * (MAX_BODY - 3) + b'"]', JSON),
    "text/plain json": (b'{"bulk_object_ids": ["x"]}', {"content-type": "text/plain"}),
    "no content-type": (b'{"bulk_object_ids": ["x"]}', {"content-type": ""}),
    "json charset bogus": (b"{}", {"content-type": "application/json; charset=bogus-9"}),
    "json+suffix": (b"[1]", {"content-type": "application/problem+json"}),
    "form": (b"api_key=abc&bulk_object_ids=x", {"content-type": "application/x-www-form-urlencoded"}),
    "form, invalid utf-8": (b"api_key=%FF%FE&x=\xff", {"content-type": "application/x-www-form-urlencoded"}),
    "form, over max_body_bytes": (
        b"api_key=" + b"x" * MAX_BODY,
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    "multipart, no boundary": (b"--x\r\n\r\nabc\r\n--x--\r\n", {"content-type": "multipart/form-data"}),
    "multipart, broken": (
        b"--b\r\nContent-Disposition: form-data; name=api_key\r\n\r\nabc",
        {"content-type": "multipart/form-data; boundary=b"},
    ),
    "multipart, valid": (
        b'--b\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nabc\r\n--b--\r\n',
        {"content-type": "multipart/form-data; boundary=b"},
    ),
    "broken gzip": (b"\x1f\x8b\x08\x00garbage", {**JSON, "content-encoding": "gzip"}),
    "gzip bomb-ish (2 MB of spaces)": (
        gzip.compress(b"[" + b" " * 2_000_000 + b"]"),
        {**JSON, "content-encoding": "gzip"},
    ),
    "unknown encoding": (b"{}", {**JSON, "content-encoding": "br-nope"}),
}

BAD_QUERIES: dict[str, list[tuple[str, str]]] = {
    "limit=-1": [("limit", "-1")],
    "limit=abc": [("limit", "abc")],
    "limit=huge": [("limit", "99999999999999999999")],
    "limit=2^63": [("limit", str(2**63))],
    "limit=1e3": [("limit", "1e3")],
    "limit empty": [("limit", "")],
    "offset=-1": [("offset", "-1")],
    "offset=huge": [("offset", "99999999999999999999")],
    "page=x": [("page", "x")],
    "page=-1": [("page", "-1")],
    "page=huge": [("page", "99999999999999999999")],
    "start nul": [("start", "\x00")],
    "start unicode": [("start", "ᚠ𝔘☃")],
    "expires_in=0": [("expires_in", "0")],
    "expires_in=-5": [("expires_in", "-5")],
    "expires_in=abc": [("expires_in", "abc")],
    "expires_in=huge": [("expires_in", "99999999999999999999")],
    "expires=abc": [("expires", "abc"), ("sig", "zz"), ("user", "x"), ("protocol", "s3")],
    "expires=huge": [("expires", "99999999999999999999"), ("sig", "%%%")],
    "protocol bogus": [("protocol", "gopher")],
    "repeated limit": [("limit", "1"), ("limit", "abc")],
    "repeated everything": [("limit", "2"), ("limit", "3"), ("page", "1"), ("page", "x"), ("start", "a"),
                            ("start", "b"), ("rev", "1"), ("rev", "2")],
    "rev empty": [("rev", "")],
    "rev bogus": [("rev", "zzzzzzzz")],
    "ids with pagination": [("ids", "a,b"), ("limit", "1")],
    "ids empty items": [("ids", ",,,")],
    "size=-1": [("size", "-1")],
    "size=abc": [("size", "abc")],
    "size=huge": [("size", "99999999999999999999")],
    "hash bad": [("hash", "md5:zz"), ("hash", "nocolon"), ("hash", "sha999:1")],
    "metadata bad": [("metadata", "nocolon")],
    "form bogus": [("form", "bogus")],
    "data bogus": [("data", "maybe")],
    "expand bogus": [("expand", "maybe")],
    "authz null": [("authz", "null"), ("acl", "null")],
    "no_dist bogus": [("no_dist", "\x00")],
    "mds deep filter": [("a." * 200 + "b", "c")],
    "8KB value": [("q", "x" * 8000)],
}


QUERY_NAMES = ("limit", "start", "page", "offset", "ids", "hash", "authz", "acl", "size", "file_name", "version",
               "uploader", "url", "urls", "metadata", "form", "rev", "expand", "data", "expires_in", "protocol",
               "expires", "user", "sig", "no_dist")


def _fake_jwt(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    def seg(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()

    return f"{seg(header or {'alg': 'none', 'typ': 'JWT'})}.{seg(claims)}."


def garbage_auth(target: Target) -> dict[str, str | bytes]:
    admin_token = target.admin.split(" ", 1)[1]
    head, payload, sig = admin_token.split(".")
    return {
        "Bearer": "Bearer",
        "bearer lower, no token": "bearer",
        "Bearer x.y.z": "Bearer x.y.z",
        "Bearer two parts": "Bearer a.b",
        "Bearer eyJ junk": "Bearer eyJ.eyJ.sig",
        "Basic ???": "Basic ???",
        "Basic admin:admin": "Basic " + base64.b64encode(b"admin:admin").decode(),
        "unknown scheme": "Token abc",
        "10 KB header": "Bearer " + "A" * 10_240,
        "alg none as admin": "Bearer " + _fake_jwt({"sub": ADMIN_USER, "pur": "access", "exp": 4102444800}),
        "HS256 with public key": "Bearer " + _fake_jwt({"sub": ADMIN_USER}, {"alg": "HS256", "typ": "JWT"}) + "x",
        "tampered signature": f"Bearer {head}.{payload}.{sig[:-6]}AAAAAA",
        "tampered payload": f"Bearer {head}.{payload[:-4]}AAAA.{sig}",
        "api key as access token": f"Bearer {target.api_key['api_key']}",
        "latin-1 bytes": b"Bearer \xe9\xff\xfe",
        "invalid utf-8 token": b"Bearer a.\xc0\xaf.b",
        "double bearer": f"Bearer Bearer {admin_token}",
        "tab separated": "Bearer\tx.y.z",
    }


def _body_routes(target: Target) -> list[RouteInfo]:
    return [r for r in target.routes if r.method in BODY_METHODS]


def _param_routes(target: Target) -> list[RouteInfo]:
    return [r for r in target.routes if _params(r.path)]


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
FIELD_NAMES = ("bulk_object_ids", "bulk_object_access_ids", "bulk_object_id", "bulk_access_ids", "api_key",
               "key_id", "expires_in", "scope", "passports", "urls", "size", "hashes", "authz", "acl",
               "file_name", "form", "did", "version", "metadata", "md5")
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
CONTENT_TYPES = ("application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "application/octet-stream",
                 "")


# --- the gateway --------------------------------------------------------------------------------------


async def test_routes_are_enumerated_from_the_live_app(hostile_gateway):
    served = {(r.method, r.path) for r in hostile_gateway.routes}
    assert ("GET", "/_status") in served
    assert ("GET", "/refcommons/index/index") in served
    assert any("/ga4gh/" in p for _, p in served)
    # iter_routes must give paths the server actually answers on (no doubled sub-app prefix)
    for _method, path in served:
        assert not path.startswith("/refcommons/refcommons/"), path
    # and fill() builds paths that reach each route's handler, so the probes below test handlers, not the router
    misrouted = []
    for route in hostile_gateway.routes:
        r = await hostile_gateway.client.request(route.method, fill(hostile_gateway, route.path))
        if r.status_code == 405 or (r.status_code == 404 and "no such route" in r.text):
            misrouted.append(f"{route.method} {route.path}: {r.status_code} {_excerpt(r)}")
    assert not misrouted, misrouted


async def test_nasty_path_parameters(hostile_gateway):
    t = hostile_gateway
    failures = []
    for route in _param_routes(t):
        for name in _params(route.path):
            for what, value in NASTY_PATH_VALUES.items():
                path = fill(t, route.path, **{name: value})
                for auth in (None, t.admin):
                    headers = {"Authorization": auth} if auth else None
                    label = f"{name}={what}{' +admin' if auth else ''}"
                    failures.append(await probe(t, route, path, label, headers=headers))
    report(failures)


async def test_hostile_bodies(hostile_gateway):
    t = hostile_gateway
    failures = []
    for route in _body_routes(t):
        path = fill(t, route.path)
        for what, (content, headers) in HOSTILE_BODIES.items():
            for auth in (None, t.admin):
                h = dict(headers)
                if auth:
                    h["Authorization"] = auth
                failures.append(await probe(t, route, path, f"body {what}{' +admin' if auth else ''}",
                                            content=content, headers=h))
    report(failures)


async def test_hostile_bodies_on_get_routes_are_ignored_or_refused(hostile_gateway):
    t = hostile_gateway
    failures = []
    for route in t.routes:
        if route.method != "GET":
            continue
        for what in ("malformed", "nested 1000-deep array", "invalid utf-8", "broken gzip"):
            content, headers = HOSTILE_BODIES[what]
            failures.append(await probe(t, route, fill(t, route.path), f"GET body {what}",
                                        content=content, headers=headers))
    report(failures)


async def test_chunked_body_over_the_limit_is_413(hostile_gateway):
    t = hostile_gateway

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"bulk_object_ids": ["'
        for _ in range(MAX_BODY // 512 + 2):
            yield b"x" * 512
        yield b'"]}'

    failures = []
    for route in _body_routes(t):
        failures.append(await probe(t, route, fill(t, route.path), "chunked over limit", content=chunks(),
                                    headers={**JSON, "Authorization": t.admin}))
    report(failures)


async def test_bad_query_strings(hostile_gateway):
    t = hostile_gateway
    failures = []
    for route in t.routes:
        path = fill(t, route.path)
        for what, query in BAD_QUERIES.items():
            for auth in (None, t.admin):
                headers = {"Authorization": auth} if auth else None
                failures.append(await probe(t, route, path, f"query {what}{' +admin' if auth else ''}",
                                            query=query, headers=headers))
    report(failures)


async def test_garbage_authorization_headers(hostile_gateway):
    t = hostile_gateway
    failures = []
    for route in t.routes:
        path = fill(t, route.path)
        for what, value in garbage_auth(t).items():
            failures.append(await probe(t, route, path, f"auth {what}", headers={"Authorization": value}))
    report(failures)


async def test_garbage_authorization_never_authenticates(hostile_gateway):
    """On a route that needs a caller, every garbage credential is a JSON 401 (400-ish at worst)."""
    t = hostile_gateway
    failures = []
    for what, value in garbage_auth(t).items():
        r = await t.client.get(f"{t.mount}/user/user", headers={"Authorization": value})
        if r.status_code not in (400, 401):
            failures.append(f"GET /user/user [auth {what}]: {r.status_code} {_excerpt(r)}")
    report(failures)


async def test_unserved_methods_are_json_405(hostile_gateway):
    t = hostile_gateway
    served: dict[str, set[str]] = {}
    for route in t.routes:
        served.setdefault(route.path, set()).add(route.method)
    failures = []
    for template, methods in served.items():
        route = RouteInfo("PATCH", template, None)
        if "PATCH" in methods:
            continue
        path = fill(t, template)
        failures.append(await probe(t, route, path, "unserved method", content=b"{}", headers=JSON))
        r = await t.client.patch(path, content=b"{}", headers=JSON)
        if r.status_code not in (404, 405):
            failures.append(f"PATCH {template}: {r.status_code}, want 405 (or 404 when a wider route owns the path)")
    report(failures)


@HYPOTHESIS
@given(
    query=st.lists(
        st.tuples(st.sampled_from(QUERY_NAMES) | st.text(max_size=12), st.text(max_size=40)), max_size=6
    ),
    admin=st.booleans(),
)
async def test_generated_queries(hostile_gateway, query, admin):
    t = hostile_gateway
    headers = {"Authorization": t.admin} if admin else None
    report([
        await probe(t, route, fill(t, route.path), f"query {query!r}", query=query, headers=headers)
        for route in t.routes
        if route.method == "GET"
    ])


@HYPOTHESIS
@given(value=st.text(max_size=300), safe=st.sampled_from(["", "/:"]), admin=st.booleans())
async def test_generated_ids(hostile_gateway, value, safe, admin):
    t = hostile_gateway
    if "ga4gh" in value.lower():
        return  # would change the route family the server infers from the path
    failures = []
    headers = {"Authorization": t.admin} if admin else None
    for route in _param_routes(t):
        for name in _params(route.path):
            path = fill(t, route.path, **{name: quote(value, safe=safe)})
            failures.append(await probe(t, route, path, f"{name}={value!r}", headers=headers))
    report(failures)


@HYPOTHESIS
@given(body=st.binary(max_size=512), ctype=st.sampled_from(CONTENT_TYPES))
async def test_generated_raw_bodies(hostile_gateway, body, ctype):
    t = hostile_gateway
    report([
        await probe(t, route, fill(t, route.path), f"body {body[:40]!r} as {ctype!r}", content=body,
                    headers={"content-type": ctype, "Authorization": t.admin})
        for route in _body_routes(t)
    ])


@HYPOTHESIS
@given(doc=json_values, admin=st.booleans())
async def test_generated_json_bodies(hostile_gateway, doc, admin):
    t = hostile_gateway
    content = json.dumps(doc).encode()  # not orjson: it refuses integers past 64 bits, which we want to send
    headers = {**JSON, **({"Authorization": t.admin} if admin else {})}
    report([
        await probe(t, route, fill(t, route.path), f"json {content[:60]!r}", content=content, headers=headers)
        for route in _body_routes(t)
    ])


async def test_nothing_stored_was_lost_and_gateway_is_healthy(hostile_gateway):
    """Runs last in this module: the onslaught above must have left every stored thing intact."""
    await _assert_nothing_lost(hostile_gateway)
    r = await hostile_gateway.client.get("/_status")
    assert r.status_code == 200 and r.json()["status"] == "ok"


# --- a standalone commons -----------------------------------------------------------------------------


async def test_standalone_commons_survives_hostile_input(hostile_commons):
    t = hostile_commons
    assert any(r.path.startswith("/index/") for r in t.routes)
    failures = []
    auths = garbage_auth(t)
    for route in t.routes:
        path = fill(t, route.path)
        for name in _params(route.path):
            for what in ("nul", "traversal", "8KB id", "unicode", "bad escape", "space", "drs uri", "empty-looking"):
                failures.append(await probe(t, route, fill(t, route.path, **{name: NASTY_PATH_VALUES[what]}),
                                            f"{name}={what}", headers={"Authorization": t.admin}))
        if route.method in BODY_METHODS:
            for what in ("no body", "malformed", "array", "null", "nested 1000-deep array", "invalid utf-8",
                         "just over max_body_bytes", "text/plain json", "form, invalid utf-8",
                         "multipart, no boundary", "broken gzip"):
                content, headers = HOSTILE_BODIES[what]
                failures.append(await probe(t, route, path, f"body {what}", content=content,
                                            headers={**headers, "Authorization": t.admin}))
        for what in ("limit=-1", "limit=abc", "limit=huge", "page=huge", "size=huge", "expires_in=0", "page=x",
                     "repeated limit"):
            failures.append(await probe(t, route, path, f"query {what}", query=BAD_QUERIES[what]))
        for what in ("Bearer", "Bearer x.y.z", "Basic ???", "10 KB header", "latin-1 bytes"):
            failures.append(await probe(t, route, path, f"auth {what}", headers={"Authorization": auths[what]}))
    report(failures)
    await _assert_nothing_lost(t)
