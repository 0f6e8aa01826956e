"""JSON logs: one object per line, request id attached, secrets never written."""

from __future__ import annotations

import io
import logging

import orjson

from gateway.logs import JsonFormatter, configure_logging, redact, request_id_var

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
