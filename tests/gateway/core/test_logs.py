"""JSON logs: one object per line, request id attached, secrets never written."""

from __future__ import annotations

import io
import logging
import re

import orjson
import pytest
from servers import free_port, running, start_gateway

from gateway.core.logs import JsonFormatter, configure_logging, is_secret_name, log_access, redact, request_id_var

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXN0dWZm"


def test_redact_scrubs_tokens_and_secret_params():
    text = f"Authorization: Bearer abc.def-ghi token={JWT} /storage/x?expires=1&sig=deadbeef&api_key=k1 {JWT}"
    out = redact(text)
    for secret in ("abc.def-ghi", JWT, "deadbeef", "k1"):
        assert secret not in out
    assert "expires=1" in out


def test_formatter_emits_json_with_request_id_and_redacted_extras():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "user sent %s", (JWT,), None)
    record.authorization = "Bearer xyz"
    record.path = f"/x?access_token={JWT}"
    record.count = 3
    token = request_id_var.set("rid-1")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    data = orjson.loads(line)
    assert data["request_id"] == "rid-1"
    assert data["count"] == 3
    assert JWT not in line and "xyz" not in line
    assert data["level"] == "info" and data["logger"] == "t"


async def test_request_lines_carry_request_id_and_never_tokens(gateway):
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    try:
        await gateway.client.get(
            "/service-info", headers={"X-Request-Id": "trace-77", "Authorization": f"Bearer {JWT}"}
        )
        await gateway.client.get(f"/no/such?access_token={JWT}", headers={"X-Request-Id": "trace-78"})
    finally:
        logging.getLogger().handlers.clear()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert {a["request_id"] for a in access} >= {"trace-77", "trace-78"}
    assert any(a["status"] == 404 for a in access)
    assert JWT not in stream.getvalue()


def test_the_access_fast_path_writes_what_the_formatter_would():
    fields = {"method": "GET", "path": f"/x?sig=abc&token={JWT}", "status": 200, "duration_ms": 0.5,
              "remote": "127.0.0.1"}
    logger = logging.getLogger("gateway.access")
    lines = {}
    for name, handler_factory in (("fast", lambda s: None), ("slow", logging.StreamHandler)):
        stream = io.StringIO()
        configure_logging("info", stream=stream)
        if name == "slow":  # a plain handler with the same formatter: the LogRecord path
            plain = handler_factory(stream)
            plain.setFormatter(JsonFormatter())
            logging.getLogger().handlers[:] = [plain]
        token = request_id_var.set("rid-9")
        try:
            log_access(logger, **fields)
        finally:
            request_id_var.reset(token)
            logging.getLogger().handlers.clear()
        lines[name] = orjson.loads(stream.getvalue())
    fast, slow = lines["fast"], lines["slow"]
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert stamp.match(fast.pop("ts")) and stamp.match(slow.pop("ts"))
    assert fast == slow and list(fast) == list(slow)  # the same fields, in the same order
    assert fast["request_id"] == "rid-9" and "abc" not in fast["path"] and JWT not in fast["path"]


# --- what is redacted: one table of secret names, and what a value holds ----------------------------------------------

SECRET_PARAMS = {
    "key": "k-AIzaSyA1", "code": "c-oauthcode2", "client_secret": "s-clientsecret3", "credentials": "cr-creds4",
    "jwt": "j-jwtvalue5", "sessionid": "se-session6", "auth": "a-authvalue7", "access_token": "at-access8",
    "token": "t-token9", "refresh_token": "rt-refresh10", "id_token": "it-id11", "password": "pw-pass12",
    "api_key": "ak-apikey13", "apiKey": "ak-camel14", "X-Amz-Signature": "xs-amzsig15",
    "X-Amz-Credential": "xc-AKIA16", "X-Amz-Security-Token": "xt-amztok17", "X-Goog-Signature": "gs-googsig18",
    "X-Goog-Credential": "gc-googcred19", "Signature": "S-sig20", "sig": "sg-azure21", "session_id": "si-sess22",
    "auth_token": "atk-23", "accessToken": "atc-24", "client_assertion": "ca-25", "passports": "pp-26",
    "authorization": "az-27", "code_verifier": "cv-28", "privateKey": "pk-29", "JSESSIONID": "js-30",
    "clientSecret": "cs-31",
}
PLAIN_PARAMS = {"expand": "visible-1", "page": "visible-2", "X-Amz-Date": "20270115T000000Z", "X-Amz-Expires": "300",
                "expires": "1790000000", "authority": "visible-3", "token_type": "bearer-ish", "state": "visible-4"}


