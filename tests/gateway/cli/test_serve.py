"""``gateway serve`` as a user runs it: embedded defaults with no server at all, Redis when configured,
and Ctrl-C stopping it cleanly with what it stored kept."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from gateway.cli.main import settle_heap
from gateway.web.keys import STATE


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> dict:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return json.loads(r.read())
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise AssertionError(f"gateway did not come up: {proc.stderr.read() if proc.stderr else ''}") from None
            time.sleep(0.1)


def test_serve_with_embedded_defaults_then_ctrl_c(tmp_path):
    """What `make run` does: SQLite under ./var, in-process cache and reference commons; no server needed."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_REFCOMMONS__SUBJECTS"] = "20"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    status = _wait_for(base + "/_status", proc)
    assert status["status"] == "ok"
    records = _wait_for(base + "/refcommons/index/index?limit=3", proc)["records"]
    assert len(records) == 3 and all(r["did"].startswith("dg.REF0/") for r in records)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    stderr = proc.stderr.read()
    assert "Traceback" not in stderr, stderr  # the whole of it: a worker's traceback is the only clue
    # embedded defaults: SQLite and the commons' state under ./var of the working directory
    assert (tmp_path / "var" / "gateway.sqlite3").exists()
    assert (tmp_path / "var" / "refcommons" / "dg.REF0" / "commons.sqlite3").exists()
    # JSON logs on stderr, one object per line, access lines with request ids
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "gateway.access" and line.get("request_id") for line in lines)


async def test_gateway_runs_on_redis_store_and_cache(gateway_factory, redis_url, redis_key_prefix, tmp_path):
    async with gateway_factory(
        store={"url": redis_url, "key_prefix": redis_key_prefix + "s:"},
        cache={"url": redis_url, "key_prefix": redis_key_prefix + "c:"},
        refcommons={"enabled": False},
    ) as gw:
        r = await gw.client.get("/_status")
        assert r.status_code == 200 and r.json()["checks"] == {"store": "ok", "cache": "ok", "registry": "empty"}
        state = gw.app[STATE]
        await state.store.put("probe", "k", {"v": 1})
        await state.cache.set("probe", b"1")
        assert type(state.store).__name__ == "RedisStore" and type(state.cache).__name__ == "RedisCache"
        # no in-process commons when disabled: its routes are simply absent
        assert (await gw.client.get("/refcommons/index/_status")).status_code == 404


def test_a_busy_port_is_one_clear_line_not_a_traceback(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        for args in (["serve", "--port", str(port)],
                     ["refcommons", "serve", "--port", str(port), "--subjects", "5"]):
            done = subprocess.run([sys.executable, "-m", "gateway", *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 1, done.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("setting", "expected"), [(50_000, 50_000), (0, None)])
def test_once_started_the_heap_is_frozen_and_young_objects_collected_at_the_configured_pace(setting, expected):
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        made = [object() for _ in range(10)]  # start-up's objects
        settle_heap(setting)
        assert gc.get_freeze_count() >= len(made)
        assert gc.get_threshold() == ((expected or 700), 10, 10)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
