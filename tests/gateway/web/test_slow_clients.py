"""Slow and oversized clients, produced for real with raw sockets against a running gateway (served as
``gateway serve`` serves it: :func:`gateway.app.serve_runner`), with short limits configured.

- a connection that sends nothing, or nothing after its last response, is closed after ``keepalive_timeout``;
- a request head still incomplete ``header_timeout`` after its first byte is answered 408 and closed (this also
  guards the private aiohttp details :mod:`gateway.web.slowclients` relies on);
- a body dripped slower than ``body_timeout`` allows is answered 408 and closed;
- a ``Content-Length`` above ``max_body_bytes`` is answered 413 at once, on every POST route, without the body.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from gateway.app import LINGERING_TIME

KEEPALIVE = 1.5
HEAD = 1.0
BODY = 1.0


@pytest.fixture
async def slow_gateway(gateway_settings, gateway_factory):
    settings = {**gateway_settings, "keepalive_timeout": KEEPALIVE, "header_timeout": HEAD, "body_timeout": BODY}
    async with gateway_factory(**settings) as running:
        yield running


async def _connect(server: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (fails past ``seconds``)."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), seconds)  # read() returns at EOF: the server closed
    return data, time.monotonic() - started


async def _response_head(reader: asyncio.StreamReader, seconds: float) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), seconds)
    return int(head.split(b" ", 2)[1]), head


async def test_idle_connection_is_closed_after_the_keepalive_timeout(slow_gateway):
    reader, writer = await _connect(slow_gateway)
    try:
        data, elapsed = await _closed_within(reader, KEEPALIVE + 3)
        assert data == b""
        assert elapsed >= KEEPALIVE - 0.3
    finally:
        writer.close()


async def test_kept_alive_connection_is_closed_after_the_keepalive_timeout(slow_gateway):
    reader, writer = await _connect(slow_gateway)
    try:
        writer.write(b"GET /_status HTTP/1.1\r\nHost: gw\r\n\r\n")
        status, head = await _response_head(reader, 5)
        assert status == 200
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        await reader.readexactly(length)
        data, _ = await _closed_within(reader, KEEPALIVE + 3)  # kept alive, then idle: closed
        assert data == b""
    finally:
        writer.close()


async def test_half_sent_head_is_cut_at_the_header_timeout(gateway_settings, gateway_factory):
    # a keep-alive timeout far longer than the test: only the head deadline can close this connection
    settings = {**gateway_settings, "keepalive_timeout": 60, "header_timeout": HEAD}
    async with gateway_factory(**settings) as server:
        reader, writer = await _connect(server)
        try:
            writer.write(b"GET /_status HTTP/1.1\r\nHost: gw\r\n")
            started = time.monotonic()

            async def drip() -> None:  # a header byte every 0.2 s: never idle, never finished
                for _ in range(100):
                    await asyncio.sleep(0.2)
                    writer.write(b"X")
                    await writer.drain()

            dripping = asyncio.create_task(drip())
            try:
                data = await asyncio.wait_for(reader.read(), HEAD + 4)
            finally:
                dripping.cancel()
                await asyncio.gather(dripping, return_exceptions=True)
            assert time.monotonic() - started < HEAD + 2
            assert data.startswith(b"HTTP/1.1 408 ")
            assert b'"status_code":408' in data
        finally:
            writer.close()


async def test_a_complete_head_after_a_slow_start_is_served(gateway_settings, gateway_factory):
    """The head deadline is per request: a head finished in time is served, and the next one gets a fresh one."""
    settings = {**gateway_settings, "keepalive_timeout": 60, "header_timeout": HEAD}
    async with gateway_factory(**settings) as server:
        reader, writer = await _connect(server)
        try:
            for _ in range(2):
                writer.write(b"GET /_status HTTP/1.1\r\n")
                await asyncio.sleep(HEAD * 0.6)
                writer.write(b"Host: gw\r\n\r\n")
                status, head = await _response_head(reader, 5)
                assert status == 200
                length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
                await reader.readexactly(length)
                await asyncio.sleep(HEAD * 0.6)  # idle between requests: no head deadline runs
        finally:
            writer.close()


async def test_body_dripped_too_slowly_is_cut(slow_gateway):
    reader, writer = await _connect(slow_gateway)
    try:
        writer.write(b"POST /resolver/v1/resolve HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n")
        started = time.monotonic()

        async def drip() -> None:
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.2)

        dripping = asyncio.create_task(drip())
        try:
            status, head = await _response_head(reader, BODY + 4)
            assert time.monotonic() - started < BODY + 1
            assert status == 408
            assert b"connection: close" in head.lower()
            rest, _ = await _closed_within(reader, LINGERING_TIME + 2)  # the rest of the body is not waited for
            assert b"not received within" in rest
        finally:
            dripping.cancel()
            await asyncio.gather(dripping, return_exceptions=True)
    finally:
        writer.close()


def _post_paths(app: Any) -> list[str]:
    paths = []
    for route in app.router.routes():
        if route.method != "POST":
            continue
        info = route.resource.get_info()
        path = info.get("path") or re.sub(r"\{[^}]+\}", "x", info["formatter"])
        paths.append(path)
    return sorted(set(paths))


async def test_oversized_content_length_is_refused_at_once_on_every_post_route(slow_gateway):
    paths = _post_paths(slow_gateway.app)
    assert len(paths) >= 15, paths
    limit = 4096  # gateway_settings' max_body_bytes

    async def announce_ten_megabytes(path: str) -> tuple[str, int, bytes]:
        reader, writer = await _connect(slow_gateway)
        try:
            writer.write(f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                         f"Content-Length: 10000000\r\n\r\n".encode() + b'{"ids": [')  # and nothing more
            await writer.drain()
            status, head = await _response_head(reader, 2)  # long before any body timeout
            return path, status, head
        finally:
            writer.close()

    answers = await asyncio.gather(*(announce_ten_megabytes(p) for p in paths))
    wrong = [(path, status) for path, status, _ in answers if status != 413]
    assert not wrong, wrong
    for _, _, head in answers:
        assert b"connection: close" in head.lower()
    assert limit < 10_000_000


async def _chunks(*parts: bytes) -> Any:
    for part in parts:
        yield part


async def test_bodies_within_the_limits_still_work(slow_gateway):
    response = await slow_gateway.client.post("/resolver/v1/resolve", json={"ids": ["dg.NOPE/none"]})
    assert response.status_code < 500
    assert response.status_code not in (408, 413)
    chunked = await slow_gateway.client.post(
        "/resolver/v1/resolve", content=_chunks(b'{"ids": ', b'["dg.NOPE/none"]}'),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == response.status_code
    too_big = await slow_gateway.client.post(
        "/resolver/v1/resolve", content=_chunks(b" " * 3000, b" " * 3000), headers={"Content-Type": "application/json"}
    )
    assert too_big.status_code == 413


async def test_a_crowd_of_idle_and_half_sent_connections_is_released(gateway_settings, gateway_factory):
    """The issue's scenario, scaled down: 150 connections that send nothing or half a head are all closed by the
    limits, and the gateway still serves."""
    # The idle limit counts from a connection's accept, the head deadline from its first byte read: a loop stalled
    # between the two for longer than keepalive - head let the idle limit close a half head first, without its 408
    # (seen once on a loaded clean clone with 0.5 s between them); 1.5 s between them here.
    keepalive = HEAD + 1.5
    settings = {**gateway_settings, "keepalive_timeout": keepalive, "header_timeout": HEAD, "body_timeout": BODY}
    async with gateway_factory(**settings) as slow_gateway:
        connections = []
        for i in range(150):  # each half head sent as its connection opens: on a busy machine opening all 150 may
            reader, writer = await _connect(slow_gateway)  # take longer than the idle limit of the first ones
            if i % 2:
                writer.write(b"GET /_status HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
            connections.append((reader, writer))
        try:
            closed = await asyncio.gather(*(_closed_within(reader, keepalive + 4) for reader, _ in connections))
            assert len(closed) == 150
            assert sum(data.startswith(b"HTTP/1.1 408 ") for data, _ in closed) == 75
        finally:
            for _, writer in connections:
                writer.close()
        assert (await slow_gateway.client.get("/_status")).status_code == 200