@pytest.mark.parametrize("name", sorted(SECRET_PARAMS))
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "passport_iss", "passport_sub", "passport_jti", "passport_sha256", "token_issuer", "key_id", "authority",
    "authz", "status_code", "expires", "X-Amz-Date", "X-Amz-Expires", "user", "page", "member", "visas",
    "issuer", "kid", "token_type", "url", "path", "AWSAccessKeyId", "passportIss", "tokenIssuer", "keyId",
])
def test_identifiers_are_not_secret_names(name):
    assert not is_secret_name(name)


def test_redact_scrubs_every_secret_query_parameter_and_keeps_the_rest():
    query = "&".join(f"{k}={v}" for k, v in {**SECRET_PARAMS, **PLAIN_PARAMS}.items())
    for text in (f"/x?{query}", f"GET https://member.example/p?{query} failed", f"{query}"):
        out = redact(text)
        for name, value in SECRET_PARAMS.items():
            assert value not in out and f"{name}=[redacted]" in out, name
        for name, value in PLAIN_PARAMS.items():
            assert f"{name}={value}" in out, name
    # a percent-encoded name is the name it decodes to
    assert "s3cr3t" not in redact("/x?access%5Ftoken=s3cr3t&a=b") and "a=b" in redact("/x?access%5Ftoken=s3cr3t&a=b")
    assert redact("/ga4gh/drs/v1/objects/dg.4503/abc") == "/ga4gh/drs/v1/objects/dg.4503/abc"


def test_fields_are_redacted_by_what_they_hold_not_by_a_fragment_of_their_name():
    record = logging.LogRecord("gateway.passports.engine", logging.INFO, __file__, 1, "passport evaluated", (), None)
    record.passport_iss = "https://broker.example.org"
    record.passport_sub = "alice"
    record.passport_jti = "jti-1"
    record.token_issuer = "https://gateway.example.org"
    record.key_id = "kid-1"
    record.authority = "dbgap"
    record.client_secret = "hunter2"
    record.authorization = "opaque-credential"
    record.passports = [JWT]
    record.detail = {"api_key": "k-9", "note": f"sent {JWT}", "url": "https://m.example/x?sig=abc&page=1"}
    data = orjson.loads(JsonFormatter().format(record))
    assert data["passport_iss"] == "https://broker.example.org"
    assert (data["passport_sub"], data["passport_jti"]) == ("alice", "jti-1")
    assert data["token_issuer"] == "https://gateway.example.org"
    assert (data["key_id"], data["authority"]) == ("kid-1", "dbgap")
    assert data["client_secret"] == data["authorization"] == "[redacted]"
    assert JWT not in str(data["passports"])
    assert data["detail"]["api_key"] == "[redacted]" and JWT not in data["detail"]["note"]
    assert data["detail"]["url"] == "https://m.example/x?sig=[redacted]&page=1"


async def test_the_access_log_redacts_secret_query_parameters_of_real_requests(gateway):
    query = "&".join(f"{k}={v}" for k, v in {**SECRET_PARAMS, **PLAIN_PARAMS}.items())
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    try:
        for path in (f"/no/such?{query}", f"/ga4gh/drs/v1/objects/dg.NONE/x?{query}", f"/service-info?{query}"):
            await gateway.client.get(path)
        logging.getLogger().handlers[0].flush()
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    access = [orjson.loads(line) for line in text.splitlines() if '"gateway.access"' in line]
    assert len(access) >= 3
    for value in SECRET_PARAMS.values():
        assert value not in text, value
    for line in access:
        for name, value in PLAIN_PARAMS.items():
            assert f"{name}={value}" in line["path"]


async def test_upstream_urls_are_redacted_where_they_are_logged(tmp_path):
    """A dist list reached with an API key in its query: the warning names the list, never the key."""
    dead = f"http://127.0.0.1:{free_port()}/index/_dist?key=upstream-api-key-1&X-Goog-Signature=gsig-2&v=3"
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    try:
        async with running(start_gateway(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"},
                                         refcommons={"enabled": False},
                                         resolver={"dist_urls": [dead], "deadline": 2.0})) as gateway:
            r = await gateway.client.get("/resolver/v1/resolve", params={"id": "dg.NOBODY/123"})
            assert r.status_code in (404, 502)
        logging.getLogger().handlers[0].flush()
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    warnings = [orjson.loads(line) for line in text.splitlines() if "upstream dist list" in line]
    assert warnings, text
    assert "upstream-api-key-1" not in text and "gsig-2" not in text
    assert warnings[0]["url"].endswith("/index/_dist?key=[redacted]&X-Goog-Signature=[redacted]&v=3")
