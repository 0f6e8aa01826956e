"""Real processes a test owns: gateways, standalone reference commons and other servers started as an operator would
(``python -m gateway …``, ``nginx``), each logging to a file under the test's directory, killed with the test's
process if it dies (``PR_SET_PDEATHSIG``), waited for until they answer, and stopped (or killed) by name.
Importable as ``processes`` (``tests/support/`` is on ``sys.path``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def clean_environment(**extra: str) -> dict[str, str]:
    """This environment without any ``GATEWAY_*``/``PROMETHEUS_*`` setting of the caller's, no proxy for loopback,
    the checkout importable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Processes:
    """Every process started here is stopped by :meth:`stop_all` (reverse order: SIGTERM, SIGKILL after 10 s)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, Process] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env or clean_environment(), cwd=self.workdir, preexec_fn=_die_with_parent)
        process = Process(name, argv, log, popen)
        self.running[name] = process
        return process

    def gateway(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        """``python -m gateway <args>`` (the CLI an operator runs)."""
        return self.start(name, [sys.executable, "-m", "gateway", *args], env)

    def wait_http(self, name: str, url: str, timeout: float = 60.0) -> None:
        """Until ``url`` answers 2xx; AssertionError with the log's tail if the process exits or time runs out."""
        process = self.running[name]
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if 200 <= answer.status < 300:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if not process.alive():
                raise AssertionError(f"{name} exited {process.popen.returncode} before {url} answered:\n"
                                     f"{process.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: {url} did not answer within {timeout:.0f} s:\n{process.tail()}")
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        """SIGKILL, as in a crash (no draining, no clean-up)."""
        process = self.running.pop(name)
        process.popen.kill()
        process.popen.wait(timeout=10)

    def stop(self, name: str) -> int:
        process = self.running.pop(name)
        if process.alive():
            process.popen.send_signal(signal.SIGTERM)
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        return process.popen.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


__all__ = ["Process", "Processes", "clean_environment"]
