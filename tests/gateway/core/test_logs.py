"""JSON logs: one object per line, request id attached, secrets never written."""

from __future__ import annotations

import io
import logging

import orjson

from gateway.core.logs import JsonFormatter, configure_logging, log_access, redact, request_id_var

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
    assert fast.pop("ts")[-1] == "Z" and slow.pop("ts")[-1] == "Z"
    assert fast == slow
    assert fast["request_id"] == "rid-9" and "abc" not in fast["path"] and JWT not in fast["path"]
