"""The access log's volume modes (``log.access``: full, errors, sampled, off), with real requests to a running
gateway and the captured log read back."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from gateway.core.logs import AccessPolicy, access_wanted, configure_logging
from gateway.settings.gateway import Settings


@contextmanager
def captured_log(**access: Any) -> Iterator[io.StringIO]:
    """The log written while the block runs, with these access-log settings; the default settings again after."""
    stream = io.StringIO()
    configure_logging("info", stream=stream, **access)
    try:
        yield stream
    finally:
        logging.getLogger().handlers[0].flush()
        configure_logging("info", stream=io.StringIO())  # the default policy again, for the next test
        logging.getLogger().handlers.clear()


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in map(orjson.loads, stream.getvalue().splitlines()) if line["logger"] == "gateway.access"]


async def traffic(gateway: Any, ok: int, errors: int) -> None:
    for _ in range(ok):
        assert (await gateway.client.get("/_status")).status_code == 200
    for _ in range(errors):
        assert (await gateway.client.get("/no/such/route")).status_code == 404


@pytest.mark.parametrize(("mode", "status", "ms", "draw", "logged"), [
    ("full", 200, 1, 0.99, True),
    ("off", 500, 5000, 0.0, False),
    ("errors", 200, 1, 0.0, False),
    ("errors", 404, 1, 0.99, True),
    ("errors", 503, 1, 0.99, True),
    ("errors", 200, 1000, 0.99, True),  # slow: like an error
    ("sampled", 200, 1, 0.05, True),
    ("sampled", 200, 1, 0.5, False),
    ("sampled", 429, 1, 0.99, True),  # errors are never sampled away
    ("sampled", 200, 2500, 0.99, True),
])
def test_which_requests_are_logged(mode, status, ms, draw, logged):
    assert access_wanted(AccessPolicy(mode, sample_rate=0.1, slow_ms=1000), status, ms, draw) is logged


def test_a_wrong_mode_or_rate_is_refused():
    with pytest.raises(ValueError):
        AccessPolicy("most")
    with pytest.raises(ValueError):
        AccessPolicy("sampled", sample_rate=0)


async def test_the_default_logs_every_request(gateway):
    with captured_log() as log:
        await traffic(gateway, ok=20, errors=5)
    lines = access_lines(log)
    assert len(lines) == 25
    assert sorted({line["status"] for line in lines}) == [200, 404]


async def test_errors_mode_logs_only_errors(gateway):
    with captured_log(access="errors") as log:
        await traffic(gateway, ok=20, errors=5)
    lines = access_lines(log)
    assert len(lines) == 5
    assert {line["status"] for line in lines} == {404}
    assert all(line["path"] == "/no/such/route" for line in lines)


async def test_errors_mode_logs_slow_requests(gateway):
    with captured_log(access="errors", access_slow_ms=0) as log:  # every request is "slow"
        await traffic(gateway, ok=10, errors=2)
    assert len(access_lines(log)) == 12


async def test_sampled_mode_logs_every_error_and_a_share_of_the_rest(gateway):
    with captured_log(access="sampled", access_sample_rate=0.1) as log:
        await traffic(gateway, ok=300, errors=10)
    lines = access_lines(log)
    errors = [line for line in lines if line["status"] == 404]
    ok = [line for line in lines if line["status"] == 200]
    assert len(errors) == 10
    assert 5 <= len(ok) <= 75  # about 30 of 300 (binomial: 5 and 75 are far beyond 5 standard deviations)


async def test_off_logs_no_request_but_other_lines(gateway):
    with captured_log(access="off") as log:
        await traffic(gateway, ok=3, errors=3)
        logging.getLogger("gateway.test").warning("still here")
    assert access_lines(log) == []
    assert "still here" in log.getvalue()


def test_settings_read_the_former_switch(monkeypatch):
    assert Settings().log.access == "full"
    assert Settings(log={"access": False}).log.access == "off"
    assert Settings(log={"access": True}).log.access == "full"
    monkeypatch.setenv("GATEWAY_LOG__ACCESS", "false")
    assert Settings().log.access == "off"
    monkeypatch.setenv("GATEWAY_LOG__ACCESS", "sampled")
    monkeypatch.setenv("GATEWAY_LOG__ACCESS_SAMPLE_RATE", "0.05")
    assert (Settings().log.access, Settings().log.access_sample_rate) == ("sampled", 0.05)
    monkeypatch.setenv("GATEWAY_LOG__ACCESS", "most")
    with pytest.raises(ValueError):
        Settings()
