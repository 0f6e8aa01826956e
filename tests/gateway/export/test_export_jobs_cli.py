"""``gateway export`` with export jobs, against real gateways and reference commons: a 202 is followed to the file
(``--job``, and ``auto`` past the inline limit), a failed job is exit 1 with its error and no file, and Ctrl-C
(SIGINT to a real ``gateway export`` process) cancels the job."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from faults import STATE
from jobs_env import OPEN, accessible_total, eventually, members_behind_gate, start_export_gateway
from pfb.reader import PFBReader
from servers import Server

from gateway.cli import search as cli
from gateway.cli.main import main

ASYNC = pytest.mark.asyncio(loop_scope="module")
pytestmark = [
    pytest.mark.filterwarnings("ignore:SelectableGroups dict interface is deprecated"),
    pytest.mark.filterwarnings("ignore:The 'default' argument to fields is deprecated"),
]
FILTER = cli.orjson.dumps(OPEN).decode()


@dataclass
class Env:
    default: Server
    tiny: Server
    state: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("export-cli")
    async with AsyncExitStack() as stack:
        members, proxy = await members_behind_gate(stack, (21, 22, 23), 30)
        gateways = []
        for name, extra in (("default", {}), ("tiny", {"inline_limit": 0})):
            # nothing here tests a lost replica: a job must not be reported lost because the loaded machine stalled
            # a heartbeat past jobs_env's 1 s (a failed job read "the gateway replica running the export stopped")
            gateway = await start_export_gateway(members, store={"url": "sqlite:///:memory:"},
                                                 directory=tmp / name, lost_after=10.0, **extra)
            stack.push_async_callback(gateway.stop)
            gateways.append(gateway)
        try:
            yield Env(gateways[0], gateways[1], proxy.app[STATE])
        finally:
            proxy.app[STATE]["gate"].set()


def subjects(data: bytes) -> int:
    with PFBReader(io.BytesIO(data)) as reader:
        return sum(1 for rec in reader if rec["name"] == "subject")


def test_progress_and_failure_text_of_a_job_document():
    assert cli.job_progress({"progress": {"entities": 5, "expected": 12}}) == (5, 12)
    assert cli.job_progress({"progress": {"entities": 15, "expected": 12}}) == (15, 15)  # expected: a lower bound
    assert cli.job_progress({}) == (0, 0)
    assert cli.job_failure({"status": "failed", "error": "boom"}) == "export job failed: boom"
    assert cli.job_failure({"status": "cancelled", "error": None}) == "export job cancelled"


@ASYNC
@pytest.mark.parametrize(("gateway", "flags"), [("default", ["--job"]), ("tiny", [])])
async def test_a_job_is_polled_then_its_file_downloaded(env, tmp_path, capsys, gateway, flags):
    server = getattr(env, gateway)
    out = tmp_path / "cohort.pfb"
    code = await asyncio.to_thread(main, ["export", "--url", server.base_url, "--format", "pfb", "--out", str(out),
                                          "--filter", FILTER, "--poll", "0.05", *flags])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "export job queued: " + server.base_url + "/search/v1/export/jobs/" in err
    assert subjects(out.read_bytes()) == await accessible_total(server, "subject", OPEN) > 0
    assert [p.name for p in tmp_path.iterdir()] == ["cohort.pfb"]


@ASYNC
async def test_a_failed_job_is_exit_1_with_its_error_and_no_file(env, tmp_path, capsys):
    env.state["fail"] = True
    try:
        code = await asyncio.to_thread(main, ["export", "--url", env.default.base_url, "--format", "pfb", "--out",
                                              str(tmp_path / "x.pfb"), "--filter", FILTER, "--job", "--poll", "0.05"])
    finally:
        env.state["fail"] = False
    assert code == 1
    assert "export job failed: the export failed: member ccc3" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


INTERRUPTIBLE = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                 "from gateway.cli.main import main; sys.exit(main(sys.argv[1:]))")


@ASYNC
async def test_ctrl_c_cancels_the_job(env, tmp_path):
    env.state["gate"].clear()
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # Ctrl-C as a terminal delivers it: SIGINT handled by Python (a run started in the background by a
    # non-interactive shell inherits SIGINT ignored, which a plain `python -m gateway` would keep)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", INTERRUPTIBLE, "export", "--url", env.default.base_url, "--format", "pfb", "--out",
        str(tmp_path / "x.pfb"), "--filter", FILTER, "--job", "--poll", "0.05",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, env=environ, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert line.startswith("export job queued: "), line
        status_url = line.split(": ", 1)[1].strip()
        path = status_url.removeprefix(env.default.base_url)

        async def running() -> bool:
            return (await env.default.client.get(path)).json()["status"] == "running"

        await eventually(running, "the job to run")
        proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
        assert await asyncio.wait_for(proc.wait(), 30) == 130, rest
        assert "the export job was cancelled" in rest and "Traceback" not in rest
        assert (await env.default.client.get(path)).json()["status"] == "cancelled"
        assert list(tmp_path.iterdir()) == []
    finally:
        env.state["gate"].set()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
